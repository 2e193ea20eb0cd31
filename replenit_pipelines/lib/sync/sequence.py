"""The stages of one sync, in order, once each: the same function for a window (lib/sync/run.py)
and for each chunk of a reconciliation (lib/sync/reconcile.py). docs/architecture.md draws them.

    extract -> map -> validate -> gate -> retry -> diff -> plan      `before_delivery` (local work)
    deliver -> acknowledge -> deletes -> report                       `from_delivery`

The two halves are apart so that a reconciliation can do the next chunk's local work while this
one is delivered (for a chunk the retry stage has run once, for the whole run, before the first).
The report comes last because it counts everything before it, deletes included. What a window and
a chunk do differently is data on the `Unit`: where the rows come from, whether the run's retry
already ran, whether soft deletes are planned and sent here (a window) or by the run (a
reconciliation plans them over the whole source before anything is sent, and sends them after
every chunk).

Accounting closes for every unit: rows read = delivered + quarantined + superseded + unchanged +
dead-lettered + held back (+ deleted, + planned in a dry run).
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import polars as pl

from replenit_pipelines.lib.delivery import BatchProgress, DeliveryReport, ReplenitClient, ReplenitStopError
from replenit_pipelines.lib.delivery.upserts import BeforeSend
from replenit_pipelines.lib.ledger import DEFAULT_MAX_ATTEMPTS, Ledger
from replenit_pipelines.lib.ledger.base import now_ms
from replenit_pipelines.lib.stages.acknowledge import Acknowledged, acknowledge, on_accepted, planned_only, send_check
from replenit_pipelines.lib.stages.delete import (
    DeleteGuard,
    DeletePlan,
    DeletesRefused,
    Split,
    check_guard,
    delete_ids,
    finish_deletes,
    plan_deletes,
    split_deleted,
)
from replenit_pipelines.lib.stages.deliver import deliver
from replenit_pipelines.lib.stages.diff import Diff, LedgerView, diff, nothing
from replenit_pipelines.lib.stages.extract import Extracted
from replenit_pipelines.lib.stages.map import map_stage
from replenit_pipelines.lib.stages.plan import Plan, plan
from replenit_pipelines.lib.stages.report import Outcome, SoftDeleted, SyncResult, Window, report
from replenit_pipelines.lib.stages.retry import Retried, drop_superseded, retry
from replenit_pipelines.lib.stages.validate import gate, validate
from replenit_pipelines.lib.state.store import StateStore
from replenit_pipelines.lib.validation.gate import GateDecision, GatePolicy, RecentRun
from replenit_pipelines.lib.validation.prepare import Prepared
from replenit_pipelines.lib.warehouse import EntityMapping


@dataclass(frozen=True)
class SoftDeletes:
    """A window's soft deletes (the mapping's `deleted_column`): planned and guarded before
    anything is sent, sent after the upserts."""

    guard: DeleteGuard = field(default_factory=DeleteGuard)
    how_to_allow: str = "run config max_delete_share: {share:.2f} and max_delete_count: {count}"


@dataclass(frozen=True)
class Unit:
    """One window, or one chunk of a reconciliation: what the stages run over, and how."""

    window: Window
    mapping: EntityMapping
    client: ReplenitClient
    read: Callable[[], Extracted]  # the extract stage: the unit's rows
    gate: GatePolicy
    history: Sequence[RecentRun]  # the gate's baseline (lib/stages/validate.py gate_history)
    customer_priority: str
    ledger: Ledger | None = None  # None: no memory, every valid record is sent (benches)
    store: StateStore | None = None  # where the report records the run (never in a dry run)
    lookup: LedgerView | None = None  # what the diff reads (default: the ledger)
    full_refresh: bool = False
    dry_run: bool = False
    progress: Callable[[BatchProgress], None] | None = None
    lookback: timedelta = timedelta(0)
    lookback_before: datetime | None = None  # the partition's start when the read began earlier (its lookback)
    partition_starts: tuple[datetime, ...] = ()  # a run over several partitions: their starts (counts per partition)
    retry_max_attempts: int = DEFAULT_MAX_ATTEMPTS
    # The run's retry stage, when it already ran (a reconciliation: once, before the first chunk);
    # None: it runs here. `report_retried`: this unit's report shows it (a reconciliation's first chunk).
    retried: Retried | None = None
    report_retried: bool = True
    soft_deletes: SoftDeletes | None = None  # None: the run plans and sends them (a reconciliation)
    report_ledger: bool = True  # the report shows the ledger's size (a reconciliation shows it once)
    # When the rows' warehouse read began (epoch ms), when it is not `read()` itself (a reconciliation's
    # chunks spilled from one earlier scan); None: the moment `read()` is called.
    read_at: int | None = None


@dataclass(frozen=True)
class Staged:
    """A unit after its local stages: what delivery needs."""

    extracted: Extracted
    split: Split
    prepared: Prepared
    decision: GateDecision
    retried: Retried
    deferred: tuple[str, ...]  # queued identities this unit carries: its own version goes instead
    changes: Diff
    planned: Plan
    delete_plan: DeletePlan | None
    stop: ReplenitStopError | None  # the API refused the key or tenant during the retry stage
    local_s: float
    read_at: int = 0  # when the warehouse read began (epoch ms): the send-time check orders versions by it


def before_delivery(unit: Unit) -> Staged:
    """extract -> map -> validate -> gate -> retry -> diff -> plan (soft deletes planned and
    guarded too: a refusal raises DeletesRefused before anything is sent)."""
    started = time.monotonic()
    mapping, ledger = unit.mapping, unit.ledger
    read_at = unit.read_at if unit.read_at is not None else now_ms()
    extracted = unit.read()
    # Soft-deleted records (lib/stages/delete.py) are deleted, not validated and upserted.
    split = split_deleted(mapping, extracted.rows, unit.customer_priority)
    prepared = validate(mapping, map_stage(mapping, split.live, unit.customer_priority), unit.lookback_before,
                        unit.partition_starts, unit.window.end)
    delete_plan = None
    if unit.soft_deletes is not None and ledger is not None and split.deleted.height:
        delete_plan = plan_deletes(ledger, split.deleted.select("identity", "api_id"),
                                   pl.DataFrame(schema={"identity": pl.String}), unit.full_refresh)
        refusal = check_guard(delete_plan, unit.soft_deletes.guard, extracted.rows.height, False, unit.soft_deletes.how_to_allow)
        if refusal:
            raise DeletesRefused(f"{mapping.entity} {unit.window.partition_key}: {refusal}")
    decision = gate(unit.gate, prepared, unit.history)
    # This unit's identities, valid, quarantined or deleted: a queued older payload of any is obsolete
    # (never sent over a newer version, nor in place of one the warehouse now has invalid or deleted).
    in_run = pl.concat([prepared.records["__key"], prepared.quarantine["record_id"].alias("__key"),
                        split.deleted["identity"].alias("__key")]).unique()
    stop = None
    retried = unit.retried
    if retried is None:
        retried, stop = retry(ledger, unit.client, unit.window.run_id, None if decision.held_back else in_run,
                              unit.retry_max_attempts, progress=unit.progress, dry_run=unit.dry_run)
    here = set(in_run.drop_nulls().to_list())
    deferred = tuple(i for i in retried.deferred if i in here)
    changes = diff(prepared, unit.lookup or ledger, unit.full_refresh) if not decision.held_back else nothing()
    planned = plan(prepared, changes, unit.client)
    return Staged(extracted, split, prepared, decision, retried, deferred, changes, planned, delete_plan, stop,
                  time.monotonic() - started, read_at)


Send = Callable[[Plan, Callable[[list[int]], None] | None, BeforeSend | None],
                tuple[DeliveryReport | None, ReplenitStopError | None]]


def callbacks(unit: Unit, staged: Staged) -> tuple[Callable[[list[int]], None] | None, BeforeSend | None]:
    """The unit's delivery callbacks: acknowledge each accepted batch (with the unit's read time),
    and the send-time check right before each request."""
    ledger, run_id = unit.ledger, unit.window.run_id
    acked = on_accepted(ledger, staged.changes, run_id, delete_ids(staged.prepared, staged.changes), staged.read_at)
    return acked, send_check(ledger, staged.changes.keys, staged.changes.hashes, run_id, staged.read_at, unit.full_refresh)


def from_delivery(unit: Unit, staged: Staged, started: float, send: Send | None = None) -> tuple[SyncResult, ReplenitStopError | None]:
    """deliver -> acknowledge -> deletes -> report. Returns the result and the error that stopped
    the delivery, if any (the caller attaches the result to it and raises). `started`: when the
    unit's work began (its duration's start). `send(plan, on_accepted, before_send)`: how the plan is
    delivered (default: the deliver stage; a reconciliation fills requests across chunks:
    lib/sync/carry.py)."""
    s, ledger, entity = staged, unit.ledger, unit.mapping.entity
    prepared, changes, planned, stop = s.prepared, s.changes, s.planned, s.stop
    delivery: DeliveryReport | None = None
    if unit.dry_run:  # the plan is the real run's own stages, stopped before the first request
        acknowledged: Acknowledged = planned_only(prepared, changes)
    else:
        if not s.decision.held_back:  # a held unit sends nothing: its queued entries wait for a run that does
            drop_superseded(ledger, replace(s.retried, deferred=s.deferred), changes.keys, changes.held["__key"].to_list())
        if stop is None:
            acked, check = callbacks(unit, s)
            delivery, stop = send(planned, acked, check) if send is not None else deliver(unit.client, planned, unit.progress, acked,
                                                                                         check)
        else:  # the API refused the key or tenant while retrying: nothing of this window can be sent
            delivery = DeliveryReport(entity=entity, records=len(planned.parts))
            delivery.failed.update({i: f"not sent: {stop}" for i in range(len(planned.parts))})
            delivery.not_sent.update(range(len(planned.parts)))
        acknowledged = acknowledge(prepared, changes, planned, delivery, ledger, unit.window.run_id, s.read_at)
    soft = SoftDeleted()
    deletes = None
    if unit.soft_deletes is not None:
        done, stop = finish_deletes(unit.client, ledger, s.delete_plan, s.split.deleted.select("identity", "rows"),
                                    s.split.rows_deleted, s.decision.held_back, stop, unit.dry_run, unit.progress)
        soft, deletes = SoftDeleted(s.split.rows_deleted, done.rows_deleted, done.rows_failed), done.deleted
    result = report(Outcome(
        window=unit.window, extracted=s.extracted, prepared=prepared, decision=s.decision, changes=changes,
        acknowledged=acknowledged, duration_s=time.monotonic() - started, delivery=delivery, stop=stop,
        retried=s.retried if unit.report_retried else None, ledger=ledger if unit.report_ledger else None,
        lookback=unit.lookback, planned=planned if unit.dry_run else None, soft_deleted=soft, deletes=deletes,
    ), None if unit.dry_run else unit.store)
    return result, stop


def run_unit(unit: Unit) -> tuple[SyncResult, ReplenitStopError | None]:
    """Every stage of one unit, in order."""
    started = time.monotonic()
    return from_delivery(unit, before_delivery(unit), started)


__all__ = ["Send", "SoftDeletes", "Staged", "Unit", "before_delivery", "callbacks", "from_delivery", "run_unit"]
