"""`plan_backfill`: what a backfill of a sync job would cost, before anyone launches it.

Dagster's backfill dialog runs no user code and has no hook for a request count or an ETA
(research note C): it shows the partition count and the backfill policy only. So the cost is a
job of its own, a dry run over the range a user means to backfill: every sync asset of the job,
every partition, through the real stages up to the plan (lib/sync/run.py dry_run), nothing sent,
nothing written. It reports the requests per partition and in all, and the ETA: the key's quota
for those requests and the runs' own time, one partition a run, one run at a time in the key's
pool. The asset descriptions and the sync jobs' descriptions point here.

A backfill's runs go in order and each acknowledges what it sent, so the next one's lookback finds
those rows unchanged: the plan reads the lookback for the range's first partition only.
"""

from contextlib import closing
from datetime import timedelta
from typing import Any, Literal

import dagster as dg
from pydantic import Field, create_model

from replenit_pipelines.component.failures import config_error
from replenit_pipelines.component.jobs import executor, sync_jobs
from replenit_pipelines.component.monitoring import record_run_worker
from replenit_pipelines.component.quota import DRY_RUN_TAG, plan_estimate
from replenit_pipelines.component.resources import instance_resources, required_keys
from replenit_pipelines.component.site import SyncSite
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.plan import planned_requests
from replenit_pipelines.lib.plan.eta import duration
from replenit_pipelines.lib.stages.delete import DeletesRefused
from replenit_pipelines.lib.stages.report import markdown_table
from replenit_pipelines.lib.sync import SyncRequest, sync_window

# A backfill's run costs more than its work: the daemon's launch, the run process's start-up and the
# step's own, measured on the demo (docs/ui.md "Backfills": 6 hourly runs, 86.9 s for ~11 s of work).
RUN_OVERHEAD_S = 13.0
MAX_PARTITIONS = 24 * 62  # about two months of hours: a plan reads every partition


class PlanBackfillConfig(dg.Config):
    """The backfill to plan: a sync job and its partitions, as the job page's backfill dialog takes them."""

    job: str = Field(description="The sync job to backfill.")
    first_partition: str = Field(description="The first partition of the backfill: 2026-12-01 for the daily job, "
                                             "2026-12-01-00:00 for the hourly one.")
    last_partition: str = Field(description="The last partition of the backfill (included), written like first_partition.")


def plan_config_class(site: SyncSite) -> type[PlanBackfillConfig]:
    """The config with the instance's sync jobs as its closed choice (the launchpad shows an enumeration)."""
    names = tuple(sync_jobs(site))
    fields: dict[str, Any] = {"job": (Literal[names], Field(names[0], description="The sync job to backfill."))}
    return create_model(f"PlanBackfillConfig_{site.names.ident}", __base__=PlanBackfillConfig, **fields)


def plan_backfill_partitions(context: dg.OpExecutionContext, config: PlanBackfillConfig, site: SyncSite,
                             keys_by_name: dict[str, dg.AssetKey]) -> None:
    replenit, warehouse, state = instance_resources(context, site)
    steps = sync_jobs(site)[config.job]
    hourly = any(s.hourly for s in steps)
    record_run_worker(context)
    partitions = site.hourly_partitions if hourly else site.daily_partitions
    try:
        keys = partitions.get_partition_keys_in_range(dg.PartitionKeyRange(config.first_partition, config.last_partition))
    except Exception as exc:  # any error: Dagster's errors for a key that is no partition
        example = "2026-12-01-00:00" if hourly else "2026-12-01"
        raise config_error(f"{config.first_partition!r}..{config.last_partition!r} is not a range of {config.job}'s "
                           f"partitions (write them like {example}): {exc}") from None
    if not keys:
        raise config_error(f"no partition of {config.job} from {config.first_partition} to {config.last_partition}")
    if len(keys) > MAX_PARTITIONS:
        raise config_error(f"{len(keys):,} partitions: plan at most {MAX_PARTITIONS:,} at once (split the range)")
    rows: list[list] = []
    total_requests, local_s = 0, 0.0
    by_asset: dict[str, int] = {}
    store = state.store()
    with replenit.client() as client:
        for step in steps:
            mapping = warehouse.mapping_for(step.entity)
            with closing(state.ledger(client, step.entity)) as ledger:
                for i, key in enumerate(keys):
                    window = partitions.time_window_for_partition_key(key)
                    lookback = 0.0  # the backfill's earlier runs read and acknowledge the rest
                    if i == 0:
                        lookback = mapping.lookback_hours
                        if step.since_day_start:  # the intraday sync reads the day so far
                            day_start = window.start.replace(hour=0, minute=0, second=0, microsecond=0)
                            lookback += (window.start - day_start).total_seconds() / 3600
                    try:
                        result = sync_window(SyncRequest(
                            mapping=mapping, warehouse=warehouse.warehouse(), client=client, store=None, start=window.start,
                            end=window.end, partition_key=key, run_id=context.run_id, customer_priority=replenit.customer_priority,
                            ledger=ledger, lookback=timedelta(hours=lookback), dry_run=True))
                    except DeletesRefused as exc:
                        rows.append([step.name, key, "refused", "", "", str(exc)])
                        continue
                    c = result.counts()
                    requests = planned_requests(c)
                    total_requests += requests
                    local_s += result.duration_s
                    by_asset[step.name] = by_asset.get(step.name, 0) + requests
                    rows.append([step.name, key, requests, c["records_planned"], c["rows_read"],
                                 "HELD BACK by the gate" if result.held_back else ""])
        estimate, _ = plan_estimate(context, site, store, client, total_requests, steps[0].entity, 0.0)
    runs_s = len(keys) * RUN_OVERHEAD_S + local_s
    eta_s = max(estimate.expected_s, runs_s)
    text = (f"Backfill of {config.job}, {plural(len(keys), 'partition')} {keys[0]} to {keys[-1]}: "
            f"{plural(total_requests, 'request')} ({', '.join(f'{n} {k}' for k, n in by_asset.items())}); "
            f"ETA about {duration(eta_s)}: the key's quota needs {duration(estimate.expected_s)} for the requests "
            f"(in the bulk lane, after the schedules' expected load: {plural(estimate.load_requests, 'request')}; "
            f"{duration(estimate.alone_s)} if nothing else ran), the {plural(len(keys), 'run')} about {duration(runs_s)} "
            f"({RUN_OVERHEAD_S:g} s start-up a run, one run at a time). Nothing was sent.")
    context.log.info(text)
    table = markdown_table(["asset", "partition", "requests", "records to send", "rows read", "note"], rows)
    for step in steps:
        context.log_event(dg.AssetObservation(
            asset_key=keys_by_name[step.name], description=f"backfill plan: {text}",
            # No int or float values: Dagster plots every number of an observation (docs/ui.md).
            metadata={"backfill_plan": text, "backfill_plan_requests": f"{by_asset.get(step.name, 0):,} of {total_requests:,}",
                      "backfill_plan_eta": duration(eta_s), "backfill_plan_partitions": dg.MetadataValue.md(table)}))


def build_plan_backfill_job(site: SyncSite, keys_by_name: dict[str, dg.AssetKey]) -> dg.JobDefinition:
    """The instance's plan job; in no pool: a plan sends nothing, it reads the quota and the ledger the
    key's runs write (each read is one snapshot)."""
    config_class = plan_config_class(site)

    def plan_backfill_partitions_op(context: dg.OpExecutionContext, config: config_class) -> None:  # type: ignore[valid-type]
        plan_backfill_partitions(context, config, site, keys_by_name)

    op = dg.op(name=site.names.name("plan_backfill_partitions"), required_resource_keys=required_keys(site),
               description="Dry-run every sync asset of the job over the partitions: requests and ETA, nothing sent.",
               )(plan_backfill_partitions_op)

    @dg.job(name=site.names.name("plan_backfill"), tags={DRY_RUN_TAG: "true"}, executor_def=executor(),
            description="Before a backfill: what it would cost. Give the sync job and its first and last partition; every "
                        "partition is dry-run (read, validated, diffed against what Replenit holds; nothing sent, nothing "
                        "written) and the run reports the requests, per partition and in all, and the ETA.")
    def plan_backfill() -> None:
        op()

    return plan_backfill
