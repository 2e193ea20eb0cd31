"""A partition's own counts, apart from its lookback's.

A run reads its partition's window and, before it, a lookback for late rows (lib/sync/run.py:
[start - lookback, end)). What a user compares across partitions is the window's own work, so the
run's counts are split: a record belongs to the lookback when its newest change is before the
partition's start (lib/validation/prepare.py `__lookback`), and all its rows with it; quarantined
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
    out = dict.fromkeys(SPLIT, 0)
    lb, records = result.prepared.lookback_rows, result.prepared.records
    if not lb or "__lookback" not in records.columns:
        return out
    out.update({k: lb[k] for k in ("rows_read", "rows_valid", "rows_quarantined", "rows_superseded")})
    flags = records["__lookback"].to_list()
    rows = records["__rows"].cast(pl.Int64).to_list()
    mine = {i for i, f in enumerate(flags) if f}
    out["records_valid"] = len(mine)
    if result.held_back:  # the gate held the window back: every valid row is held back, nothing sent
        out["rows_held_back"] = lb["rows_valid"]
        return out
    diff, report = result.diff, result.report
    to_send = list(diff.to_send) if diff is not None else []
    held = set(diff.held["__pos"].to_list()) if diff is not None and diff.held.height else set()

    def total(indices: Any) -> int:
        return sum(rows[i] for i in indices if i in mine)

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
    out.update(records_sent=count(to_send), records_accepted=count(accepted), rows_delivered=total(accepted),
               rows_not_attempted=total(not_sent), rows_held_back=total(not_sent),
               rows_dead_lettered=out["rows_dead_lettered"] + total(dead), rows_newer_elsewhere=newer,
               rows_superseded=out["rows_superseded"] + newer, rows_stored_elsewhere=stored,
               rows_unchanged=out["rows_unchanged"] + stored)
    return out


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
