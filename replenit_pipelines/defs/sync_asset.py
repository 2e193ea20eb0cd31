"""The one shape every entity's sync asset has: thin Dagster wiring around lib.sync.sync_window."""

from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import timedelta
from importlib.metadata import version

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.defs.checks import (
    delivery_complete_check,
    not_evaluated,
    quarantine_share_check,
    row_count_check,
    sync_check_specs,
    window_column_check,
)
from replenit_pipelines.defs.monitoring import record_run_worker
from replenit_pipelines.defs.quota import report_plan
from replenit_pipelines.defs.resources import ReplenitResource, StateStoreResource, WarehouseResource
from replenit_pipelines.defs.sources import mapping_version, owners, source_asset_keys, source_key
from replenit_pipelines.defs.translator import quarantine_table, run_metadata
from replenit_pipelines.lib.delivery import BatchProgress, ReplenitStopError
from replenit_pipelines.lib.delivery.config import check_batch_size
from replenit_pipelines.lib.delivery.errors import DeliveryConfigError
from replenit_pipelines.lib.delivery.report import plural, progress_line
from replenit_pipelines.lib.privacy import mask_text
from replenit_pipelines.lib.stages.delete import DeleteGuard, DeletesRefused
from replenit_pipelines.lib.stages.report import merge_warning
from replenit_pipelines.lib.sync import GatePolicy, SyncRequest, sync_window
from replenit_pipelines.lib.validation.gate import gate_mode
from replenit_pipelines.lib.warehouse import EntityMapping, load_mapping

PACKAGE_VERSION = version("replenit-pipelines")


class SyncConfig(dg.Config):
    """The quarantine gate (lib/validation/gate.py; docs/operating.md says when it trips), and what the
    acknowledged-state ledger may skip (docs/operating.md: re-runs, backfills, retries)."""

    full_refresh: bool = False  # send every valid record of the window even if Replenit holds it, and re-acknowledge it
    lookback_hours: float | None = None  # read this far before the partition (late rows); default: the mapping's source, else the entity's
    retry_max_attempts: int | None = None  # failed deliveries of a record before it needs a person; default REPLENIT_RETRY_MAX_ATTEMPTS (5)
    batch_size: int | None = None  # records per request; default the entity's recommended size, capped at the API's hard maximum

    gate: str = "baseline"  # "baseline": abnormal for the entity; "fixed": above max_quarantine_share
    min_quarantined_rows: int = 20  # either mode: fewer quarantined rows never hold a window back
    ceiling_share: float = 0.5  # baseline: above this share, always held back
    baseline_runs: int = 14  # baseline: the entity's last N runs that were not held back
    baseline_factor: float = 3.0  # baseline: held back above factor x baseline ...
    baseline_margin: float = 0.05  # ... and above baseline + margin
    max_quarantine_share: float = 0.05  # fixed: held back above this share

    dry_run: bool = False  # plan only (docs/planning.md): send nothing, write nothing, observe the plan; no materialization

    # Soft deletes (the mapping's source.deleted_column; docs/operating.md "Deleting"): a run that would
    # delete more than this share of the ledger or this many records is refused, nothing sent.
    max_delete_share: float = 0.05
    max_delete_count: int = 1000

    def delete_guard(self) -> DeleteGuard:
        try:
            return DeleteGuard(max_share=self.max_delete_share, max_count=self.max_delete_count)
        except ValueError as exc:
            raise dg.Failure(f"run config: {exc}") from None

    def policy(self) -> GatePolicy:
        try:
            return GatePolicy(mode=gate_mode(self.gate), min_quarantined_rows=self.min_quarantined_rows,
                              ceiling_share=self.ceiling_share, baseline_runs=self.baseline_runs,
                              baseline_factor=self.baseline_factor, baseline_margin=self.baseline_margin,
                              max_quarantine_share=self.max_quarantine_share)
        except ValueError as exc:
            raise dg.Failure(f"run config: {exc}") from None


def delivery_progress_logger(context: dg.AssetExecutionContext, what: str) -> Callable[[BatchProgress], None]:
    """The delivery's progress events as log lines: the client sends one at least every
    ClientConfig.progress_every_s (2 s) while batches are in flight (lib/delivery/report.py), after the first batch
    and at the end; new retries since the last line are a warning with their count."""
    seen = {"retries": 0}

    def log_progress(p: BatchProgress) -> None:
        context.log.info(progress_line(what, p))
        if p.retries > seen["retries"]:
            context.log.warning(
                f"{what}: {p.retries - seen['retries']} requests retried since the last line ({p.retries} in all, "
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
                       stop: ReplenitStopError) -> Iterator[dg.AssetCheckResult]:
    """A run stopped by the API (401/403/404, unreachable) still records the checks it could
    judge before the stop (the quarantine share, the rows read) and leaves delivery_complete
    without a result: Dagster shows it "Execution failed" (not run), not "Failed"."""
    result = getattr(stop, "result", None)
    if result is None:
        return
    yield quarantine_share_check(result, config.policy(), context.run_id, quarantine_table(result))
    yield row_count_check(context, key, result.prepared.rows_read)
    yield window_column_check(mapping, result.rows_without_window_value)
    context.log.warning(not_evaluated(["delivery_complete"], stop))


ROW_COUNT_MEANING = ("`dagster/row_count` is the records of the partition's window that Replenit holds as the warehouse "
                     "says (accepted by the run, or unchanged since an earlier one acknowledged them); `rows_read` is the "
                     "warehouse rows read.")


def build_sync_asset(entity: str, partitions_def: dg.PartitionsDefinition, upstream: list[dg.AssetKey], description: str,
                     freshness_policy: dg.FreshnessPolicy | None = None, name: str | None = None,
                     since_day_start: bool = False, blocks_downstream: bool = True) -> dg.AssetsDefinition:
    """`name`: the asset's name when it is not the entity's (replenit/<name>); `since_day_start`:
    each partition reads from its day's start (UTC) to its end, the intraday customers sync;
    `blocks_downstream=False`: failed checks are recorded but the asset still materializes, so
    what follows it in the run (the hour's orders) is not held up by it."""
    key = dg.AssetKey(["replenit", name or entity])
    mapping = load_mapping(settings.current().mapping_path)[entity]
    check_specs = sync_check_specs(key, mapping, partitions_def)
    if not blocks_downstream:
        check_specs = [spec._replace(blocking=False) for spec in check_specs]

    # A multi_asset of one asset, only so that its checks' outputs are optional (can_subset): a dry
    # run (docs/planning.md) yields neither a materialization nor check evaluations, which would
    # otherwise land on the partition's last real materialization. @asset makes check outputs required.
    @dg.multi_asset(
        name=key.to_python_identifier(),
        specs=[dg.AssetSpec(key, deps=[*source_asset_keys(mapping), *upstream], skippable=True, kinds={"replenit", "polars"},
                            group_name="replenit", description=f"{description} {ROW_COUNT_MEANING}", owners=owners(),
                            code_version=f"{PACKAGE_VERSION}+{mapping_version(mapping)}",  # a mapping change is a new version
                            freshness_policy=freshness_policy)],
        partitions_def=partitions_def,
        pool=settings.current().pool_name,
        check_specs=check_specs,
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    )
    def sync(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        replenit: ReplenitResource,
        warehouse: WarehouseResource,
        state: StateStoreResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult | dg.AssetObservation]:
        record_run_worker(context)  # host and pid, so a killed worker is found and its pool slot freed
        window = context.partition_time_window
        partition = context.partition_key

        progress = delivery_progress_logger(context, f"{entity} {partition}")

        entity_mapping = warehouse.mapping_for(entity)
        max_attempts = config.retry_max_attempts or settings.current().retry_max_attempts
        lookback_hours = entity_mapping.lookback_hours if config.lookback_hours is None else config.lookback_hours
        if since_day_start:  # the day so far, then the usual lookback before it
            lookback_hours += (window.start - window.start.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 3600
        if lookback_hours < 0:
            raise dg.Failure(f"run config: lookback_hours must be 0 or more, not {lookback_hours}")
        if max_attempts < 1:
            raise dg.Failure(f"run config: retry_max_attempts must be at least 1, not {max_attempts}")
        try:
            check_batch_size(config.batch_size, "run config: batch_size")
        except DeliveryConfigError as exc:
            raise dg.Failure(str(exc)) from None
        stopped = CatchStop()
        guard = config.delete_guard()
        with replenit.client({entity: config.batch_size} if config.batch_size else None) as client, \
                closing(state.ledger(client, entity)) as ledger, stopped:
            try:
                result = sync_window(SyncRequest(
                    mapping=entity_mapping, warehouse=warehouse.warehouse(), client=client, store=state.store(),
                    start=window.start, end=window.end, partition_key=partition, run_id=context.run_id,
                    gate=config.policy(), customer_priority=replenit.customer_priority, progress=progress,
                    ledger=ledger, full_refresh=config.full_refresh, retry_max_attempts=max_attempts,
                    lookback=timedelta(hours=lookback_hours), dry_run=config.dry_run, delete_guard=guard,
                ))
            except DeletesRefused as exc:  # nothing was sent
                context.log.error(str(exc))
                if blocks_downstream or config.dry_run:
                    raise dg.Failure(description=str(exc)) from None
                # The intraday sync never holds up the hour's orders: the refusal is its failed check,
                # and the next hour's run (the day so far) meets the same rows until the guard is raised.
                yield dg.MaterializeResult(metadata={"deletes_refused": str(exc)}, check_results=[dg.AssetCheckResult(
                    check_name="delivery_complete", passed=False, description=str(exc),
                    metadata={"max_delete_share": config.max_delete_share, "max_delete_count": config.max_delete_count})])
                return
            if result.dry_run:
                yield from report_plan(context, key, result, client, state.store())
                return
        if stopped.error is not None:  # 401/403/404 or unreachable: record what could be judged, then fail
            yield from stopped_run_checks(context, config, key, entity_mapping, stopped.error)
            raise stopped.error
        counts = result.counts()
        if not result.balanced():
            raise dg.Failure(f"row accounting does not close for {entity} {partition}: {counts}")
        metadata = run_metadata(result, entity_mapping, source_key(entity_mapping))
        share_check = quarantine_share_check(result, config.policy(), context.run_id, metadata["quarantine_sample"])
        delivery_check = delivery_complete_check(result, context.run_id)
        row_check = row_count_check(context, key, result.prepared.rows_read)
        null_check = window_column_check(entity_mapping, result.rows_without_window_value)
        if result.rows_unparsable_window_value:
            context.log.warning(f"{entity}: {result.rows_unparsable_window_value:,} rows have a window value that does not "
                                f"parse and are read by no window, e.g. {mask_text(', '.join(result.unparsable_window_examples))}")
        merged = merge_warning(f"{entity} {partition}", result.prepared.records_merged, result.prepared.rows_merged,
                               result.prepared.merges)
        if merged:
            context.log.warning(merged)
        context.log.info(
            f"{entity} {partition}: read {counts['rows_read']:,} rows; delivered {counts['rows_delivered']:,}, "
            f"quarantined {counts['rows_quarantined']:,}, superseded {counts['rows_superseded']:,}"
            + (f" (of them merged {counts['rows_merged']:,}: {counts['records_merged']:,} customers)" if counts["rows_merged"] else "")
            + f", unchanged {counts['rows_unchanged']:,}, dead-lettered {counts['rows_dead_lettered']:,}, "
            f"held back {counts['rows_held_back']:,}"
            + (f", deleted {counts['rows_deleted']:,}" if counts["rows_deleted"] else "")
            + f"; records new {counts['records_new']:,}, changed "
            f"{counts['records_changed']:,}, unchanged {counts['records_unchanged']:,}, refreshed {counts['records_refreshed']:,}, "
            f"held {counts['records_held']:,}, retried {counts['records_retried']:,} "
            f"({counts['records_retry_accepted']:,} accepted); {plural(int(counts['requests'] + counts['retry_requests']), 'request')}, "
            f"{plural(int(counts['rate_limited_429']), '429')}; ledger {plural(int(counts['ledger_size']), 'record')}"
            + (f", newest acknowledgement {result.ledger_newest_ack.isoformat()}" if result.ledger_newest_ack else "")
            + (" (full refresh)" if config.full_refresh else "")
        )
        if (share_check.passed and delivery_check.passed) or not blocks_downstream:
            yield dg.MaterializeResult(metadata=metadata, check_results=[share_check, delivery_check, row_check, null_check])
            return
        # A failed blocking check: no materialization, so nothing downstream runs on this partition.
        yield from (share_check, delivery_check, row_check, null_check)
        context.log.error(f"{entity} {partition} not materialized: {share_check.description or delivery_check.description}")
        raise dg.Failure(
            description=share_check.description or delivery_check.description,
            metadata={k: v for k, v in metadata.items() if not k.startswith("dagster/")},
        )

    return sync
