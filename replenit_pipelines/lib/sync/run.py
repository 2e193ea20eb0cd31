"""One sync of one entity over one time window, as the list of its stages (lib/stages/, drawn in
docs/architecture.md): extract, map + validate (and the quarantine gate), retry (earlier runs'
failures, before new work), diff (against the acknowledged-state ledger), plan, deliver
(acknowledging each accepted batch in the ledger), acknowledge, report.

Plain Python: the Dagster assets call this, the benches call it directly, and its accounting
always closes: rows read = delivered + quarantined + superseded + unchanged + dead-lettered
+ held back (valid rows not sent because the quarantine gate tripped: lib/validation/gate.py). A dry run
(`SyncRequest.dry_run`) counts the rows it would send as `rows_planned` instead of delivered.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY
from replenit_pipelines.lib.delivery import BatchProgress, DeliveryReport, ReplenitClient
from replenit_pipelines.lib.ledger import DEFAULT_MAX_ATTEMPTS, Ledger
from replenit_pipelines.lib.stages.acknowledge import DEAD_LETTER_SCHEMA, acknowledge, on_accepted, planned_only
from replenit_pipelines.lib.stages.delete import DeleteGuard, Deleted, DeletesRefused, check_guard, delete_ids, plan_deletes, send_deletes, split_deleted
from replenit_pipelines.lib.stages.deliver import deliver
from replenit_pipelines.lib.stages.diff import diff, nothing
from replenit_pipelines.lib.stages.extract import Extracted, extract
from replenit_pipelines.lib.stages.plan import plan
from replenit_pipelines.lib.stages.report import SyncResult, Window, report
from replenit_pipelines.lib.stages.retry import drop_superseded, retry
from replenit_pipelines.lib.stages.validate import gate, validate
from replenit_pipelines.lib.validation.gate import GatePolicy
from replenit_pipelines.lib.state.store import StateStore
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse

__all__ = ["DEAD_LETTER_SCHEMA", "SyncRequest", "SyncResult", "sync_window"]


@dataclass(frozen=True)
class SyncRequest:
    """Everything one sync of one entity over one window needs, by name."""

    mapping: EntityMapping
    warehouse: Warehouse
    client: ReplenitClient
    store: StateStore | None  # None: record nothing (benches)
    start: datetime
    end: datetime
    partition_key: str
    run_id: str
    gate: GatePolicy = field(default_factory=GatePolicy)
    customer_priority: str = DEFAULT_CUSTOMER_PRIORITY
    progress: Callable[[BatchProgress], None] | None = None
    ledger: Ledger | None = None  # None: no memory, every valid record is sent (benches)
    full_refresh: bool = False  # send every valid record even if Replenit holds it, and re-acknowledge it
    retry_max_attempts: int = DEFAULT_MAX_ATTEMPTS
    lookback: timedelta = timedelta(0)  # read [start - lookback, end): late rows of earlier partitions
    dry_run: bool = False  # every stage up to the plan; nothing sent, nothing written (ledger, queue, state store)
    delete_guard: DeleteGuard = field(default_factory=DeleteGuard)  # soft deletes (mapping source.deleted_column) per run
    how_to_allow_deletes: str = "run config max_delete_share: {share:.2f} and max_delete_count: {count}"


def sync_window(request: SyncRequest) -> SyncResult:
    started = time.monotonic()
    mapping, store, policy = request.mapping, request.store, request.gate
    entity = mapping.entity

    extracted = extract(mapping, request.warehouse, request.start - request.lookback, request.end)
    # Soft-deleted records (lib/stages/delete.py) are deleted, not validated and upserted; planned
    # and guarded before anything is sent.
    split = split_deleted(mapping, extracted.rows, request.customer_priority)
    # Records whose newest change is before the partition were read for the lookback: counted apart.
    prepared = validate(mapping, split.live, request.customer_priority, request.start if request.lookback else None)
    ledger = request.ledger
    delete_plan = plan_deletes(ledger, split.deleted.select("identity", "api_id"), pl.DataFrame(schema={"identity": pl.String}),
                               request.full_refresh) if ledger is not None and split.deleted.height else None
    refusal = check_guard(delete_plan, request.delete_guard, extracted.rows.height, False, request.how_to_allow_deletes) \
        if delete_plan is not None else None
    if refusal:
        raise DeletesRefused(f"{entity} {request.partition_key}: {refusal}")
    history = store.recent_runs(entity, policy.baseline_runs, request.partition_key) if store and policy.mode == "baseline" else []
    decision = gate(policy, prepared, history)
    # This run's identities, valid, quarantined or deleted: a queued older payload of any is obsolete
    # (never sent over a newer version, nor in place of one the warehouse now has invalid or deleted).
    in_run = pl.concat([prepared.records["__key"], prepared.quarantine["record_id"].alias("__key"),
                        split.deleted["identity"].alias("__key")]).unique()
    retried, stop = retry(ledger, request.client, request.run_id, None if decision.held_back else in_run,
                          request.retry_max_attempts, progress=request.progress, dry_run=request.dry_run)
    changes = diff(prepared, ledger, request.full_refresh) if not decision.held_back else nothing()
    window = Window(entity, request.partition_key, request.run_id, request.start, request.end)
    if request.dry_run:  # the plan is the real run's own stages, stopped before the first request
        planned = plan(prepared, changes, request.client)
        soft = (split.rows_deleted, 0 if decision.held_back else split.rows_deleted, 0)
        return _with_window_values(report(
            window, prepared, decision, changes, None, planned_only(prepared, changes), None,
            extracted.rows_without_window_value, time.monotonic() - started, None, retried, ledger,
            request.lookback, planned, soft, {"records_to_delete": delete_plan.count if delete_plan else 0},
        ), extracted)
    drop_superseded(ledger, retried, changes.keys, changes.held["__key"].to_list())
    planned = plan(prepared, changes, request.client)
    if stop is None:
        delivery, stop = deliver(request.client, planned, request.progress,
                                 on_accepted(ledger, changes, request.run_id, delete_ids(prepared, changes)))
    else:  # the API refused the key or tenant while retrying: nothing of this window can be sent
        delivery = DeliveryReport(entity=entity, records=len(planned.parts))
        delivery.failed.update({i: f"not sent: {stop}" for i in range(len(planned.parts))})
        delivery.not_sent.update(range(len(planned.parts)))
    acknowledged = acknowledge(prepared, changes, planned, delivery, ledger, request.run_id)
    deleted = Deleted(records_to_delete=delete_plan.count if delete_plan else 0)
    rows_deleted, rows_failed = (0, 0) if decision.held_back or stop is not None else (split.rows_deleted, 0)
    if delete_plan is not None and delete_plan.count and not decision.held_back and stop is None:  # never when the gate tripped
        deleted, stop = send_deletes(request.client, ledger, delete_plan, request.progress)  # type: ignore[arg-type]
        # Failed deletes and records the API cannot be told to delete: their rows are dead-lettered, not deleted.
        failed = deleted.undone_identities
        rows_failed = int(split.deleted.filter(pl.col("identity").is_in(failed))["rows"].sum()) if failed else 0
        rows_deleted = split.rows_deleted - rows_failed
    result = report(
        window, prepared, decision, changes, delivery, acknowledged, stop, extracted.rows_without_window_value, time.monotonic() - started, store,
        retried, ledger, request.lookback, None, (split.rows_deleted, rows_deleted, rows_failed), deleted.counts(),
        deleted.dead_letters(entity),
    )
    _with_window_values(result, extracted)
    if stop is not None:
        stop.result = result  # type: ignore[attr-defined]  # what was judged before the stop (the Dagster checks)
        raise stop
    return result


def _with_window_values(result: SyncResult, extracted: Extracted) -> SyncResult:
    """The unparsable window values the extract found, on the result (its counts and metadata)."""
    result.rows_unparsable_window_value = extracted.rows_unparsable_window_value
    result.unparsable_window_examples = list(extracted.unparsable_window_examples)
    return result
