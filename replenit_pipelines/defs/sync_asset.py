"""The one shape every entity's sync asset has: thin Dagster wiring around lib.sync.sync_window."""

import time
from datetime import timedelta
from contextlib import closing

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.defs.checks import (
    delivery_complete_check,
    quarantine_share_check,
    row_count_check,
    sync_check_specs,
    window_column_check,
)
from replenit_pipelines.defs.monitoring import record_run_worker
from replenit_pipelines.defs.resources import ReplenitResource, StateStoreResource, WarehouseResource
from replenit_pipelines.defs.sources import source_key
from replenit_pipelines.defs.translator import run_metadata
from replenit_pipelines.lib.delivery import BatchProgress
from replenit_pipelines.lib.sync import GatePolicy, SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import load_mapping

PROGRESS_EVERY_S = 2.0


class SyncConfig(dg.Config):
    """The quarantine gate (lib/sync/gate.py; docs/operating.md says when it trips), and what the
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

    def policy(self) -> GatePolicy:
        try:
            return GatePolicy(mode=self.gate, min_quarantined_rows=self.min_quarantined_rows,  # type: ignore[arg-type]
                              ceiling_share=self.ceiling_share, baseline_runs=self.baseline_runs,
                              baseline_factor=self.baseline_factor, baseline_margin=self.baseline_margin,
                              max_quarantine_share=self.max_quarantine_share)
        except ValueError as exc:
            raise dg.Failure(f"run config: {exc}") from None


def build_sync_asset(entity: str, partitions_def: dg.PartitionsDefinition, upstream: list[dg.AssetKey], description: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(["replenit", entity])
    mapping = load_mapping(settings.current().mapping_path)[entity]
    check_specs = sync_check_specs(key, mapping)

    @dg.asset(
        key=key,
        deps=[source_key(mapping), *upstream],
        partitions_def=partitions_def,
        pool=settings.current().pool_name,
        check_specs=check_specs,
        output_required=False,
        kinds={"replenit", "polars"},
        group_name="replenit",
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
        description=description,
    )
    def sync(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        replenit: ReplenitResource,
        warehouse: WarehouseResource,
        state: StateStoreResource,
    ):
        record_run_worker(context)  # host and pid, so a killed worker is found and its pool slot freed
        window = context.partition_time_window
        partition = context.partition_key

        last_line = [0.0]

        def progress(p: BatchProgress) -> None:
            # A line per batch, at most one every PROGRESS_EVERY_S (first and last always): each line is
            # an event in Dagster's log, and a fast sync would otherwise spend more on logging than on work.
            now = time.monotonic()
            if p.batches_done not in (1, p.batches_total) and now - last_line[0] < PROGRESS_EVERY_S:
                return
            last_line[0] = now
            context.log.info(
                f"{entity} {partition}: {p.records_done:,}/{p.records_total:,} records sent "
                f"({p.records_total - p.records_done:,} left, batch {p.batches_done}/{p.batches_total}); "
                f"accepted {p.accepted:,}, rejected {p.rejected:,}, failed {p.failed:,}; ETA {p.eta_s:.0f}s by quota"
            )

        entity_mapping = warehouse.mapping_for(entity)
        max_attempts = config.retry_max_attempts or settings.current().retry_max_attempts
        lookback_hours = entity_mapping.lookback_hours if config.lookback_hours is None else config.lookback_hours
        if lookback_hours < 0:
            raise dg.Failure(f"run config: lookback_hours must be 0 or more, not {lookback_hours}")
        if max_attempts < 1:
            raise dg.Failure(f"run config: retry_max_attempts must be at least 1, not {max_attempts}")
        if config.batch_size is not None and config.batch_size < 1:
            raise dg.Failure(f"run config: batch_size must be at least 1, not {config.batch_size}")
        with replenit.client({entity: config.batch_size} if config.batch_size else None) as client, \
                closing(state.ledger(client, entity)) as ledger:
            result = sync_window(SyncRequest(
                mapping=entity_mapping, warehouse=warehouse.warehouse(), client=client, store=state.store(),
                start=window.start, end=window.end, partition_key=partition, run_id=context.run_id,
                gate=config.policy(), customer_priority=replenit.customer_priority, progress=progress,
                ledger=ledger, full_refresh=config.full_refresh, retry_max_attempts=max_attempts,
                lookback=timedelta(hours=lookback_hours),
            ))
        counts = result.counts()
        if not result.balanced():
            raise dg.Failure(f"row accounting does not close for {entity} {partition}: {counts}")
        metadata = run_metadata(result, entity_mapping, source_key(entity_mapping))
        share_check = quarantine_share_check(result, config.policy(), state.path, context.run_id)
        delivery_check = delivery_complete_check(result, state.path)
        row_check = row_count_check(context, key, result.prepared.rows_read)
        null_check = window_column_check(entity_mapping, result.rows_without_window_value)
        context.log.info(
            f"{entity} {partition}: read {counts['rows_read']:,} rows; delivered {counts['rows_delivered']:,}, "
            f"quarantined {counts['rows_quarantined']:,}, superseded {counts['rows_superseded']:,}, "
            f"unchanged {counts['rows_unchanged']:,}, dead-lettered {counts['rows_dead_lettered']:,}, "
            f"held back {counts['rows_held_back']:,}; records new {counts['records_new']:,}, changed "
            f"{counts['records_changed']:,}, unchanged {counts['records_unchanged']:,}, refreshed {counts['records_refreshed']:,}, "
            f"held {counts['records_held']:,}, retried {counts['records_retried']:,} "
            f"({counts['records_retry_accepted']:,} accepted); {counts['requests'] + counts['retry_requests']} requests, "
            f"{counts['rate_limited_429']} 429s; ledger {counts['ledger_size']:,} records"
            + (f", newest acknowledgement {result.ledger_newest_ack.isoformat()}" if result.ledger_newest_ack else "")
            + (" (full refresh)" if config.full_refresh else "")
        )
        if share_check.passed and delivery_check.passed:
            yield dg.MaterializeResult(metadata=metadata, check_results=[share_check, delivery_check, row_check, null_check])
            return
        # A failed blocking check: no materialization, so nothing downstream runs on this partition.
        for check in (share_check, delivery_check, row_check, null_check):
            yield check
        context.log.error(f"{entity} {partition} not materialized: {share_check.description or delivery_check.description}")
        raise dg.Failure(
            description=share_check.description or delivery_check.description,
            metadata={k: v for k, v in metadata.items() if not k.startswith("dagster/")},
        )

    return sync
