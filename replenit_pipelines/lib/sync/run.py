"""One sync of one entity over one time window: its stages in order (lib/sync/sequence.py, drawn
in docs/architecture.md): extract, map, validate, the quarantine gate, retry (earlier runs'
failures, before new work), diff (against the acknowledged-state ledger), plan, deliver
(acknowledging each accepted batch in the ledger), acknowledge, the window's soft deletes, report.

Plain Python: the Dagster assets call this, the benches call it directly, and its accounting
always closes: rows read = delivered + quarantined + superseded + unchanged + dead-lettered
+ held back (valid rows not sent because the quarantine gate tripped: lib/validation/gate.py). A dry run
(`SyncRequest.dry_run`) counts the rows it would send as `rows_planned` instead of delivered.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY
from replenit_pipelines.lib.delivery import BatchProgress, ReplenitClient
from replenit_pipelines.lib.ledger import DEFAULT_MAX_ATTEMPTS, Ledger
from replenit_pipelines.lib.stages.acknowledge import DEAD_LETTER_SCHEMA
from replenit_pipelines.lib.stages.delete import DeleteGuard
from replenit_pipelines.lib.stages.extract import extract
from replenit_pipelines.lib.stages.report import SyncResult, Window
from replenit_pipelines.lib.stages.validate import gate_history
from replenit_pipelines.lib.state.store import StateStore
from replenit_pipelines.lib.sync.sequence import SoftDeletes, Unit, run_unit
from replenit_pipelines.lib.validation.gate import GatePolicy
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
    # A run over several partitions ([start, end) is their union): each one's start, in order, so the
    # result's counts split per partition (lib/stages/lookback.py partition_counts).
    partition_starts: tuple[datetime, ...] = ()


def sync_window(request: SyncRequest) -> SyncResult:
    """Every stage of one window, in order (lib/sync/sequence.py). A ReplenitStopError (the API
    refused the key or tenant, or cannot be reached) is raised with the result so far as `.result`."""
    mapping, start, end = request.mapping, request.start - request.lookback, request.end
    result, stop = run_unit(Unit(
        window=Window(mapping.entity, request.partition_key, request.run_id, request.start, request.end),
        mapping=mapping, client=request.client, read=lambda: extract(mapping, request.warehouse, start, end, request.customer_priority),
        gate=request.gate, history=gate_history(request.store, mapping.entity, request.gate, request.partition_key),
        customer_priority=request.customer_priority, ledger=request.ledger, store=request.store,
        full_refresh=request.full_refresh, dry_run=request.dry_run, progress=request.progress, lookback=request.lookback,
        retry_max_attempts=request.retry_max_attempts,
        # Records whose newest change is before the partition were read for the lookback: counted apart.
        lookback_before=request.start if request.lookback else None, partition_starts=request.partition_starts,
        soft_deletes=SoftDeletes(request.delete_guard, request.how_to_allow_deletes),
    ))
    if stop is not None:
        stop.result = result  # what was judged before the stop (the Dagster checks)
        raise stop
    return result
