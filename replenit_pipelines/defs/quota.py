"""Plans and the quota view in Dagster (issue 13, docs/planning.md): the dry run's report of a
sync asset (an AssetObservation, no materialization), and the `replenit/quota` asset, whose
materializations are the key's quota view over time. Thin wiring over lib/plan/."""

from collections.abc import Iterator

import dagster as dg

from replenit_pipelines.defs.resources import ReplenitResource, StateStoreResource
from replenit_pipelines.lib.contract.api import parse_limits
from replenit_pipelines.lib.delivery import ReplenitClient
from replenit_pipelines.lib.delivery.quota import ledger_name
from replenit_pipelines.lib.plan import (
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


def key_schedules(repository: dg.RepositoryDefinition) -> list[Schedule]:
    """The code location's schedules as lib/plan sees them: cron, timezone, and the entities each
    tick syncs (every sync shares the key of this code location)."""
    out: list[Schedule] = []
    for s in repository.schedule_defs:
        crons = [s.cron_schedule] if isinstance(s.cron_schedule, str) else list(s.cron_schedule)
        job = repository.get_job(s.job_name)
        entities = tuple(k.path[-1] for k in job.asset_layer.selected_asset_keys if k.path[0] == "replenit" and len(k.path) == 2)
        if entities:
            out += [Schedule(s.name, c, entities, s.execution_timezone or "UTC") for c in crons]
    return out


def schedules_of(context: dg.AssetExecutionContext) -> list[Schedule]:
    """The schedules of the repository running `context`; a job executed outside one (in process,
    in tests) reads the code location's definitions instead."""
    try:
        repository = context.repository_def
    except Exception:  # any error: Dagster's CheckError "No repository definition was set on the step context"
        from replenit_pipelines.definitions import defs

        repository = defs().get_repository_def()
    return key_schedules(repository)


def report_plan(context: dg.AssetExecutionContext, key: dg.AssetKey, result: SyncResult, client: ReplenitClient,
                store: StateStore) -> Iterator[dg.AssetObservation]:
    """A dry run's plan: logged, and observed on the asset's partition (never materialized)."""
    load = expected_load(schedules_of(context), store.requests_since(since()))
    snapshot = quota_snapshot(client.quota)
    requests = planned_requests(result.counts())
    estimate = eta(requests, snapshot, expected_load=load, entity=result.entity, lead_s=result.duration_s)
    summary = plan_summary(result, estimate)
    context.log.info(plan_text(summary))
    merged = merge_warning(f"{result.entity} {result.partition_key} (dry run)", result.prepared.records_merged,
                           result.prepared.rows_merged, result.prepared.merges)
    if merged:
        context.log.warning(merged)
    if estimate.late:
        context.log.warning(f"{result.entity} {result.partition_key}: {estimate.text()}")
    metadata: dict = {k: v for k, v in summary.items() if isinstance(v, (bool, int, float, str))}
    metadata |= {"eta_s": round(estimate.alone_s, 3), "eta_late": estimate.late, "plan": dg.MetadataValue.json(summary),
                 "plan_text": dg.MetadataValue.md(f"```\n{plan_text(summary)}\n```"), "quota_now": dg.MetadataValue.json(snapshot.as_dict())}
    if estimate.with_load_s is not None:
        metadata["eta_with_load_s"] = round(estimate.with_load_s, 3)
    yield dg.AssetObservation(asset_key=key, partition=result.partition_key, metadata=metadata,
                              description=f"dry run: {requests} requests planned, nothing sent")


@dg.asset(
    key=dg.AssetKey(["replenit", "quota"]),
    group_name="replenit",
    kinds={"replenit"},
    description="The key's quota now (spent and remaining per window), the requests each entity used over the last "
                "24 hours, and the hours in which demand exceeded the hour's limit (recorded and scheduled). "
                "Sends nothing: materialize it to look (docs/planning.md).",
)
def replenit_quota(context: dg.AssetExecutionContext, replenit: ReplenitResource, state: StateStoreResource) -> dg.MaterializeResult:
    from pathlib import Path

    from replenit_pipelines.defs import settings

    quota_dir = Path(replenit.quota_dir or settings.current().quota_dir)
    names = {ledger_name(replenit.base_url, replenit.api_key).removesuffix(".json"): settings.current().key_label}
    try:
        view = current_quota_view(quota_dir, parse_limits(replenit.limits), Path(state.path),
                                  schedules_of(context), names)
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
