"""One sync of one entity over one time window: extract, prepare, gate, deliver, record.

Plain Python: the Dagster assets call this, the benches call it directly, and its accounting
always closes: rows read = delivered + quarantined + superseded + unchanged + dead-lettered
+ held back (valid rows not sent because the quarantine gate tripped: lib/sync/gate.py).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY
from replenit_pipelines.lib.delivery import BatchProgress, DeliveryReport, ReplenitClient, ReplenitStopError
from replenit_pipelines.lib.sync.gate import GateDecision, GatePolicy, decide
from replenit_pipelines.lib.sync.state import StateStore
from replenit_pipelines.lib.validation import Prepared, payload_parts, prepare
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse

DEAD_LETTER_SCHEMA = {"record_id": pl.String, "status": pl.String, "reasons": pl.List(pl.String), "payload": pl.String}


@dataclass
class SyncResult:
    entity: str
    partition_key: str
    window_start: datetime
    window_end: datetime
    prepared: Prepared
    report: DeliveryReport | None  # None when nothing was sent
    quarantine_share: float
    held_back: bool  # the quarantine gate tripped: nothing sent
    rows_delivered: int
    rows_dead_lettered: int
    rows_held_back: int
    duration_s: float
    stop_error: str | None = None
    gate: GateDecision | None = None
    rows_without_window_value: int = 0  # in the whole source, read by no window (not part of rows_read)

    @property
    def rows_unchanged(self) -> int:
        return 0  # change detection against the acknowledged ledger comes next

    def counts(self) -> dict[str, int | float]:
        p, r = self.prepared, self.report
        c = r.counters if r is not None else None
        return {
            "rows_read": p.rows_read,
            "rows_valid": p.rows_valid,
            "rows_quarantined": p.rows_quarantined,
            "rows_superseded": p.rows_superseded,
            "rows_unchanged": self.rows_unchanged,
            "rows_delivered": self.rows_delivered,
            "rows_dead_lettered": self.rows_dead_lettered,
            "rows_held_back": self.rows_held_back,
            "records_valid": p.records_valid,
            "records_quarantined": p.records_quarantined,
            "records_sent": r.records if r else 0,
            "records_accepted": len(r.accepted) if r else 0,
            "records_rejected": len(r.rejected) if r else 0,
            "records_failed": len(r.failed) if r else 0,
            "requests": c.requests if c else 0,
            "rate_limited_429": c.rate_limited if c else 0,
            "retries": c.retries if c else 0,
            "quota_wait_s": round(c.quota_wait_s, 3) if c else 0.0,
            "records_per_request": round(r.records_per_request, 1) if r else 0.0,
            "quarantine_share": round(self.quarantine_share, 4),
            "rows_without_window_value": self.rows_without_window_value,
            "duration_s": round(self.duration_s, 3),
        }

    def balanced(self) -> bool:
        p = self.prepared
        return p.rows_read == (self.rows_delivered + p.rows_quarantined + p.rows_superseded + self.rows_unchanged
                               + self.rows_dead_lettered + self.rows_held_back)


def _dead_letters(prepared: Prepared, report: DeliveryReport, parts: list[bytes]) -> pl.DataFrame:
    keys = prepared.records["__key"]
    rows = [
        (keys[i], "rejected", reasons, parts[i].decode()) for i, reasons in sorted(report.rejected.items())
    ] + [
        (keys[i], "failed", [reason], parts[i].decode()) for i, reason in sorted(report.failed.items())
    ]
    return pl.DataFrame(rows, schema=DEAD_LETTER_SCHEMA, orient="row")


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


def sync_window(request: SyncRequest) -> SyncResult:
    mapping, warehouse, client, store = request.mapping, request.warehouse, request.client, request.store
    start, end, partition_key, run_id = request.start, request.end, request.partition_key, request.run_id
    gate, progress, customer_priority = request.gate, request.progress, request.customer_priority
    started = time.monotonic()
    without_window_value = warehouse.rows_without_window_value(mapping)  # before sending: a failure costs no quota
    prepared = prepare(mapping, warehouse.read(mapping, start, end), customer_priority=customer_priority)
    history = store.recent_runs(mapping.entity, gate.baseline_runs, partition_key) if store and gate.mode == "baseline" else []
    decision = decide(gate, prepared.rows_read, prepared.rows_superseded, prepared.rows_quarantined, history)
    share, held_back = decision.share, decision.held_back
    report: DeliveryReport | None = None
    stop: ReplenitStopError | None = None
    parts: list[bytes] = []
    if not held_back and prepared.records_valid:
        parts = payload_parts(prepared.records)
        try:
            report = client.deliver_serialized(mapping.entity, parts, progress)
        except ReplenitStopError as exc:
            stop, report = exc, exc.report
    row_counts = prepared.records["__rows"]
    delivered = int(row_counts.gather(report.accepted).sum()) if report and report.accepted else 0
    dead_idx = sorted(set(report.rejected) | set(report.failed)) if report else []
    dead = int(row_counts.gather(dead_idx).sum()) if dead_idx else 0
    result = SyncResult(
        entity=mapping.entity, partition_key=partition_key, window_start=start, window_end=end,
        prepared=prepared, report=report, quarantine_share=share, held_back=held_back,
        rows_delivered=delivered, rows_dead_lettered=dead, rows_held_back=prepared.rows_valid if held_back else 0,
        duration_s=time.monotonic() - started, stop_error=str(stop) if stop else None, gate=decision,
        rows_without_window_value=without_window_value,
    )
    if store is not None:
        dead_letters = _dead_letters(prepared, report, parts) if report else pl.DataFrame(schema=DEAD_LETTER_SCHEMA)
        outcome = "stopped" if stop else "held_back" if held_back else "failed" if dead else "delivered"
        counts = result.counts()
        store.record(run_id, partition_key, mapping.entity, prepared.quarantine, dead_letters, {
            "run_id": run_id, "partition_key": partition_key, "entity": mapping.entity, "window_start": start,
            "window_end": end, "outcome": outcome, **{k: v for k, v in counts.items() if k.startswith("rows_")},
            "requests": counts["requests"],
        })
    if stop is not None:
        raise stop
    return result
