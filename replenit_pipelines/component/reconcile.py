"""One reconciliation job per entity (issue 12): the whole source against the ledger, as
`replenit sync ENTITY --all` does (lib/sync/reconcile.py), launched from the UI with run config,
and a weekly schedule per entity that is OFF until someone turns it on."""

from contextlib import closing
from typing import Any

import dagster as dg
from pydantic import Field

from replenit_pipelines.component.checks import state_query
from replenit_pipelines.component.failures import api_stop, check_batch_size_config, config_error, deletes_refused, failure
from replenit_pipelines.component.jobs import executor
from replenit_pipelines.component.monitoring import record_run_worker
from replenit_pipelines.component.quota import mark_dry_run, plan_estimate, plan_observation
from replenit_pipelines.component.resources import instance_resources, required_keys
from replenit_pipelines.component.site import SyncSite
from replenit_pipelines.component.sync_asset import GateMode
from replenit_pipelines.component.translator import accounting_text
from replenit_pipelines.lib.delivery import ReplenitStopError
from replenit_pipelines.lib.delivery.config import batch_sizes_for
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.plan import plan_text, planned_requests
from replenit_pipelines.lib.plan.summary import reconcile_summary
from replenit_pipelines.lib.privacy import mask_text
from replenit_pipelines.lib.stages.delete import DeleteGuard, DeletesRefused
from replenit_pipelines.lib.stages.report import merge_warning, newer_elsewhere_note, tie_warning
from replenit_pipelines.lib.sync import GatePolicy
from replenit_pipelines.lib.sync.reconcile import DEFAULT_CHUNK_ROWS, PROGRESS_EVERY_S, ReconcileRequest, reconcile
from replenit_pipelines.lib.validation.gate import gate_mode

# Sundays at 03:00 UTC, one entity an hour apart, when a schedule is turned on.
SCHEDULES = {"customers": "0 3 * * 0", "orders": "0 4 * * 0", "products": "0 5 * * 0"}
SCHEDULE_TEXT = {"customers": "Sundays 03:00", "orders": "Sundays 04:00", "products": "Sundays 05:00"}


class ReconcileConfig(dg.Config):
    """What one reconciliation may do (docs/operating.md: First load, Reconciling, Deleting)."""

    dry_run: bool = Field(False, description="Plan only: read the whole source, validate and diff it against the ledger, "
                                             "and report the plan (the same text as a sync's dry run) with its requests and "
                                             "ETA; send nothing, write nothing.")
    mirror: bool = Field(False, description="Also delete from Replenit what the ledger holds and no source row has any "
                                            "more (within max_delete_share and max_delete_count).")
    full_refresh: bool = Field(False, description="Send every valid record even if Replenit already holds it as it is, and "
                                                  "acknowledge it again (spends quota).")
    max_delete_share: float = Field(0.05, description="Refuse the run (nothing sent) when it would delete more than this "
                                                      "share (0..1) of the records Replenit holds (or more than "
                                                      "max_delete_count records).")
    max_delete_count: int = Field(1000, description="Refuse the run (nothing sent) when it would delete more than this many "
                                                    "records (or more than max_delete_share of them).")
    batch_size: int | None = Field(None, description="Records per request, at least 1. Default: the API's hard maximum "
                                                     "(bulk work is bounded by the quota); capped at it.")
    chunk_rows: int = Field(DEFAULT_CHUNK_ROWS, description="Source rows read and prepared at once (memory is about one "
                                                            "chunk's); at least 1.")
    gate: GateMode = Field("fixed", description="The quarantine gate per chunk: fixed (held back above max_quarantine_share) "
                                                "or baseline (as the sync assets; a reconciliation has no per-partition history, "
                                                "so fixed is the default).")
    max_quarantine_share: float = Field(0.05, description="fixed gate: a chunk above this quarantined share (0..1) is held back.")
    min_quarantined_rows: int = Field(20, description="A chunk with fewer quarantined rows is never held back.")
    retry_max_attempts: int | None = Field(None, description="Deliveries a record may fail before it waits for a person; at "
                                                             "least 1. Default REPLENIT_RETRY_MAX_ATTEMPTS (5).")


def _log_notes(context: Any, what: str, counts: dict[str, Any], merges: Any, tied_examples: list[str]) -> None:
    """The run's warnings in words: customers the tenant merges, rows tied on time, records the send-time check left out."""
    merged = merge_warning(what, counts["records_merged"], counts["rows_merged"], merges)
    if merged:
        context.log.warning(merged)
    tied = tie_warning(what, counts.get("rows_tied", 0), tied_examples)
    if tied:
        context.log.warning(tied)
    if (newer := newer_elsewhere_note(counts)) is not None:
        context.log.info(f"{what}: {newer}")


def build_reconcile_job(site: SyncSite, entity: str, key: dg.AssetKey) -> dg.JobDefinition:
    # One reconciliation of the entity at a time (its own pool); no longer in a pool with the key's syncs:
    # its requests go in the quota's bulk lane, which the fresh syncs pass (lib/delivery/quota.py).
    @dg.op(name=site.names.name(f"{entity}_reconcile"), description=f"Reconcile {entity}: the whole source against the "
                                                                    "ledger; mirror deletes what left the source.",
           pool=site.maintenance_pool(f"reconcile_{entity}"), required_resource_keys=required_keys(site))
    def reconcile_op(context: dg.OpExecutionContext, config: ReconcileConfig) -> None:
        replenit, warehouse, state = instance_resources(context, site)
        record_run_worker(context)
        what = f"reconcile {entity}" + (" (dry run)" if config.dry_run else "")
        if config.dry_run:
            mark_dry_run(context)
        check_batch_size_config(config.batch_size)
        if config.chunk_rows < 1:
            raise config_error(f"chunk_rows must be at least 1, not {config.chunk_rows}")
        try:
            guard = DeleteGuard(max_share=config.max_delete_share, max_count=config.max_delete_count)
            policy = GatePolicy(mode=gate_mode(config.gate), max_quarantine_share=config.max_quarantine_share,
                                min_quarantined_rows=config.min_quarantined_rows)
        except ValueError as exc:
            raise config_error(str(exc)) from None
        mapping = warehouse.mapping_for(entity)
        # Bulk work: the API's hard maximum per request unless the run config sets batch_size (docs/cli.md).
        with replenit.client(batch_sizes_for(entity, config.batch_size, bulk=True)) as client, \
                closing(state.ledger(client, entity)) as ledger:
            try:
                result = reconcile(ReconcileRequest(
                    mapping=mapping, warehouse=warehouse.warehouse(), client=client, ledger=ledger,
                    store=None if config.dry_run else state.store(), run_id=context.run_id, mirror=config.mirror,
                    dry_run=config.dry_run, full_refresh=config.full_refresh, guard=guard, gate=policy,
                    customer_priority=replenit.customer_priority, chunk_rows=config.chunk_rows,
                    retry_max_attempts=config.retry_max_attempts or site.retry_max_attempts,
                    log=context.log.info, log_every_s=PROGRESS_EVERY_S))
            except DeletesRefused as exc:
                context.log.error(f"{what} refused: {mask_text(str(exc))}")
                raise deletes_refused(exc, None) from None
            except ReplenitStopError as exc:
                context.log.error(f"{what} stopped: {mask_text(str(exc))}")
                raise api_stop(what, exc, None, entity, None) from None
            counts = result.counts()
            if config.dry_run:  # the plan in a sync's words, with its requests and ETA on the key's quota now
                requests = planned_requests(counts)
                estimate, quota_now = plan_estimate(context, site, state.store(), client, requests, entity, result.local_s)
                summary = reconcile_summary(result, estimate)
                context.log.info(plan_text(summary))
                context.log_event(plan_observation(key, summary, plan_text(summary), quota_now, None,
                                                   f"reconcile dry run: {plural(requests, 'request')} planned, nothing sent"))
        if not config.dry_run:
            context.log.info(plan_text(reconcile_summary(result)))
            context.log_event(dg.AssetObservation(asset_key=key, description=f"{what}: {counts['requests_total']:,} requests",
                                                  metadata={"reconcile": dg.MetadataValue.json(counts),
                                                            "accounting": accounting_text(counts)}))
        _log_notes(context, what, counts, result.merges, result.tied_examples)
        if not result.balanced():
            raise failure(f"row accounting does not close for {what}: {accounting_text(counts)} (read "
                          f"{counts['rows_read']:,}). This is a bug: please report it with the run id.", "accounting")
        if result.refused:
            raise failure(f"{what}: {result.refused}", "deletes_refused")
        undeleted = counts["records_delete_failed"] + counts["records_not_deletable"]
        if undeleted:
            d = result.deletes
            raise failure(
                f"{what}: {undeleted:,} of {counts['records_to_delete']:,} records to delete were not deleted: "
                f"{d.records_delete_failed:,} failed after retries (the next reconciliation plans them again), "
                f"{d.records_not_deletable:,} have no id the API deletes by (a customer known only by email has no "
                "CustomerId, and one who changed email shares its CustomerId with its new address: delete it in Replenit by "
                "hand); they stay in the ledger.", "not_deleted")
        if result.gate_tripped:
            raise failure(f"{what}: the quarantine gate held rows back and nothing was deleted; the quarantined rows: "
                          f"{state_query('quarantine', context.run_id)}.", "gate_held_back")

    @dg.job(name=site.names.name(f"reconcile_{entity}"), executor_def=executor(), description=f"Reconcile {entity}: the whole warehouse source against what Replenit "
                                                     "holds (the ledger); sends what differs, and with mirror deletes what left "
                                                     "the source. Set dry_run to see the plan and its ETA first.")
    def job() -> None:
        reconcile_op()

    return job


def reconcile_defs(site: SyncSite, keys: dict[str, dg.AssetKey]) -> dg.Definitions:
    """A reconciliation job per entity; its weekly schedule is off until turned on."""
    jobs = {entity: build_reconcile_job(site, entity, keys[entity]) for entity in site.entities}
    schedules = [dg.ScheduleDefinition(name=site.names.name(f"reconcile_{entity}_weekly"), job=job,
                                       cron_schedule=SCHEDULES[entity], execution_timezone="UTC",
                                       default_status=dg.DefaultScheduleStatus.STOPPED,
                                       description=f"Weekly, {SCHEDULE_TEXT[entity]} UTC: reconcile {entity} with the whole "
                                                   "source (no mirror deletes). Off until turned on.")
                 for entity, job in jobs.items()]
    return dg.Definitions(jobs=list(jobs.values()), schedules=schedules)
