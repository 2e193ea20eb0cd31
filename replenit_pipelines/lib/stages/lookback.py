"""A partition's own counts, apart from its lookback's.

A run reads its partition's window and, before it, a lookback for late rows (lib/sync/run.py:
[start - lookback, end)). What a user compares across partitions is the window's own work, so the
run's counts are split: a record belongs to the lookback when its newest change (before the
partition's end: a later one is a later partition's) is before the partition's start (lib/validation/prepare.py `__lookback`), and all its rows with it; quarantined
and superseded rows likewise by their record's newest change. Both halves close on their own:
rows read = delivered + quarantined + superseded + unchanged + dead-lettered + held back + planned
(+ deleted: soft-deleted rows, taken out before validation, count in the window).

Counts that belong to the run, not to rows (requests, retries of earlier runs' failures, the
ledger's size, deletes), are not split.
"""

from typing import Any

import polars as pl

from replenit_pipelines.lib.stages.acknowledge import NEWER_ELSEWHERE, STORED_ELSEWHERE
from replenit_pipelines.lib.stages.report import SyncResult

# The counts split between the window and the lookback.
SPLIT_ROWS = ("rows_read", "rows_valid", "rows_quarantined", "rows_superseded", "rows_unchanged", "rows_delivered",
              "rows_dead_lettered", "rows_held_back", "rows_not_attempted", "rows_planned", "rows_newer_elsewhere",
              "rows_stored_elsewhere")
SPLIT_RECORDS = ("records_valid", "records_sent", "records_accepted", "records_unchanged")
SPLIT = SPLIT_ROWS + SPLIT_RECORDS
# rows read = the sum of these (a closed account), in the window and in the lookback alike.
ACCOUNT = ("rows_delivered", "rows_quarantined", "rows_superseded", "rows_unchanged", "rows_dead_lettered",
           "rows_held_back", "rows_planned", "rows_deleted")


def lookback_counts(result: SyncResult) -> dict[str, int]:
    """The SPLIT counts of the rows and records the run read for its lookback (all 0 without one)."""
    records = result.prepared.records
    if not result.prepared.lookback_rows or "__lookback" not in records.columns:
        return dict.fromkeys(SPLIT, 0)
    flags = records["__lookback"].to_list()
    return share_counts(result, {i for i, f in enumerate(flags) if f}, result.prepared.lookback_rows)


def share_counts(result: SyncResult, mine: set[int], rows: dict[str, int]) -> dict[str, int]:
    """The SPLIT counts of a share of the run: its valid records (positions in `prepared.records`)
    and its rows read, valid, quarantined and superseded (`rows`)."""
    out = dict.fromkeys(SPLIT, 0)
    if not rows:
        return out
    records = result.prepared.records
    out.update({k: rows[k] for k in ("rows_read", "rows_valid", "rows_quarantined", "rows_superseded")})
    counts = records["__rows"].cast(pl.Int64).to_list()
    out["records_valid"] = len(mine)
    if result.held_back:  # the gate held the window back: every valid row is held back, nothing sent
        out["rows_held_back"] = rows["rows_valid"]
        return out
    diff, report = result.diff, result.report
    to_send = list(diff.to_send) if diff is not None else []
    held = set(diff.held["__pos"].to_list()) if diff is not None and diff.held.height else set()

    def total(indices: Any) -> int:
        return sum(counts[i] for i in indices if i in mine)

    def count(indices: Any) -> int:
        return sum(1 for i in indices if i in mine)

    unchanged = mine - set(to_send) - held
    out.update(rows_unchanged=total(unchanged), records_unchanged=len(unchanged), rows_dead_lettered=total(held))
    if result.dry_run or report is None:
        out["rows_planned"] = total(to_send) if result.dry_run else 0
        return out
    accepted = [to_send[p] for p in report.accepted]
    not_sent = [to_send[p] for p in report.not_sent]
    dead = [to_send[p] for p in (set(report.rejected) | set(report.failed)) - report.not_sent]
    # Taken out by the send-time check (lib/stages/acknowledge.py): superseded, or unchanged.
    newer = total(to_send[p] for p, why in report.skipped.items() if why == NEWER_ELSEWHERE)
    stored = total(to_send[p] for p, why in report.skipped.items() if why == STORED_ELSEWHERE)
    sent = [pos for p, pos in enumerate(to_send) if p not in report.not_sent and p not in report.skipped]
    out.update(records_sent=count(sent), records_accepted=count(accepted), rows_delivered=total(accepted),
               rows_not_attempted=total(not_sent), rows_held_back=total(not_sent),
               rows_dead_lettered=out["rows_dead_lettered"] + total(dead), rows_newer_elsewhere=newer,
               rows_superseded=out["rows_superseded"] + newer, rows_stored_elsewhere=stored,
               rows_unchanged=out["rows_unchanged"] + stored)
    return out


def partition_counts(result: SyncResult, partitions: int) -> list[dict[str, int]]:
    """A run over `partitions` partitions (SyncRequest.partition_starts): each one's own SPLIT
    counts and rows_deleted, each closing on its own, together the window's own (window_counts).
    A record counts in the partition of its newest change, with all its rows (as the lookback
    split). The last partition is the rest of the window: it holds the soft-deleted rows too (taken
    out before validation, never assigned), so the parts always add up to the window."""
    own, _ = window_counts(result)
    records, by_part = result.prepared.records, result.prepared.partition_rows
    index = records["__part"].to_list() if "__part" in records.columns else [0] * records.height
    lookback = records["__lookback"].to_list() if "__lookback" in records.columns else [False] * records.height
    parts = []
    for p in range(partitions - 1):
        mine = {i for i, (q, lb) in enumerate(zip(index, lookback, strict=True)) if q == p and not lb}
        parts.append({**share_counts(result, mine, by_part.get(p, {})), "rows_deleted": 0})
    rest = {k: int(own[k]) - sum(part[k] for part in parts) for k in SPLIT}
    return [*parts, {**rest, "rows_deleted": int(own["rows_deleted"])}]


def window_counts(result: SyncResult) -> tuple[dict[str, int | float], dict[str, int]]:
    """(the run's counts with the SPLIT ones the window's own, the lookback's SPLIT counts)."""
    counts = dict(result.counts())
    lookback = lookback_counts(result)
    for k in SPLIT:
        counts[k] = counts[k] - lookback[k]
    return counts, lookback


def closes(counts: dict[str, Any]) -> bool:
    """rows read = the sum of the ACCOUNT counts (a missing one is 0)."""
    return counts["rows_read"] == sum(int(counts.get(k, 0)) for k in ACCOUNT)
