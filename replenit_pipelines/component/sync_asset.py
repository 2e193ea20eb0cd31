"""The one shape every entity's sync asset has: thin Dagster wiring around lib.sync.sync_window."""

from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any, Literal

import dagster as dg
from pydantic import Field, create_model

from replenit_pipelines.component.checks import (
    delivery_complete_check,
    not_evaluated,
    quarantine_share_check,
    row_count_check,
    state_query,
    sync_check_specs,
    window_column_check,
)
from replenit_pipelines.component.failures import (
    api_stop,
    check_batch_size_config,
    config_error,
    deletes_refused,
    failure,
    gate_held_back,
    not_delivered,
)
from replenit_pipelines.component.monitoring import record_run_worker
from replenit_pipelines.component.near_real_time import NEAR_REAL_TIME_LOOKBACK_HOURS, near_real_time_window
from replenit_pipelines.component.quota import PLAN_HINT, mark_dry_run, report_plan
from replenit_pipelines.component.resources import instance_resources, required_keys
from replenit_pipelines.component.site import KEY_TAG, SyncSite, SyncStep
from replenit_pipelines.component.sources import lineage_key, mapping_version, source_asset_keys
from replenit_pipelines.component.translator import accounting_text, partition_metadata, quarantine_table, run_metadata
from replenit_pipelines.lib.delivery import BatchProgress, ReplenitStopError
from replenit_pipelines.lib.delivery.quota import Lane
from replenit_pipelines.lib.delivery.report import plural, progress_line
from replenit_pipelines.lib.privacy import mask_text
from replenit_pipelines.lib.stages.delete import DeleteGuard, DeletesRefused
from replenit_pipelines.lib.stages.lookback import closes, partition_counts, window_counts
from replenit_pipelines.lib.stages.report import merge_warning, newer_elsewhere_note, tie_warning
from replenit_pipelines.lib.sync import GatePolicy, SyncRequest, sync_window
from replenit_pipelines.lib.validation.gate import gate_mode
from replenit_pipelines.lib.warehouse import EntityMapping

PACKAGE_VERSION = version("replenit-pipelines")


GateMode = Literal["baseline", "fixed"]  # a closed choice: the launchpad shows an enumeration


class SyncConfig(dg.Config):
    """A sync run: the quarantine gate (docs/operating.md says when it trips), what the
    acknowledged-state ledger may skip, soft deletes, and dry runs (docs/planning.md). Every field
    has a default: a run launched with no config is the scheduled run."""

    full_refresh: bool = Field(False, description="Send every valid record of the window even if Replenit already holds it "
                                                  "as it is, and acknowledge it again (spends quota).")
    lookback_hours: float | None = Field(None, description="Read this many hours before the partition's start, for rows that "
                                                           "arrived late; 0 or more. Default: the mapping's source.lookback_hours, "
                                                           "else the entity's (customers 48, products 24, orders 6).")
    retry_max_attempts: int | None = Field(None, description="Deliveries a record may fail before it waits for a person "
                                                             "(replenit replay); at least 1. Default REPLENIT_RETRY_MAX_ATTEMPTS (5).")
    batch_size: int | None = Field(None, description="Records per request, at least 1. Default: the entity's recommended size; "
                                                     "capped at the API's maximum.")
    gate: GateMode = Field("baseline", description="The quarantine gate: baseline (held back when the quarantined share is "
                                                   "abnormal for this entity, see baseline_*) or fixed (held back above "
                                                   "max_quarantine_share).")
    min_quarantined_rows: int = Field(20, description="Either gate: a window with fewer quarantined rows is never held back.")
    ceiling_share: float = Field(0.5, description="baseline gate: above this quarantined share (0..1) a window is always held back.")
    baseline_runs: int = Field(14, description="baseline gate: the entity's last N runs not held back make its baseline share.")
    baseline_factor: float = Field(3.0, description="baseline gate: held back above this many times the baseline share (and "
                                                    "above the baseline plus baseline_margin).")
    baseline_margin: float = Field(0.05, description="baseline gate: held back above the baseline share plus this margin "
                                                     "(0..1; and above baseline_factor times the baseline).")
    max_quarantine_share: float = Field(0.05, description="fixed gate: held back above this quarantined share (0..1).")
    dry_run: bool = Field(False, description="Plan only: read, validate and diff, then report the requests and ETA the run "
                                             "would need; send nothing, write nothing, no materialization. The plan jobs set it.")
    max_delete_share: float = Field(0.05, description="Soft deletes: refuse the run (nothing sent) when it would delete more "
                                                      "than this share (0..1) of the records Replenit holds (or more than "
                                                      "max_delete_count records).")
    max_delete_count: int = Field(1000, description="Soft deletes: refuse the run (nothing sent) when it would delete more "
                                                    "than this many records (or more than max_delete_share of them).")

    def delete_guard(self) -> DeleteGuard:
        try:
            return DeleteGuard(max_share=self.max_delete_share, max_count=self.max_delete_count)
        except ValueError as exc:
            raise config_error(str(exc)) from None

    def policy(self) -> GatePolicy:
        try:
            return GatePolicy(mode=gate_mode(self.gate), min_quarantined_rows=self.min_quarantined_rows,
                              ceiling_share=self.ceiling_share, baseline_runs=self.baseline_runs,
                              baseline_factor=self.baseline_factor, baseline_margin=self.baseline_margin,
                              max_quarantine_share=self.max_quarantine_share)
        except ValueError as exc:
            raise config_error(str(exc)) from None


def delivery_progress_logger(context: dg.AssetExecutionContext, what: str) -> Callable[[BatchProgress], None]:
    """The delivery's progress events as log lines: the client sends one at least every
    ClientConfig.progress_every_s (2 s) while batches are in flight (lib/delivery/report.py), after the first batch
    and at the end; new retries since the last line are a warning with their count."""
    seen = {"retries": 0}

    def log_progress(p: BatchProgress) -> None:
        context.log.info(progress_line(what, p))
        if p.retries > seen["retries"]:
            context.log.warning(
                f"{what}: {plural(p.retries - seen['retries'], 'request')} retried since the last line ({p.retries} in all, "
                f"{p.server_errors} after a 5xx answer, the rest after a timeout or a dropped connection)"
            )
            seen["retries"] = p.retries

    return log_progress


class CatchStop:
    """Holds a ReplenitStopError raised in its block, so the asset can still yield checks."""

    error: ReplenitStopError | None = None

    def __enter__(self) -> "CatchStop":
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: object) -> bool:
        if isinstance(error, ReplenitStopError):
            self.error = error
            return True
        return False


def stopped_run_checks(context: dg.AssetExecutionContext, config: SyncConfig, key: dg.AssetKey, mapping: EntityMapping,
                       stop: ReplenitStopError, near_real_time: bool = False) -> Iterator[dg.AssetCheckResult]:
    """A run stopped by the API (401/403/404, unreachable) still records the checks it could
    judge before the stop (the quarantine share, the rows read) and leaves delivery_complete
    without a result: Dagster shows it "Execution failed" (not run), not "Failed"."""
    result = getattr(stop, "result", None)
    if result is None:
        return
    own, _ = window_counts(result)
    yield quarantine_share_check(result, config.policy(), context.run_id, quarantine_table(result))
    if not near_real_time:  # the near-real-time assets have no row count check
        yield row_count_check(context, key, int(own["rows_read"]))
    yield window_column_check(mapping, result.rows_without_window_value)
    context.log.warning(not_evaluated(["delivery_complete"], stop))


ROW_COUNT_MEANING = ("`dagster/row_count` is the records of the partition's own window that Replenit holds as the warehouse "
                     "says (accepted by the run, or unchanged since an earlier one acknowledged them); `rows_read` is the "
                     "warehouse rows of the window. Rows read before the window for late rows (the lookback) are counted "
                     "apart: `rows_read_lookback`, of them `rows_delivered_lookback` late rows sent. Every count: `counts`.")


def summary_line(what: str, own: dict, lookback: dict, full_refresh: bool, newest_ack: object) -> str:
    """The run's last log line: the window's account, the lookback's, the cost, the ledger."""
    line = (f"{what}: read {own['rows_read']:,} rows of the window; delivered {own['rows_delivered']:,}, "
            f"quarantined {own['rows_quarantined']:,}, superseded {own['rows_superseded']:,}"
            + (f" (of them merged {own['rows_merged']:,}: {own['records_merged']:,} customers)" if own["rows_merged"] else "")
            + f", unchanged {own['rows_unchanged']:,}, dead-lettered {own['rows_dead_lettered']:,}, held back {own['rows_held_back']:,}"
            + (f", deleted {own['rows_deleted']:,}" if own["rows_deleted"] else ""))
    if lookback["rows_read"]:
        line += (f"; lookback: read {lookback['rows_read']:,} rows, {lookback['rows_delivered']:,} late rows delivered, "
                 f"{lookback['rows_unchanged']:,} unchanged")
    line += (f"; records new {own['records_new']:,}, changed {own['records_changed']:,}, refreshed {own['records_refreshed']:,}, "
             f"held {own['records_held']:,}, retried {own['records_retried']:,} ({own['records_retry_accepted']:,} accepted); "
             f"{plural(int(own['requests'] + own['retry_requests'] + own['delete_requests']), 'request')}, "
             f"{plural(int(own['rate_limited_429']), 'answer', 'answers')} 429; ledger {plural(int(own['ledger_size']), 'record')}")
    if newest_ack is not None:
        line += f", newest acknowledgement {newest_ack.isoformat()}"  # type: ignore[attr-defined]
    if (newer := newer_elsewhere_note(own)) is not None:
        line += f"; {newer}"
    return line + (" (full refresh)" if full_refresh else "")


DESCRIPTIONS = {
    "customers": "Customers updated in the day, validated and upserted to Replenit (POST /customers).",
    "customers_intraday": "Customers updated since the day's start (UTC), up to the hour's end, sent before that hour's orders; "
                          "the ledger skips those already acknowledged.",
    "products": "Products (with their variants) updated in the hour, upserted to Replenit (POST /products).",
    "orders": "Orders (with their lines) updated in the hour, upserted to Replenit (POST /orders) after products.",
    "customers_near_real_time": "Near-real-time: customers updated since the day's start (UTC) up to the current hour's end, "
                                "sent before the near-real-time orders that refer to them; the ledger skips those already "
                                "acknowledged. Launched by the near-real-time sensor, not partitioned.",
    "orders_near_real_time": "Near-real-time: orders (with their lines) updated in the current hour so far (and the hour "
                             "before, for late rows), upserted within minutes of landing; launched by the near-real-time "
                             "sensor when they change. Not partitioned: the hourly partition later finds them unchanged.",
}


def sibling_keys(step: SyncStep, keys: dict[str, dg.AssetKey]) -> list[dg.AssetKey]:
    """The instance's syncs a step comes after: the orders of a window refer to that window's
    customers (its day, and the day so far) and products (its hour)."""
    if step.entity != "orders":
        return []
    if step.near_real_time:
        return [keys[n] for n in ("customers_near_real_time",) if n in keys]
    return [keys[n] for n in ("customers", "customers_intraday", "products") if n in keys]


def upstream_condition() -> dg.AutomationCondition:
    """After upstream (the component's `automation: after_upstream`): Dagster's eager condition. A
    sync's latest partition is requested when one of the assets it reads updates (the user's
    upstream assets, or the observed warehouse tables) or when the partition is new, never while one
    of them is missing or running; so the hour's orders wait for that hour's customers and products
    syncs. Only the latest partition (research note B): earlier rows that arrive late are read by
    its lookback."""
    return dg.AutomationCondition.eager()


def default_sync_spec(site: SyncSite, step: SyncStep, keys: dict[str, dg.AssetKey]) -> dg.AssetSpec:
    """The sync asset's spec as the component makes it (ReplenitSyncComponent.get_asset_spec)."""
    mapping = site.mappings[step.entity]
    freshness = site.freshness.get(step.entity) if not (step.since_day_start or step.near_real_time) else None
    hint = "" if step.near_real_time else f"\n\n{PLAN_HINT.format(plan=site.names.name('plan_backfill'))}"
    return dg.AssetSpec(
        site.names.asset_key(step.name),
        deps=[*source_asset_keys(site, mapping), *sibling_keys(step, keys)],
        skippable=True, kinds={"replenit", "polars"}, group_name=site.group,
        description=f"{DESCRIPTIONS[step.name]}\n\n{ROW_COUNT_MEANING}{hint}",
        owners=list(site.owners),
        code_version=f"{PACKAGE_VERSION}+{mapping_version(mapping)}",  # a mapping change is a new version
        freshness_policy=freshness.policy() if freshness is not None else None,
        automation_condition=upstream_condition() if site.upstream_on and not step.near_real_time else None,
    )


def sync_config_class(site: SyncSite, step: SyncStep) -> type[SyncConfig]:
    """SyncConfig with the instance's defaults (gate, batch size, lookback): the launchpad shows them."""
    gate = site.gate
    defaults: dict[str, Any] = {
        "gate": gate.mode, "min_quarantined_rows": gate.min_quarantined_rows, "ceiling_share": gate.ceiling_share,
        "baseline_runs": gate.baseline_runs, "baseline_factor": gate.baseline_factor, "baseline_margin": gate.baseline_margin,
        "max_quarantine_share": gate.max_quarantine_share,
        "batch_size": site.batch_sizes.get(step.entity), "lookback_hours": site.lookback_hours.get(step.entity),
    }
    changed = {name: value for name, value in defaults.items() if SyncConfig.model_fields[name].default != value}
    if not changed:
        return SyncConfig
    fields: dict[str, Any] = {}
    for name, value in changed.items():
        info = SyncConfig.model_fields[name]
        fields[name] = (info.annotation, Field(value, description=info.description))
    return create_model(f"SyncConfig_{site.names.ident}_{step.name}", __base__=SyncConfig, **fields)


def build_sync_asset(site: SyncSite, step: SyncStep, spec: dg.AssetSpec) -> dg.AssetsDefinition:
    """The sync asset of `step` for `spec` (the component's, perhaps changed by a subclass).
    `step.since_day_start`: each partition reads from its day's start (UTC) to its end, the intraday
    customers sync, whose failed checks are recorded but which still materializes, so what follows it
    in the run (the hour's orders) is not held up by it."""
    entity = step.entity
    # A bad customer must not hold up the hour's orders: the daily run's checks gate customers.
    blocks_downstream = not step.since_day_start
    key = spec.key
    partitions_def = site.partitions(step)
    check_specs = sync_check_specs(key, site.mappings[entity], partitions_def)
    if step.near_real_time:  # an hour so far has no typical size: the hourly partition's check judges the hour
        check_specs = [c for c in check_specs if c.name != "row_count_in_range"]
    if not blocks_downstream:
        check_specs = [spec_._replace(blocking=False) for spec_ in check_specs]
    config_class = sync_config_class(site, step)
    source = lineage_key(site, site.mappings[entity])

    # A multi_asset of one asset, only so that its checks' outputs are optional (can_subset): a dry
    # run (docs/planning.md) yields neither a materialization nor check evaluations, which would
    # otherwise land on the partition's last real materialization. @asset makes check outputs required.
    # No backfill policy by default: with any policy Dagster launches an asset backfill's runs as
    # partition ranges without a `dagster/partition` tag (research note C); without one, one run a
    # partition. The component's `backfills: single_run` sets one (`outcome`: one read, one diff,
    # each partition its own counts and checks).
    # No pool: a backfill's runs and the schedules' runs of one key no longer take turns; the quota's
    # lanes order their requests (fresh first), and dagster.yaml's run limits keep one run per
    # partition and one run per backfill at a time. The `replenit/key` tag says which key it spends.
    spec = spec.merge_attributes(tags={KEY_TAG: site.pool})

    @dg.multi_asset(
        name=key.to_python_identifier(),
        specs=[spec],
        partitions_def=partitions_def,
        check_specs=check_specs,
        can_subset=True,
        required_resource_keys=required_keys(site),
        backfill_policy=None if step.near_real_time else site.backfills.policy(),
    )
    def sync(context: dg.AssetExecutionContext, config: config_class) -> Iterator[Any]:  # type: ignore[valid-type]
        yield from run_sync(context, config, site, step, key, source)

    return sync


BACKFILL_TAG = "dagster/backfill"


def sync_lane(context: dg.AssetExecutionContext, config: SyncConfig) -> Lane:
    """A partition's sync is fresh work (the schedules, an asset page, automation), unless it is one run
    of a backfill, a run over a range of partitions or a full refresh: bulk work, which takes what the key's fresh syncs leave."""
    if BACKFILL_TAG in context.run.tags or config.full_refresh or range_keys(context):
        return "bulk"
    return "fresh"


def range_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The partitions of a run over a range of them (`backfills: single_run`), in order; [] for any
    other run (one partition, or none)."""
    if not context.has_partition_key_range or context.has_partition_key:
        return []
    keys = list(context.partition_keys)
    return keys if len(keys) > 1 else []


def run_window(context: dg.AssetExecutionContext, step: SyncStep) -> tuple[dg.TimeWindow, str]:
    """The window a run reads (its partition's, or a range's union; a near-real-time run's hour) and
    its label."""
    if step.near_real_time:
        return near_real_time_window(context.run.tags)
    keys = range_keys(context)
    if keys:
        return context.partition_time_window, f"{keys[0]}...{keys[-1]}"
    return context.partition_time_window, context.partition_key


def partition_starts(context: dg.AssetExecutionContext, keys: list[str]) -> tuple[datetime, ...]:
    """Each partition's start, for a run over a range (the counts split at them); () for no range."""
    if not keys:
        return ()
    partitions_def = context.assets_def.partitions_def
    assert isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
    return tuple(partitions_def.time_window_for_partition_key(k).start for k in keys)


def run_lookback_hours(config: SyncConfig, step: SyncStep, mapping: EntityMapping, start: datetime) -> float:
    """Hours read before the window: the run config's, else the mapping's (the entity's default); a
    near-real-time run's, the hour before. A customers sync before the hour's orders reads the day so
    far too (for a near-real-time run, the day of the hour before)."""
    lookback_hours = mapping.lookback_hours if config.lookback_hours is None else config.lookback_hours
    if step.near_real_time and config.lookback_hours is None:
        lookback_hours = NEAR_REAL_TIME_LOOKBACK_HOURS  # the hour before, for its late rows; older ones: the hourly lookback
    if step.since_day_start:  # the day so far, then the usual lookback before it
        day_of = start - timedelta(hours=lookback_hours) if step.near_real_time else start
        lookback_hours += (day_of - day_of.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 3600
    return lookback_hours


def run_sync(context: dg.AssetExecutionContext, config: SyncConfig, site: SyncSite, step: SyncStep, key: dg.AssetKey,
             source: dg.AssetKey) -> Iterator[Any]:
    """One partition's sync of `step` (asset `key`, its columns read from `source`): lib.sync.sync_window,
    its checks and metadata."""
    replenit, warehouse, state = instance_resources(context, site)
    entity, since_day_start = step.entity, step.since_day_start
    blocks_downstream = not since_day_start
    record_run_worker(context)  # host and pid, so a killed worker is found and its pool slot freed
    window, partition = run_window(context, step)
    keys = range_keys(context)
    what = f"{entity} {partition}"
    if config.dry_run:
        mark_dry_run(context)
    progress = delivery_progress_logger(context, what)

    entity_mapping = warehouse.mapping_for(entity)
    max_attempts = config.retry_max_attempts or site.retry_max_attempts
    lookback_hours = run_lookback_hours(config, step, entity_mapping, window.start)
    if lookback_hours < 0:
        raise config_error(f"lookback_hours must be 0 or more, not {lookback_hours}")
    if max_attempts < 1:
        raise config_error(f"retry_max_attempts must be at least 1, not {max_attempts}")
    check_batch_size_config(config.batch_size)
    stopped = CatchStop()
    guard = config.delete_guard()
    lane = sync_lane(context, config)
    if lane == "bulk":
        context.log.info(f"{what}: quota lane bulk (a backfill or a full refresh): fresh syncs of the key go first")
    with replenit.client({entity: config.batch_size} if config.batch_size else None, lane) as client, \
            closing(state.ledger(client, entity)) as ledger, stopped:
        try:
            result = sync_window(SyncRequest(
                mapping=entity_mapping, warehouse=warehouse.warehouse(), client=client, store=state.store(),
                start=window.start, end=window.end, partition_key=partition, run_id=context.run_id,
                gate=config.policy(), customer_priority=replenit.customer_priority, progress=progress,
                ledger=ledger, full_refresh=config.full_refresh, retry_max_attempts=max_attempts,
                lookback=timedelta(hours=lookback_hours), dry_run=config.dry_run, delete_guard=guard,
                partition_starts=partition_starts(context, keys),
            ))
        except DeletesRefused as exc:  # nothing was sent
            if blocks_downstream or config.dry_run:
                context.log.error(f"{what} refused: {mask_text(str(exc))}")
                raise deletes_refused(exc, partition) from None
            context.log.error(mask_text(str(exc)))
            # The intraday sync never holds up the hour's orders: the refusal is its failed check,
            # and the next hour's run (the day so far) meets the same rows until the guard is raised.
            yield dg.MaterializeResult(metadata={"deletes_refused": str(exc)}, check_results=[dg.AssetCheckResult(
                check_name="delivery_complete", passed=False, description=str(exc),
                metadata={"max_delete_share": config.max_delete_share, "max_delete_count": config.max_delete_count})])
            return
        if result.dry_run:
            yield from report_plan(context, site, key, result, client, state.store())
            return
    if stopped.error is not None:  # 401/403/404 or unreachable: record what could be judged, then fail
        yield from stopped_run_checks(context, config, key, entity_mapping, stopped.error, step.near_real_time)
        stop_result = getattr(stopped.error, "result", None)
        counts = window_counts(stop_result)[0] if stop_result is not None else None
        context.log.error(f"{what} stopped: {mask_text(str(stopped.error))}")
        raise api_stop(what, stopped.error, counts, entity, partition) from None
    own, lookback = window_counts(result)
    if not result.balanced() or not closes(own) or not closes(lookback):
        raise failure(f"row accounting does not close for {what}: {accounting_text(own)} (read {own['rows_read']:,}); "
                      f"lookback: {accounting_text(lookback)}. This is a bug: please report it with the run id.",
                      "accounting", partition)
    metadata = run_metadata(result, entity_mapping, source)
    share_check = quarantine_share_check(result, config.policy(), context.run_id, metadata["quarantine_sample"])
    delivery_check = delivery_complete_check(result, context.run_id)
    row_check = None if step.near_real_time or keys else row_count_check(context, key, int(own["rows_read"]))
    null_check = window_column_check(entity_mapping, result.rows_without_window_value)
    if result.rows_unparsable_window_value:
        context.log.warning(f"{entity}: {result.rows_unparsable_window_value:,} rows have a window value that does not "
                            f"parse and are read by no window, e.g. {mask_text(', '.join(result.unparsable_window_examples))}")
    merged = merge_warning(what, result.prepared.records_merged, result.prepared.rows_merged, result.prepared.merges)
    if merged:
        context.log.warning(merged)
    tied = tie_warning(what, result.prepared.rows_tied, result.prepared.tied_examples)
    if tied:
        context.log.warning(tied)
    context.log.info(summary_line(what, own, lookback, config.full_refresh, result.ledger_newest_ack))
    checks = [c for c in (share_check, delivery_check, row_check, null_check) if c is not None]
    materialize = (share_check.passed and delivery_check.passed) or not blocks_downstream
    yield from outcome(context, key, keys, result, lookback, checks, blocks_downstream, materialize, metadata)
    if materialize:
        return
    if not share_check.passed:
        assert result.gate is not None
        raise gate_held_back(what, result.gate.reason, int(own["rows_held_back"]) + int(lookback["rows_held_back"]),
                             state_query("quarantine", context.run_id), partition)
    raise not_delivered(what, delivery_check.description or "not every record was delivered", partition)


def outcome(context: dg.AssetExecutionContext, key: dg.AssetKey, keys: list[str], result: Any, lookback: dict,
            run_checks: list[dg.AssetCheckResult], blocks_downstream: bool, materialize: bool,
            metadata: dict) -> Iterator[Any]:
    """A run's materialization with its checks, or only its checks when a blocking one failed (no
    materialization: nothing downstream runs on the partition). A run over a range of partitions:
    each partition's own counts as its materialization's metadata (what a run of that partition
    alone reports: lib/stages/lookback.py partition_counts), the run's
    checks on every partition (one gate, one delivery: they judge the range), the row count check
    on each partition's own rows read, and, unless a blocking check failed, the materialization."""
    if not keys:
        if materialize:
            yield dg.MaterializeResult(metadata=metadata, check_results=run_checks)
        else:
            yield from run_checks
        return
    parts = partition_counts(result, len(keys))
    for index, (partition_key, counts) in enumerate(zip(keys, parts, strict=True)):
        if not closes(counts):
            raise failure(f"row accounting does not close for {key.to_user_string()} {partition_key} of the range "
                          f"{keys[0]}...{keys[-1]}: {accounting_text(counts)}. This is a bug: please report it with the run id.",
                          "accounting", partition_key)
        if materialize:  # (a held run records no materialization: its counts are in the checks and the log)
            context.add_asset_metadata(partition_metadata(counts, lookback if index == 0 else None, keys),
                                       asset_key=key, partition_key=partition_key)
        row_check = row_count_check(context, key, int(counts["rows_read"]))
        for check in (*run_checks, row_check):
            yield dg.AssetCheckEvaluation(
                asset_key=key, check_name=str(check.check_name), passed=check.passed, metadata=check.metadata,
                severity=check.severity, description=check.description, partition=partition_key,
                blocking=blocks_downstream and check.check_name in ("quarantine_share", "delivery_complete"))
    if materialize:
        # The run's own numbers (the range's window, requests, schema): shared by every partition;
        # the per-partition counts above take precedence over the plotted ones.
        yield dg.MaterializeResult(asset_key=key, metadata={**metadata, "range": f"{keys[0]}...{keys[-1]}"})
