"""Plans and the quota view in Dagster (issue 13, docs/planning.md): the dry run's report of a
sync asset (an AssetObservation, no materialization), and the `replenit/quota` asset, whose
materializations are the key's quota view over time. Thin wiring over lib/plan/."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from replenit_pipelines.component.jobs import site_schedules
from replenit_pipelines.component.resources import instance_resources, required_keys
from replenit_pipelines.component.site import KEY_TAG, SyncSite
from replenit_pipelines.lib.contract.api import parse_limits
from replenit_pipelines.lib.delivery import ReplenitClient
from replenit_pipelines.lib.delivery.quota import ledger_name
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.plan import (
    Eta,
    Schedule,
    current_quota_view,
    eta,
    expected_load,
    plan_summary,
    plan_text,
    planned_requests,
    quota_snapshot,
    quota_text,
    since,
)
from replenit_pipelines.lib.stages.report import merge_warning
from replenit_pipelines.lib.sync import StateStore, SyncResult

SYNC_ASSET_NAMES = ("customers", "customers_intraday", "products", "orders")


def key_schedules(repository: dg.RepositoryDefinition, key: str | None = None) -> list[Schedule]:
    """The code location's sync schedules as lib/plan sees them: cron, timezone, and the syncs each
    tick runs; with `key` (replenit-<label>), only the syncs of that key (every tenant on it shares
    its quota), told by their `replenit/key` tag."""
    out: list[Schedule] = []
    graph = repository.asset_graph
    for s in repository.schedule_defs:
        crons = [s.cron_schedule] if isinstance(s.cron_schedule, str) else list(s.cron_schedule)
        job = repository.get_job(s.job_name)
        entities = tuple(k.path[-1] for k in job.asset_layer.selected_asset_keys
                         if k.path[-1] in SYNC_ASSET_NAMES and graph.has(k)
                         and (key is None or graph.get(k).tags.get(KEY_TAG) == key))
        if entities:
            out += [Schedule(s.name, c, entities, s.execution_timezone or "UTC") for c in crons]
    return out


def schedules_of(context: dg.AssetExecutionContext | dg.OpExecutionContext, site: SyncSite) -> list[Schedule]:
    """The schedules of the key of `site` in the repository running `context`; a job executed
    outside one (in process, in tests) counts the instance's own schedules."""
    try:
        repository = context.repository_def
    except Exception:  # any error: Dagster's CheckError "No repository definition was set on the step context"
        return site_schedules(site)
    return key_schedules(repository, site.pool)


DRY_RUN_TAG = "replenit/dry_run"  # on every dry run: the runs list tells plans from real runs
PLAN_HINT = ("Before a backfill, see what it costs: launch the job `{plan}` with the sync job and its first and last "
             "partition; it reports the requests and the ETA on the key's quota, and sends nothing (docs/ui.md).")


def mark_dry_run(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> None:
    """Tag a dry run as such (also one launched with dry_run: true in a sync job's config)."""
    context.instance.add_run_tags(context.run_id, {DRY_RUN_TAG: "true"})


def plan_estimate(context: dg.AssetExecutionContext | dg.OpExecutionContext, site: SyncSite, store: StateStore,
                  client: ReplenitClient, requests: int, entity: str, lead_s: float) -> tuple[Eta, dict]:
    """The ETA of `requests` on the key's quota now, alone and with the schedules' expected load, in the
    client's lane (bulk work's counts the fresh lane's expected load: it goes first)."""
    load = expected_load(schedules_of(context, site), store.requests_since(since()))
    snapshot = quota_snapshot(client.quota)
    return (eta(requests, snapshot, expected_load=load, entity=entity, lead_s=lead_s, lane=client.config.lane),
            snapshot.as_dict())


def plan_observation(key: dg.AssetKey, summary: dict, text: str, quota_now: dict, partition: str | None = None,
                     description: str = "") -> dg.AssetObservation:
    """A plan on the asset's timeline: its text and its numbers as JSON. No int or float values:
    Dagster plots every number of an observation beside the materializations' (docs/ui.md)."""
    eta_text = summary.get("eta_text") or ""
    # Every key starts with plan_: Dagster's partition page lists the latest observation's metadata
    # beside the materialization's, and a plan's numbers must not read as the run's.
    return dg.AssetObservation(asset_key=key, partition=partition, description=description, metadata={
        "plan_text": dg.MetadataValue.md(f"```\n{text}\n```"),
        "plan_requests": f"{summary['requests_needed']:,} (dry run: nothing sent)",
        "plan_eta": eta_text,
        "plan": dg.MetadataValue.json(summary),
        "plan_quota_now": dg.MetadataValue.json(quota_now),
    })


def report_plan(context: dg.AssetExecutionContext, site: SyncSite, key: dg.AssetKey, result: SyncResult, client: ReplenitClient,
                store: StateStore) -> Iterator[dg.AssetObservation]:
    """A dry run's plan: logged, and observed on the asset's partition (never materialized)."""
    requests = planned_requests(result.counts())
    estimate, quota_now = plan_estimate(context, site, store, client, requests, result.entity, result.duration_s)
    summary = plan_summary(result, estimate)
    context.log.info(plan_text(summary))
    merged = merge_warning(f"{result.entity} {result.partition_key} (dry run)", result.prepared.records_merged,
                           result.prepared.rows_merged, result.prepared.merges)
    if merged:
        context.log.warning(merged)
    if estimate.late:
        context.log.warning(f"{result.entity} {result.partition_key}: {estimate.text()}")
    # On the partition; a near-real-time asset has none (its window is the current hour, in the text).
    yield plan_observation(key, summary, plan_text(summary), quota_now, result.partition_key if context.has_partition_key else None,
                           f"dry run: {plural(requests, 'request')} planned, nothing sent")


def build_quota_asset(site: SyncSite) -> dg.AssetsDefinition:
    key = site.names.asset_key("quota")

    @dg.asset(
        key=key,
        group_name=site.group,
        kinds={"replenit"},
        required_resource_keys=required_keys(site, "replenit", "state"),
        description="The key's quota now (spent and remaining per window), the requests each entity used over the last "
                    "24 hours, and the hours in which demand exceeded the hour's limit (recorded and scheduled). "
                    "Sends nothing: materialize it to look (docs/planning.md).",
    )
    def replenit_quota(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        replenit, _, state = instance_resources(context, site)
        quota_dir = Path(replenit.quota_dir or site.quota_dir)
        names = {ledger_name(replenit.base_url, replenit.api_key).removesuffix(".json"): site.key_label}
        try:
            view = current_quota_view(quota_dir, parse_limits(replenit.limits), Path(state.path),
                                      schedules_of(context, site), names)
        except ValueError as exc:
            raise dg.Failure(description=str(exc)) from None
        text = quota_text(view)
        context.log.info(text)
        over = view["hours_over_limit_next_24h"]
        return dg.MaterializeResult(metadata={
            "view": dg.MetadataValue.json(view),
            "text": dg.MetadataValue.md(f"```\n{text}\n```"),
            "requests_last_24h": sum(e["requests"] for e in view["requests_last_24h"]),
            "scheduled_hours_over_limit": len(over),
        })

    return replenit_quota
