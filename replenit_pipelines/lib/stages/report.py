"""The report stage: one sync's counts, its record in the state store, and what a run shows about
itself (quarantine reasons as a Markdown table, the column schema with each field's origin, the
column lineage), as plain data. defs/translator.py turns these into Dagster metadata.

Its accounting always closes: rows read = delivered + quarantined + superseded + unchanged +
dead-lettered + held back (valid rows not sent because the quarantine gate tripped). Records the
send-time check did not send count as superseded (`rows_newer_elsewhere`: another run stored a
version read later) or unchanged (`rows_stored_elsewhere`: another run stored this content). Of the
superseded rows, `rows_merged` are rows of customers the tenant merges into another one (a shared
email): counted and shown apart (`records_merged`, `merge_warning`), never silent.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from replenit_pipelines.lib.delivery import DeliveryReport
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.ledger import Ledger
from replenit_pipelines.lib.privacy import mask_identity, masked_merges
from replenit_pipelines.lib.stages.acknowledge import Acknowledged
from replenit_pipelines.lib.stages.delete import Deleted
from replenit_pipelines.lib.stages.diff import Diff
from replenit_pipelines.lib.stages.extract import Extracted
from replenit_pipelines.lib.stages.plan import Plan
from replenit_pipelines.lib.stages.retry import Retried
from replenit_pipelines.lib.state.store import StateStore
from replenit_pipelines.lib.validation.gate import GateDecision
from replenit_pipelines.lib.validation.prepare import Prepared
from replenit_pipelines.lib.warehouse import EntityMapping, FieldMapping


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
    rows_held_back: int  # valid rows not sent: the gate held the window back, or the delivery stopped before them
    duration_s: float
    stop_error: str | None = None
    gate: GateDecision | None = None
    rows_without_window_value: int = 0  # in the whole source, read by no window (not part of rows_read)
    rows_unparsable_window_value: int = 0  # likewise, their window value does not parse (not part of rows_read)
    unparsable_window_examples: list[str] = field(default_factory=list)  # a few of those values
    rows_unchanged: int = 0  # rows of records Replenit already holds (the diff stage)
    diff: Diff | None = None
    retried: Retried | None = None  # earlier runs' failures re-sent first (not part of rows_read)
    ledger_size: int | None = None  # acknowledged identities of the entity at this scope (None: no ledger)
    ledger_newest_ack: datetime | None = None
    lookback: timedelta = timedelta(0)  # the run read [window_start - lookback, window_end)
    rows_not_attempted: int = 0  # of rows_held_back: never sent because the delivery stopped first (queued for the next run)
    records_not_attempted: int = 0
    dry_run: bool = False  # planned, nothing sent: rows_planned stands for delivered and failed
    rows_planned: int = 0  # rows of the records a dry run would send
    records_planned: int = 0  # records a dry run would send (this window's, then retries)
    requests_planned: int = 0  # requests a dry run would spend (retries first, then this window's)
    rows_soft_deleted: int = 0  # rows taken out before validation by the soft-delete column (part of rows_read)
    rows_deleted: int = 0  # of those, the rows of records deleted (or, in a dry run, to be deleted)
    deletes: dict[str, int] = field(default_factory=dict)  # lib/stages/delete.py Deleted.counts()
    # The send-time check (lib/stages/acknowledge.py send_check): records not sent because another
    # run stored a version read later (part of rows_superseded) or this very content (part of
    # rows_unchanged) between this run's diff and its request.
    rows_newer_elsewhere: int = 0
    records_newer_elsewhere: int = 0
    rows_stored_elsewhere: int = 0
    records_stored_elsewhere: int = 0

    def counts(self) -> dict[str, int | float]:
        p, r = self.prepared, self.report
        c = r.counters if r is not None else None
        return {
            "rows_read": p.rows_read + self.rows_soft_deleted,
            "rows_valid": p.rows_valid,
            "rows_quarantined": p.rows_quarantined,
            "rows_superseded": p.rows_superseded + self.rows_newer_elsewhere,
            "rows_merged": p.rows_merged,  # of rows_superseded
            "rows_tied": p.rows_tied,  # of rows_superseded: lost on content to a row of the same time (tie_warning)
            "rows_newer_elsewhere": self.rows_newer_elsewhere,  # of rows_superseded: a newer read was stored by another run
            "rows_unchanged": self.rows_unchanged,
            "rows_stored_elsewhere": self.rows_stored_elsewhere,  # of rows_unchanged: stored by another run since the diff
            "rows_delivered": self.rows_delivered,
            "rows_dead_lettered": self.rows_dead_lettered,
            "rows_held_back": self.rows_held_back,
            "rows_not_attempted": self.rows_not_attempted,
            "records_not_attempted": self.records_not_attempted,
            "rows_planned": self.rows_planned,
            "rows_deleted": self.rows_deleted,
            "records_valid": p.records_valid,
            "records_quarantined": p.records_quarantined,
            "records_merged": p.records_merged,
            "records_newer_elsewhere": self.records_newer_elsewhere,
            "records_stored_elsewhere": self.records_stored_elsewhere,
            "records_without_children": records_without_children(p),
            # Sent: in a request the API answered or that failed after its retries. Not those the
            # send-time check took out (records_*_elsewhere) nor those a stopped delivery never sent
            # (records_not_attempted): those are no failures either.
            "records_sent": r.records - len(r.skipped) - len(r.not_sent) if r else 0,
            "records_accepted": len(r.accepted) if r else 0,
            "records_rejected": len(r.rejected) if r else 0,
            "records_failed": len(r.failed.keys() - r.not_sent) if r else 0,
            "requests": c.requests if c else 0,
            "rate_limited_429": c.rate_limited if c else 0,
            "retries": c.retries if c else 0,
            "quota_wait_s": round(c.quota_wait_s, 3) if c else 0.0,
            "records_per_request": round(r.records_per_request, 1) if r else 0.0,
            "quarantine_share": round(self.quarantine_share, 4),
            # The share above which the gate holds a window back (quarantine_share is what it judged).
            **({"gate_threshold": round(self.gate.threshold, 4)} if self.gate is not None else {}),
            # The gate held the window back: a failure even when no valid row was left to hold
            # (every row quarantined by a broken mapping), so rows_held_back alone cannot say it.
            "gate_tripped": int(self.held_back),
            "dry_run": int(self.dry_run),
            "records_planned": self.records_planned,
            "requests_planned": self.requests_planned,
            **{"records_to_delete": 0, "records_deleted": 0, "records_already_gone": 0, "records_delete_failed": 0,
               "records_not_deletable": 0, "records_not_deletable_planned": 0, "delete_requests": 0, **self.deletes},
            **self.ledger_counts(),
            "rows_without_window_value": self.rows_without_window_value,
            "rows_unparsable_window_value": self.rows_unparsable_window_value,
            "lookback_hours": round(self.lookback.total_seconds() / 3600, 3),
            "duration_s": round(self.duration_s, 3),
        }

    def ledger_counts(self) -> dict[str, int]:
        """The diff's and the retry queue's counts: records, except rows_held (dead-lettered rows
        of records held because the API rejected this same content before)."""
        d, r = self.diff, self.retried
        return {
            "records_new": d.records_new if d else 0, "records_changed": d.records_changed if d else 0,
            "records_unchanged": d.records_unchanged if d else 0, "records_refreshed": d.records_refreshed if d else 0,
            "records_held": d.records_held if d else 0, "rows_held": d.rows_held if d else 0,
            "records_retried": r.records_retried if r else 0,
            "records_retry_accepted": r.records_retry_accepted if r else 0,
            "records_retry_failed": r.records_retry_failed + r.records_retry_rejected if r else 0,
            "records_needs_attention": r.records_needs_attention if r else 0,
            "retry_requests": r.requests if r else 0,
            "full_refresh": int(bool(d and d.full_refresh)),
            "ledger_size": self.ledger_size if self.ledger_size is not None else 0,
        }

    def balanced(self) -> bool:
        p = self.prepared
        return p.rows_read + self.rows_soft_deleted == (
            self.rows_delivered + p.rows_quarantined + p.rows_superseded + self.rows_newer_elsewhere + self.rows_unchanged
            + self.rows_dead_lettered + self.rows_held_back + self.rows_planned + self.rows_deleted)


@dataclass(frozen=True)
class Window:
    entity: str
    partition_key: str
    run_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SoftDeleted:
    """Rows taken out by the soft-delete column (part of rows read), and what became of them: the
    rows deleted (in a dry run: to be deleted) and the rows whose delete failed or cannot be made
    (dead-lettered); the rest were held back."""

    rows: int = 0
    rows_deleted: int = 0
    rows_failed: int = 0


@dataclass(frozen=True)
class Outcome:
    """What the stages of one window (or reconciliation chunk) found, for the report stage."""

    window: Window
    extracted: Extracted
    prepared: Prepared
    decision: GateDecision
    changes: Diff
    acknowledged: Acknowledged
    duration_s: float
    delivery: DeliveryReport | None = None  # None when nothing was sent
    stop: Exception | None = None
    retried: Retried | None = None  # earlier runs' failures re-sent first (a reconciliation: on its first chunk)
    ledger: Ledger | None = None  # for its size and newest acknowledgement (None: not shown)
    lookback: timedelta = timedelta(0)
    planned: Plan | None = None  # a dry run: what would be sent, in how many requests
    soft_deleted: SoftDeleted = field(default_factory=SoftDeleted)
    deletes: Deleted | None = None  # this window's deletes (a reconciliation reports its own, once)


def report(outcome: Outcome, store: StateStore | None) -> SyncResult:
    """The sync's result, recorded in the state store (quarantine, dead letters, the run's counts)
    unless `store` is None. With `outcome.planned` (a dry run) it is the plan: what would be sent,
    in how many requests. The deletes' failures are recorded as dead letters, with why."""
    o, prepared, decision, acknowledged = outcome, outcome.prepared, outcome.decision, outcome.acknowledged
    window, soft, changes, retried = o.window, o.soft_deleted, o.changes, o.retried
    deletes = o.deletes.counts() if o.deletes is not None else {}
    result = SyncResult(
        entity=window.entity, partition_key=window.partition_key, window_start=window.start, window_end=window.end,
        prepared=prepared, report=o.delivery, quarantine_share=decision.share, held_back=decision.held_back,
        rows_delivered=acknowledged.rows_delivered, rows_dead_lettered=acknowledged.rows_dead_lettered + soft.rows_failed,
        rows_held_back=(prepared.rows_valid if decision.held_back else acknowledged.rows_not_attempted)
        + soft.rows - soft.rows_deleted - soft.rows_failed,
        rows_not_attempted=acknowledged.rows_not_attempted, records_not_attempted=acknowledged.records_not_attempted,
        duration_s=o.duration_s, rows_soft_deleted=soft.rows, rows_deleted=soft.rows_deleted, deletes=deletes,
        stop_error=str(o.stop) if o.stop else None, gate=decision,
        rows_without_window_value=o.extracted.rows_without_window_value,
        rows_unparsable_window_value=o.extracted.rows_unparsable_window_value,
        unparsable_window_examples=list(o.extracted.unparsable_window_examples),
        rows_unchanged=changes.rows_unchanged + acknowledged.rows_stored_elsewhere, diff=changes, retried=retried,
        rows_newer_elsewhere=acknowledged.rows_newer_elsewhere, records_newer_elsewhere=acknowledged.records_newer_elsewhere,
        rows_stored_elsewhere=acknowledged.rows_stored_elsewhere, records_stored_elsewhere=acknowledged.records_stored_elsewhere,
        ledger_size=o.ledger.size() if o.ledger is not None else None,
        ledger_newest_ack=newest_ack(o.ledger), lookback=o.lookback,
    )
    if o.planned is not None:
        rows = prepared.records["__rows"]
        result.dry_run = True
        result.rows_planned = int(rows.gather(changes.to_send).sum()) if changes.to_send else 0
        result.records_planned = len(o.planned.parts) + (retried.records_retried if retried else 0)
        result.requests_planned = len(o.planned.batches) + (retried.requests_planned if retried else 0)
    if store is not None:
        undeleted = deletes.get("records_delete_failed", 0) + deletes.get("records_not_deletable", 0)
        outcome_text = ("stopped" if o.stop else "held_back" if decision.held_back
                        else "failed" if acknowledged.rows_dead_lettered or undeleted else "delivered")
        counts = result.counts()
        letters = acknowledged.dead_letters
        delete_letters = o.deletes.dead_letters(window.entity) if o.deletes is not None else None
        if delete_letters is not None and delete_letters.height:
            letters = pl.concat([letters, delete_letters], how="diagonal_relaxed")
        store.record(window.run_id, window.partition_key, window.entity, prepared.quarantine, letters, {
            "run_id": window.run_id, "partition_key": window.partition_key, "entity": window.entity,
            "window_start": window.start, "window_end": window.end, "outcome": outcome_text,
            **{k: v for k, v in counts.items() if k.startswith("rows_")}, "requests": counts["requests"] + counts["retry_requests"],
        })
    return result


def records_without_children(prepared: Prepared) -> int:
    """Valid records whose child array is empty (`OrderItems: []`, `ProductVariants: []`): every row
    of theirs had every child column NULL. The API replaces the array whole, so sending one
    removes the children Replenit holds: counted in every run, never silent."""
    columns = [c for c, t in prepared.records.schema.items() if not c.startswith("__") and isinstance(t, pl.List)
               and isinstance(t.inner, pl.Struct)]
    if not columns:
        return 0
    return int((prepared.records[columns[0]].list.len() == 0).sum())


def newest_ack(ledger: Ledger | None) -> datetime | None:
    at = ledger.newest_ack() if ledger is not None else None
    return datetime.fromtimestamp(at / 1000, UTC) if at is not None else None


# --- what a run shows about itself (plain data; defs/translator.py makes Dagster metadata of it) ----

def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


MERGE_EXAMPLES = 5


def merge_warning(what: str, records_merged: int, rows_merged: int, merges: pl.DataFrame) -> str | None:
    """One sentence on the customers the tenant merges (a shared email under the `email`
    priority), with masked examples; None when there are none. `what`: "customers 2026-11-26"."""
    if not records_merged:
        return None
    examples = "; ".join(f"{identity}: sent {kept}, merged {merged}"
                         for identity, kept, merged, _ in masked_merges(merges, MERGE_EXAMPLES))
    verb = "shares an email with a newer customer and was" if records_merged == 1 else "share an email with a newer customer and were"
    return (f"{what}: {plural(records_merged, 'customer')} ({plural(rows_merged, 'row')}) {verb} not sent: the tenant "
            f"matches customers by email, so it would merge them into one; the newest row is sent, under its own CustomerId "
            f"(e.g. {examples}). If they are different people, give each its own email in the warehouse, or set "
            f"REPLENIT_CUSTOMER_PRIORITY=customerid if the tenant matches by CustomerId.")


def tie_warning(what: str, rows_tied: int, examples: Sequence[str]) -> str | None:
    """One sentence on the superseded rows that were not older: another row of the same record (or
    child, or CustomerId) and the same time said something else, and the content chose between them
    (Prepared.rows_tied); None when there were none. Examples are masked."""
    if not rows_tied:
        return None
    shown = ", ".join(m for m in (mask_identity(e) for e in examples) if m)
    return (f"{what}: {plural(rows_tied, 'row was', 'rows were')} not sent because another row of the same record and the same time said "
            f"something else (e.g. {shown}): the row sent was chosen by its content, not by time. Usually a join that "
            f"fans out (a price per currency, a row per payment or address), or a history table whose older version was "
            f"closed when the newer one was written (Fivetran's history mode: both carry that _fivetran_synced): make "
            f"the query return one row per record and time (of a history table, the current version: WHERE "
            f"_fivetran_active), or give the rows distinct times.")


def newer_elsewhere_note(counts: dict[str, Any]) -> str | None:
    """One sentence on the records the send-time check left out (lib/stages/acknowledge.py
    send_check); None when it left out none."""
    newer, same = int(counts.get("records_newer_elsewhere", 0)), int(counts.get("records_stored_elsewhere", 0))
    parts = ([f"{newer:,} because another run stored a version read from the warehouse after this run's read "
              f"({int(counts.get('rows_newer_elsewhere', 0)):,} rows, counted as superseded)"] if newer else []) + \
        ([f"{same:,} because another run stored the same content since this run's diff "
          f"({int(counts.get('rows_stored_elsewhere', 0)):,} rows, counted as unchanged)"] if same else [])
    if not parts:
        return None
    return "not sent, checked right before their request: " + "; ".join(parts) + ". Replenit holds the newest read."


def field_origin(f: FieldMapping) -> str:
    """Where an API field comes from, in the mapping's words."""
    text = f.describe()
    if f.cast:
        text += f", cast {f.cast}"
    if f.default is not None:
        text += f", default {f.default!r}"
    return text


def column_schema(prepared: Prepared, mapping: EntityMapping) -> list[tuple[str, str, str | None]]:
    """(column, type, where it comes from) of each payload column: a mapped field's origin, or
    how the contract derives it."""
    frame = prepared.records
    origins = {f.target: field_origin(f) for f in mapping.fields}
    child = mapping.spec.children_field
    if child is not None:
        origins[child.name] = "; ".join(f"{f.target.split('.', 1)[1]} <- {field_origin(f)}" for f in mapping.children)
    return [(c, str(frame.schema[c]), origins.get(c) or mapping.spec.derived.get(c))
            for c in frame.columns if not c.startswith("__")]


def column_lineage(mapping: EntityMapping) -> dict[str, list[str]]:
    """API field -> the source columns it is computed from (fields from constants have none)."""
    return {f.target: sorted(f.source_columns()) for f in mapping.all_fields if f.source_columns()}
