"""Reconciliation of one entity (issue 12): the WHOLE source, not a window (rows whose window column
is NULL and rows older than the partitions included), against the acknowledged-state ledger.
On an empty ledger it is the initial load; later it is the safety net (late rows, NULL windows,
rows changed without a new timestamp), and in mirror mode it deletes what left the source.

The source is read in chunks (lib/warehouse/chunks.py: rows hashed by record key, so a record's
rows are in one chunk; a table is split into chunk files in one scan), each run through the
stages of a window (lib/sync/sequence.py): map, validate, gate, diff, plan, deliver (acknowledging
each accepted batch in the ledger), acknowledge, report. The next chunk's local work (read,
validate, diff, serialize, plan) runs on a thread while the current one is delivered, so requests
never wait on it. A chunk's partial last batch waits for the next chunk's plan and goes out filled
from it (lib/sync/carry.py): the run's requests are full but its last. Memory holds
two chunks, the ledger's integer keys and hashes (read once: lib/ledger/store.py lookup_keys), and
the identity keys seen in mirror mode (8 bytes a record). The retry stage runs once, first.

Deletes (lib/stages/delete.py) are planned before anything is sent: a first pass reads only the
identity columns (and the soft-delete column) of every chunk, so a guard refuses the run with
nothing sent. They are sent after the upserts, only when no chunk's quarantine gate tripped.

Accounting closes over the run: rows read = delivered + quarantined + superseded + unchanged +
dead-lettered + held back + deleted (+ planned, in a dry run). Of the superseded rows, rows_merged
are of customers the tenant merges into another (a shared email: chunks are cut by identity, so
rows sharing an email meet in one): counted, and the largest kept as examples (`merges`).
"""

import math
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY
from replenit_pipelines.lib.delivery import BatchProgress, ReplenitClient
from replenit_pipelines.lib.ledger import DEFAULT_MAX_ATTEMPTS, Ledger
from replenit_pipelines.lib.ledger.base import RETRY_STATUSES, now_ms
from replenit_pipelines.lib.ledger.hashing import hashes_as_binary, identity_keys
from replenit_pipelines.lib.stages.acknowledge import on_accepted, send_check
from replenit_pipelines.lib.stages.delete import (
    Deleted,
    DeleteGuard,
    DeletePlan,
    DeletesRefused,
    absent_from_source,
    check_guard,
    delete_ids,
    finish_deletes,
    identities,
    identity_columns,
    plan_deletes,
    split_deleted,
)
from replenit_pipelines.lib.stages.extract import Extracted
from replenit_pipelines.lib.stages.report import SyncResult, Window
from replenit_pipelines.lib.stages.retry import Retried, retry
from replenit_pipelines.lib.stages.validate import gate_history
from replenit_pipelines.lib.state.store import StateStore
from replenit_pipelines.lib.sync.carry import CarryOver, NextPlan
from replenit_pipelines.lib.sync.scratch import run_scratch
from replenit_pipelines.lib.sync.sequence import Staged, Unit, before_delivery, from_delivery
from replenit_pipelines.lib.validation.gate import GateDecision, GatePolicy
from replenit_pipelines.lib.validation.prepare import MERGES_SCHEMA, TIED_EXAMPLES
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse
from replenit_pipelines.lib.warehouse.chunks import (
    SpilledChunks,
    frames_record_keys,
    frames_row_count,
    read_frames_chunk,
    read_frames_whole,
    read_source_chunk,
    source_row_count,
)
from replenit_pipelines.lib.warehouse.customer_chunks import customer_chunking
from replenit_pipelines.lib.warehouse.keys import read_key_column

DEFAULT_CHUNK_ROWS = 250_000
PROGRESS_EVERY_S = 30.0
ALL_PARTITIONS = "all"  # the partition key a reconciliation's runs are recorded under (one row per chunk: all:3/40)
_ROW_COUNTS = ("rows_read", "rows_valid", "rows_quarantined", "rows_superseded", "rows_unchanged", "rows_delivered",
               "rows_dead_lettered", "rows_held_back", "rows_planned")
_SUMMED = _ROW_COUNTS + ("rows_merged", "rows_tied", "records_merged", "records_valid", "records_quarantined", "records_without_children", "records_sent",
                         "records_accepted", "records_rejected",
                         "records_failed", "requests", "rate_limited_429", "retries", "records_planned", "requests_planned",
                         "records_new", "records_changed", "records_unchanged", "records_refreshed", "records_held", "rows_held",
                         "rows_not_attempted", "records_not_attempted", "rows_newer_elsewhere", "records_newer_elsewhere",
                         "rows_stored_elsewhere", "records_stored_elsewhere")


@dataclass(frozen=True)
class ReconcileRequest:
    mapping: EntityMapping
    warehouse: Warehouse
    client: ReplenitClient
    ledger: Ledger
    store: StateStore | None
    run_id: str
    mirror: bool = False  # delete what is in the ledger and in no row of the source
    dry_run: bool = False  # every stage up to the plans (upserts and deletes); nothing sent, nothing written
    full_refresh: bool = False  # send every valid record even if Replenit holds it, and re-acknowledge it
    guard: DeleteGuard = field(default_factory=DeleteGuard)
    # The baseline gate, as a window's (`replenit sync --all`): the entity's runs are its history, and a
    # first load's steady dirt flows under the 50% ceiling. The Dagster reconcile job defaults to fixed.
    gate: GatePolicy = field(default_factory=GatePolicy)
    customer_priority: str = DEFAULT_CUSTOMER_PRIORITY
    chunk_rows: int = DEFAULT_CHUNK_ROWS  # source rows per chunk (memory is about one chunk's)
    retry_max_attempts: int = DEFAULT_MAX_ATTEMPTS
    log: Callable[[str], None] | None = None  # progress lines, at least every `log_every_s` while work goes on
    log_every_s: float = PROGRESS_EVERY_S
    progress: Callable[["ReconcileProgress"], None] | None = None  # every batch and chunk (a progress bar); None: the log only
    # How a refusal tells the user to allow the deletes ({share} and {count}: the values that would).
    how_to_allow: str = "run config max_delete_share: {share:.2f} and max_delete_count: {count}"
    spill_dir: str | None = None  # where a table source is split into chunk files for the run (default: the temp folder)


@dataclass
class ReconcileResult:
    entity: str
    run_id: str
    chunks: int
    counts_by_chunk: list[dict[str, Any]]
    retried: Retried
    deletes: Deleted
    delete_plan: DeletePlan | None
    rows_deleted: int  # rows of soft-deleted records (and flagged lines or variants), their deletes done or planned
    rows_soft_deleted_read: int  # rows taken out as soft-deleted before validation (part of rows_read)
    rows_deletes_held_back: int  # soft-deleted rows not deleted because a quarantine gate tripped
    rows_deletes_failed: int  # soft-deleted rows whose delete failed: dead-lettered, the ledger keeps them
    gate_tripped: bool
    dry_run: bool
    mirror: bool
    full_refresh: bool
    ledger_size: int
    duration_s: float
    local_s: float  # read, validate, diff, serialize: the work that is not waiting on the API
    refused: str = ""  # a dry run's guard refusal (a real run raises DeletesRefused)
    stop_error: str | None = None
    merges: pl.DataFrame = field(default_factory=pl.DataFrame)  # the chunks' largest merges (prepare.MERGES_SCHEMA)
    # The quarantine's reasons over every chunk (rule, field, rows, example), most first: a dry run
    # records no quarantine in the state store, so this is the only place its reasons are.
    reasons: pl.DataFrame = field(default_factory=pl.DataFrame)
    held: GateDecision | None = None  # of the chunks the gate held back, the one with the largest quarantined share
    tied_examples: list[str] = field(default_factory=list)  # a few records with rows tied on time (Prepared.rows_tied)

    def top_reasons(self, n: int = 10) -> pl.DataFrame:
        return self.reasons.head(n)

    def counts(self) -> dict[str, Any]:
        total: dict[str, Any] = {k: sum(c.get(k, 0) for c in self.counts_by_chunk) for k in _SUMMED}
        total["rows_read"] += self.rows_soft_deleted_read
        total["rows_held_back"] += self.rows_deletes_held_back
        total["rows_dead_lettered"] += self.rows_deletes_failed
        total["rows_deleted"] = self.rows_deleted
        r = self.retried
        total.update({
            "records_retried": r.records_retried, "records_retry_accepted": r.records_retry_accepted,
            "records_retry_failed": r.records_retry_failed + r.records_retry_rejected, "retry_requests": r.requests,
            **self.deletes.counts(),
            "records_absent": self.delete_plan.by("absent") if self.delete_plan else 0,
            "records_flagged_deleted": self.delete_plan.by("flagged") if self.delete_plan else 0,
            "chunks": self.chunks, "mirror": int(self.mirror), "dry_run": int(self.dry_run),
            "full_refresh": int(self.full_refresh), "gate_tripped": int(self.gate_tripped),
            "ledger_size": self.ledger_size, "duration_s": round(self.duration_s, 3), "local_s": round(self.local_s, 3),
        })
        if self.held is not None:  # the share the gate judged and its limit, which the summary names
            total["quarantine_share"], total["gate_threshold"] = round(self.held.share, 4), round(self.held.threshold, 4)
        total["requests_total"] = total["requests"] + total["retry_requests"] + total["delete_requests"]
        return total

    def balanced(self) -> bool:
        c = self.counts()
        return c["rows_read"] == sum(c[k] for k in _ROW_COUNTS if k != "rows_read" and k != "rows_valid") + c["rows_deleted"]


@dataclass(frozen=True)
class ReconcileProgress:
    """Where a reconciliation is, for a progress bar (`ReconcileRequest.progress`): on every batch and chunk."""

    entity: str
    chunk: int  # chunks done
    chunks: int
    rows_done: int
    rows_total: int
    requests_done: int  # of the chunks done
    chunk_records_done: int  # of the chunk in flight
    chunk_records_total: int
    eta_s: float  # by the local pace and the key's quota for the requests left; before the first chunk ends, the chunk's quota time


class _Progress:
    """A line at least every `every_s` while the run works: where it is, and when it should end
    (by the local pace of the chunks so far and by the key's quota for the requests left); and,
    when the request asks, a ReconcileProgress on every batch and chunk (progress bars)."""

    def __init__(self, request: ReconcileRequest, rows_total: int, chunks: int):
        self.request, self.rows_total, self.chunks = request, rows_total, chunks
        self.started = time.monotonic()
        self.last = self.started
        self.rows_done = self.requests_done = self.chunk = 0
        self.chunk_requests_left = 0
        self.chunk_records = (0, 0)

    def chunk_done(self, chunk: int, rows: int, requests: int) -> None:
        self.chunk, self.rows_done, self.requests_done = chunk + 1, self.rows_done + rows, self.requests_done + requests
        self.chunk_records = (0, 0)
        self.emit(force=True)

    def batch(self, p: BatchProgress) -> None:
        self.chunk_requests_left = p.batches_total - p.batches_done
        self.chunk_records = (p.records_done, p.records_total)
        self.emit(extra=f"; this chunk {p.records_done:,}/{p.records_total:,} records sent")

    def eta(self, now: float) -> float:
        """Seconds left: the slower of the local pace and the key's quota for the requests left.
        Before the first chunk ends there is no pace yet: the chunk in flight's quota time alone."""
        if not self.rows_done:
            return self.request.client.quota.eta_seconds(self.chunk_requests_left)
        left_rows = max(0, self.rows_total - self.rows_done)
        by_pace = (now - self.started) / self.rows_done * left_rows
        requests_left = self.chunk_requests_left + self.requests_done / self.rows_done * left_rows
        return max(by_pace, self.request.client.quota.eta_seconds(math.ceil(requests_left)))

    def emit(self, force: bool = False, extra: str = "") -> None:
        log = self.request.log
        now = time.monotonic()
        if self.request.progress is not None:
            self.request.progress(ReconcileProgress(
                self.request.mapping.entity, self.chunk, self.chunks, self.rows_done, self.rows_total, self.requests_done,
                *self.chunk_records, self.eta(now)))
        if log is None or (not force and now - self.last < self.request.log_every_s):
            return
        self.last = now
        elapsed = now - self.started
        eta = self.eta(now)
        log(f"reconcile {self.request.mapping.entity}: chunk {self.chunk}/{self.chunks}, {self.rows_done:,}/{self.rows_total:,} "
            f"rows, {self.requests_done:,} request{'' if self.requests_done == 1 else 's'}, {elapsed:.0f}s elapsed{extra}; "
            + (f"ETA {eta:.0f}s" if self.rows_done else f"ETA at least {eta:.0f}s (this chunk's quota time; the pace is known "
                                                           "when the first chunk ends)"))


def reconcile(request: ReconcileRequest) -> ReconcileResult:
    started = time.monotonic()
    mapping = request.mapping
    if request.chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {request.chunk_rows}")
    # Customers are chunked by their identity as the tenant matches it (email or id, by the
    # priority), not by a column: every version of a customer must meet in one chunk.
    priority = request.customer_priority
    if mapping.read_by_frames and mapping.entity != "customers":
        # Children in their own table (or a converted window column, or a Python source): chunks of
        # record keys, each record read whole with its children, never a parent without them.
        keys, rows_total = frames_record_keys(request.warehouse, mapping)
        chunks = max(1, math.ceil(rows_total / request.chunk_rows))
        return _reconcile(request, lambda chunk, columns=None: read_frames_chunk(request.warehouse, mapping, keys, chunk, chunks),
                          rows_total, chunks, started, time.monotonic() - started)
    if mapping.read_by_frames:  # customers (a converted window column, a Python source): every row, NULL windows too
        rows_total = frames_row_count(request.warehouse, mapping)
        chunks = 1 if read_key_column(mapping) is None else max(1, math.ceil(rows_total / request.chunk_rows))
        # A customer whose rows carry two identities (an older email) is one chunk's: found once.
        chunking = customer_chunking(request.warehouse, mapping, chunks, priority)
        return _reconcile(request, lambda chunk, columns=None: read_frames_whole(request.warehouse, mapping, chunk, chunks, priority, chunking),
                          rows_total, chunks, started, time.monotonic() - started)
    rows_total = source_row_count(request.warehouse, mapping)
    chunks = 1 if read_key_column(mapping) is None else max(1, math.ceil(rows_total / request.chunk_rows))
    if mapping.source.table and chunks > 1:  # one scan of the table, spilled to Parquet by chunk
        # A folder owned by this run (removed at exit; a killed run's is swept by the next run there).
        scanned_at = now_ms()  # every chunk's rows are of this one scan: its start is their read time (the send-time check)
        with run_scratch(Path(request.spill_dir or tempfile.gettempdir())) as spill, \
                SpilledChunks(request.warehouse, mapping, chunks, spill, priority) as spilled:
            return _reconcile(request, spilled.read, rows_total, chunks, started, time.monotonic() - started, scanned_at)
    by_identity = customer_chunking(request.warehouse, mapping, chunks, priority) if mapping.entity == "customers" else None
    return _reconcile(request, lambda chunk, columns=None: read_source_chunk(request.warehouse, mapping, chunk, chunks, columns, priority,
                                                                             by_identity),
                      rows_total, chunks, started, time.monotonic() - started)


def _reconcile(request: ReconcileRequest, read_chunk: Callable[..., pl.DataFrame], rows_total: int, chunks: int,
               started: float, local: float, read_at: int | None = None) -> ReconcileResult:
    """`read_at`: when the rows of every chunk were read from the warehouse, if in one scan before
    the chunks (None: each chunk's read is its own, timed when it begins)."""
    mapping, ledger, client = request.mapping, request.ledger, request.client
    entity = mapping.entity
    progress = _Progress(request, rows_total, chunks)

    # 1. Deletes, planned before anything is sent: the identity columns of every chunk.
    delete_plan: DeletePlan | None = None
    seen: list[pl.Series] = []
    flagged_rows = pl.DataFrame(schema={"identity": pl.String, "rows": pl.Int64})
    if request.mirror or mapping.source.deleted_column:
        t = time.monotonic()
        flagged: list[pl.DataFrame] = []
        columns = identity_columns(mapping)
        for chunk in range(chunks):
            rows = read_chunk(chunk, columns)
            if request.mirror:
                seen.append(identity_keys(identities(mapping, rows, request.customer_priority)["identity"]).drop_nulls())
            flagged.append(split_deleted(mapping, rows, request.customer_priority).deleted)
        absent = absent_from_source(ledger, pl.concat(seen) if seen else pl.Series(dtype=pl.Int64)) if request.mirror \
            else pl.DataFrame(schema={"identity": pl.String})
        flagged_all = pl.concat(flagged)
        flagged_rows = flagged_all.select("identity", "rows")
        delete_plan = plan_deletes(ledger, flagged_all.select("identity", "api_id"), absent, request.full_refresh)
        local += time.monotonic() - t
    refusal = check_guard(delete_plan, request.guard, rows_total, request.mirror, request.how_to_allow) if delete_plan else None
    if refusal and not request.dry_run:
        raise DeletesRefused(f"reconcile {entity}: {refusal}")

    # 2. Earlier runs' failures: every identity is this run's (the whole source is read), so a
    # queued payload is never sent over what the chunks send; the chunks re-send what the source has.
    queued_ids = ledger.queued()["identity"]
    retried, stop = retry(ledger, client, request.run_id, queued_ids, request.retry_max_attempts,
                          progress=progress.batch, dry_run=request.dry_run)

    # 3. The chunks, each through the stages of a window (lib/sync/sequence.py).
    cached = _CachedLookup(ledger)  # the ledger's keys and hashes, read once, not once per chunk
    history = gate_history(request.store, entity, request.gate, ALL_PARTITIONS)
    by_chunk: list[dict[str, Any]] = []
    gate_tripped = False
    held: GateDecision | None = None
    rows_soft = 0
    carried: set[str] = set()  # deferred identities a chunk carries (its own version went instead)
    chunk_seen: list[pl.Series] = []
    merges: list[pl.DataFrame] = []
    reasons: list[pl.DataFrame] = []
    tied: list[str] = []

    def unit(chunk: int) -> Unit:
        now = datetime.now(UTC)
        return Unit(
            window=Window(entity, f"{ALL_PARTITIONS}:{chunk + 1}/{chunks}", request.run_id, now, now), mapping=mapping,
            client=client, read=lambda: Extracted(read_chunk(chunk), 0), gate=request.gate, history=history,
            customer_priority=request.customer_priority, ledger=ledger, store=request.store, lookup=cached,
            full_refresh=request.full_refresh, dry_run=request.dry_run, progress=progress.batch,
            retry_max_attempts=request.retry_max_attempts, retried=retried, report_retried=chunk == 0, report_ledger=False,
            read_at=read_at)

    # A chunk's partial last batch goes out filled with the next chunk's first records (lib/sync/carry.py).
    carry = CarryOver(client, entity, progress.batch)


    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replenit-prepare") as ahead:
        # The next chunk's local work (read, validate, diff, plan) runs while this one is delivered.
        upcoming: Future[Staged] | None = ahead.submit(lambda: before_delivery(unit(0))) if chunks else None
        for chunk in range(chunks):
            assert upcoming is not None
            staged = upcoming.result()
            upcoming = ahead.submit(before_delivery, unit(chunk + 1)) if chunk + 1 < chunks and stop is None else None
            if stop is not None:
                break
            t = time.monotonic()
            local += staged.local_s
            rows_soft += staged.split.rows_deleted
            gate_tripped |= staged.decision.held_back
            held = _most_held(held, staged.decision)
            prepared = staged.prepared
            if request.mirror:
                chunk_seen += [identity_keys(prepared.records["__key"]).drop_nulls(),
                               identity_keys(prepared.quarantine["record_id"]).drop_nulls()]
            if not request.dry_run:
                carried |= set(staged.deferred)
            result, stop = from_delivery(unit(chunk), staged, t,
                                         partial(carry.send, following=_next_plan(upcoming, ledger, request.run_id, request.full_refresh)))
            by_chunk.append(_chunk_counts(result))
            _planned_as_sent(request, by_chunk[-1], carry, staged, upcoming)
            _keep_examples(prepared, merges, reasons, tied)
            progress.chunk_done(chunk, staged.split.rows_deleted + prepared.rows_read, by_chunk[-1]["requests"])

    # 4. Deletes, after the upserts, unless a gate tripped or the run stopped.
    if delete_plan is not None and request.mirror and chunk_seen:
        # Absent by the first pass's identities AND by the chunks' own (validated) identities.
        still = identity_keys(delete_plan.identities).is_in(pl.concat(chunk_seen).unique().implode()).to_list()
        keep = [i for i, (why, present) in enumerate(zip(delete_plan.reasons, still, strict=True)) if why != "absent" or not present]
        delete_plan = _subset(delete_plan, keep)
    done, stop = finish_deletes(client, ledger, delete_plan, flagged_rows, rows_soft, gate_tripped, stop, request.dry_run,
                                progress.batch)
    deleted = done.deleted
    if stop is None and not request.dry_run and len(by_chunk) == chunks:
        # Every chunk was read: a queued payload no chunk carries is of a record the source no
        # longer has (absent, soft-deleted, deleted above). Never re-sent: it would bring back what
        # the warehouse says is gone (as a window drops its own: lib/sync/sequence.py).
        obsolete = sorted(set(retried.deferred) - carried)
        if obsolete:
            ledger.dequeue(obsolete)
    outcome = ReconcileResult(
        entity=entity, run_id=request.run_id, chunks=chunks, counts_by_chunk=by_chunk, retried=retried, deletes=deleted,
        delete_plan=delete_plan, rows_deleted=done.rows_deleted, rows_soft_deleted_read=rows_soft, rows_deletes_held_back=done.rows_held,
        rows_deletes_failed=done.rows_failed, gate_tripped=gate_tripped, held=held, dry_run=request.dry_run, mirror=request.mirror,
        full_refresh=request.full_refresh, ledger_size=ledger.size(), duration_s=time.monotonic() - started, local_s=local,
        refused=refusal or "", stop_error=str(stop) if stop else None,
        merges=_largest_merges(pl.concat(merges)) if merges else pl.DataFrame(schema=MERGES_SCHEMA),
        reasons=_summed_reasons(reasons),
        tied_examples=tied,
    )
    if stop is not None:
        stop.result = outcome  # what was done before the stop, for the caller to show
        raise stop
    return outcome


def _planned_as_sent(request: ReconcileRequest, counts: dict[str, Any], carry: CarryOver, staged: Staged,
                     upcoming: "Future[Staged] | None") -> None:
    """A dry run's requests_planned for a chunk: what the real run sends, partial batches filled
    across chunks (lib/sync/carry.py), not one partial batch a chunk."""
    if request.dry_run:
        counted = carry.count(staged.planned, _next_plan(upcoming, request.ledger, request.run_id))
        counts["requests_planned"] += counted - len(staged.planned.batches)


def _next_plan(upcoming: "Future[Staged] | None", ledger: Ledger, run_id: str, full_refresh: bool = False
               ) -> Callable[[], NextPlan | None]:
    """The next chunk's plan when a partial batch asks for it (waiting for its local stages)."""
    def next_plan() -> NextPlan | None:
        if upcoming is None:
            return None
        try:
            nxt = upcoming.result()
        except Exception:  # noqa: BLE001 - raised again where the loop takes that chunk
            return None
        if nxt.decision.held_back or not nxt.planned.parts:
            return None
        return NextPlan(nxt.planned, on_accepted(ledger, nxt.changes, run_id, delete_ids(nxt.prepared, nxt.changes), nxt.read_at),
                        send_check(ledger, nxt.changes.keys, nxt.changes.hashes, run_id, nxt.read_at, full_refresh))
    return next_plan


def _subset(plan: DeletePlan, keep: list[int]) -> DeletePlan:
    out = DeletePlan(plan.entity, ledger_size=plan.ledger_size)
    out.identities = [plan.identities[i] for i in keep]
    out.api_ids = [plan.api_ids[i] for i in keep]
    out.reasons = [plan.reasons[i] for i in keep]
    return out


MERGES_KEPT = 10


def _keep_examples(prepared: Any, merges: list[pl.DataFrame], reasons: list[pl.DataFrame], tied: list[str]) -> None:
    """A chunk's largest merges, every (rule, field) of its quarantine, counted, and its records with
    rows tied on time until there are a few: what the run's summary shows, kept small over any number
    of chunks."""
    if prepared.merges.height:
        merges.append(_largest_merges(prepared.merges))
    if prepared.quarantine.height:
        reasons.append(prepared.top_reasons(n=prepared.quarantine.height))
    tied += prepared.tied_examples[:max(0, TIED_EXAMPLES - len(tied))]


def _summed_reasons(reasons: list[pl.DataFrame]) -> pl.DataFrame:
    """The chunks' (rule, field) counts summed, most rows first (ties by rule and field, so the
    order is the same every run), with the first chunk's example."""
    if not reasons:
        return pl.DataFrame(schema={"rule": pl.String, "field": pl.String, "rows": pl.UInt32, "example": pl.String})
    return (pl.concat(reasons).group_by("rule", "field", maintain_order=True)
            .agg(pl.col("rows").sum(), pl.col("example").first())
            .sort(["rows", "rule", "field"], descending=[True, False, False]))


def _largest_merges(merges: pl.DataFrame) -> pl.DataFrame:
    """The merges worth showing as examples: the largest few (memory stays flat over chunks)."""
    return merges.sort(pl.col("merged").list.len(), "identity", descending=[True, False]).head(MERGES_KEPT)


def _most_held(held: GateDecision | None, decision: GateDecision) -> GateDecision | None:
    """Of the chunks the gate held back, the decision with the largest share: the one a limit must pass."""
    if decision.held_back and (held is None or decision.share > held.share):
        return decision
    return held


def _chunk_counts(result: SyncResult) -> dict[str, Any]:
    c = result.counts()
    return {k: c[k] for k in _SUMMED if k in c}


class _CachedLookup:
    """What the diff reads of the ledger, with the whole-ledger `lookup_keys` read once for the run
    and filtered to each chunk's identities (a chunk's own acknowledgements never meet a later
    chunk: a record's rows are all in one chunk)."""

    def __init__(self, ledger: Ledger):
        self._ledger = ledger
        self._all: pl.DataFrame | None = None

    def lookup_keys(self, identities_asked: pl.Series | Sequence[str]) -> pl.DataFrame:
        if self._all is None:
            # An empty ledger (a first load) stays empty for this run's lookups; otherwise the whole
            # ledger's integer keys and hashes, once, the content hash held as Int128 (16 bytes a
            # row where a Binary view takes 32: 160 MB at 10M).
            if self._ledger.size() == 0:
                self._all = pl.DataFrame(schema={"idkey": pl.Int64, "hash": pl.Int128, "exact": pl.Int128})
            else:
                self._all = self._ledger.all_key_hashes()
        asked = pl.Series("identity", identities_asked, dtype=pl.String)
        found = self._all.filter(pl.col("idkey").is_in(identity_keys(asked).drop_nulls().implode()))
        return found.with_columns(hashes_as_binary(found["hash"]))

    def queued(self, statuses: Iterable[str] = RETRY_STATUSES) -> pl.DataFrame:
        return self._ledger.queued(statuses)
