"""One reconciliation job per entity (issue 12): the whole source against the ledger, as
`replenit sync ENTITY --all` does (lib/sync/reconcile.py), launched from the UI with run config,
and a weekly schedule per entity that is OFF until someone turns it on."""

import time
from contextlib import closing

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.defs.resources import ReplenitResource, StateStoreResource, WarehouseResource
from replenit_pipelines.lib.contract.entities import ENTITIES
from replenit_pipelines.lib.delivery.config import check_batch_size
from replenit_pipelines.lib.delivery.errors import DeliveryConfigError
from replenit_pipelines.lib.stages.delete import DeleteGuard, DeletesRefused
from replenit_pipelines.lib.stages.report import merge_warning
from replenit_pipelines.lib.sync import GatePolicy
from replenit_pipelines.lib.sync.reconcile import DEFAULT_CHUNK_ROWS, PROGRESS_EVERY_S, ReconcileRequest, reconcile
from replenit_pipelines.lib.validation.gate import gate_mode

# Sundays at 03:00 UTC, one entity an hour apart, when a schedule is turned on.
SCHEDULES = {"customers": "0 3 * * 0", "orders": "0 4 * * 0", "products": "0 5 * * 0"}


class ReconcileConfig(dg.Config):
    """What one reconciliation may do (docs/operating.md: First load, Reconciling, Deleting)."""

    mirror: bool = False  # also delete what the ledger holds and no source row has
    dry_run: bool = False  # plan upserts and deletes; send nothing, write nothing
    full_refresh: bool = False  # send every valid record even if Replenit holds it, and re-acknowledge it
    max_delete_share: float = 0.05  # refuse the run (nothing sent) when deletes exceed this share of the ledger ...
    max_delete_count: int = 1000  # ... or this many records
    batch_size: int | None = None  # records per request; default the entity's recommended size, capped at the hard maximum
    chunk_rows: int = DEFAULT_CHUNK_ROWS  # source rows read and prepared at once
    gate: str = "fixed"  # the quarantine gate, as the sync assets' (a reconciliation has no per-partition baseline)
    max_quarantine_share: float = 0.05
    min_quarantined_rows: int = 20
    retry_max_attempts: int | None = None  # default REPLENIT_RETRY_MAX_ATTEMPTS


def build_reconcile_job(entity: str) -> dg.JobDefinition:
    # In the key's pool, as the sync assets: its requests share the key's quota with them.
    @dg.op(name=f"{entity}_reconcile", description=f"Reconcile {entity}: the whole source against the ledger; "
                                                   "mirror deletes what left the source.", pool=settings.current().pool_name)
    def reconcile_op(context: dg.OpExecutionContext, config: ReconcileConfig, replenit: ReplenitResource,
                     warehouse: WarehouseResource, state: StateStoreResource) -> None:
        try:
            check_batch_size(config.batch_size, "run config: batch_size")
        except DeliveryConfigError as exc:
            raise dg.Failure(str(exc)) from None
        try:
            guard = DeleteGuard(max_share=config.max_delete_share, max_count=config.max_delete_count)
            policy = GatePolicy(mode=gate_mode(config.gate), max_quarantine_share=config.max_quarantine_share,
                                min_quarantined_rows=config.min_quarantined_rows)
        except ValueError as exc:
            raise dg.Failure(f"run config: {exc}") from None
        mapping = warehouse.mapping_for(entity)
        started = time.monotonic()
        with replenit.client({entity: config.batch_size} if config.batch_size else None) as client, \
                closing(state.ledger(client, entity)) as ledger:
            try:
                result = reconcile(ReconcileRequest(
                    mapping=mapping, warehouse=warehouse.warehouse(), client=client, ledger=ledger,
                    store=None if config.dry_run else state.store(), run_id=context.run_id, mirror=config.mirror,
                    dry_run=config.dry_run, full_refresh=config.full_refresh, guard=guard, gate=policy,
                    customer_priority=replenit.customer_priority, chunk_rows=config.chunk_rows,
                    retry_max_attempts=config.retry_max_attempts or settings.current().retry_max_attempts,
                    log=context.log.info, log_every_s=PROGRESS_EVERY_S))
            except DeletesRefused as exc:
                raise dg.Failure(description=str(exc)) from None
        counts = result.counts()
        context.log.info(f"reconcile {entity}: {counts} in {time.monotonic() - started:.0f}s")
        merged = merge_warning(f"reconcile {entity}", counts["records_merged"], counts["rows_merged"], result.merges)
        if merged:
            context.log.warning(merged)
        context.log_event(dg.AssetObservation(asset_key=dg.AssetKey(["replenit", entity]),
                                              metadata={f"reconcile_{k}": v for k, v in counts.items()
                                                        if isinstance(v, int | float)}))
        if not result.balanced():
            raise dg.Failure(f"row accounting does not close for {entity}: {counts}")
        if result.refused:
            raise dg.Failure(description=f"dry run: {result.refused}")
        undeleted = counts["records_delete_failed"] + counts["records_not_deletable"]
        if undeleted:
            d = result.deletes
            raise dg.Failure(description=(
                f"reconcile {entity}: {undeleted:,} of {counts['records_to_delete']:,} records to delete were not deleted: "
                f"{d.records_delete_failed:,} failed after retries (the next reconciliation plans them again), "
                f"{d.records_not_deletable:,} have no id the API deletes by (a customer known only by email has no "
                "CustomerId: delete it in Replenit by hand); they stay in the ledger"))
        if result.gate_tripped:
            raise dg.Failure(description=f"reconcile {entity}: the quarantine gate held rows back and nothing was deleted: "
                                         "see the quarantine table (replenit state)")

    @dg.job(name=f"reconcile_{entity}", description=f"Reconcile {entity} with the whole source (run config: mirror, "
                                                     "dry_run, full_refresh, max_delete_share, max_delete_count, batch_size).",
            tags={"replenit/entity": entity})
    def job() -> None:
        reconcile_op()

    return job


@dg.definitions
def reconcile_defs() -> dg.Definitions:
    # Built as the definitions load (not at import): the op's pool is the key's as the settings say now.
    jobs = {entity: build_reconcile_job(entity) for entity in ENTITIES}
    schedules = [dg.ScheduleDefinition(name=f"reconcile_{entity}_weekly", job=job, cron_schedule=SCHEDULES[entity],
                                       execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED)
                 for entity, job in jobs.items()]
    return dg.Definitions(jobs=list(jobs.values()), schedules=schedules)
