"""A run's summary in words: a few lines a person reads at the end of `replenit sync`, `push` or
`replay` (at most 15; the full counters are one flag away: --json or --verbose).

Each line says what happened to rows in the run's own terms (delivered, unchanged, quarantined
with the top reasons, dead-lettered, deleted), the requests and time it cost, and what to do next:
the exact `replenit state` query for the quarantine, `replay` for dead letters.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from replenit_pipelines.lib.delivery.report import plural

MAX_LINES = 15
TOP_REASONS = 3


@dataclass(frozen=True)
class Reason:
    rule: str
    field: str
    rows: int

    def text(self) -> str:
        return f"{self.rule} ({self.field}) {self.rows:,}" if self.field else f"{self.rule} {self.rows:,}"


@dataclass
class SyncSummary:
    """What a sync's summary needs beyond its counts."""

    entity: str
    scope: str  # "--all" or "partition 2026-11-26"
    run_id: str
    counts: dict
    reasons: Sequence[Reason] = ()  # the quarantine's most frequent reasons, most first
    stopped: str | None = None
    plan_text: str | None = None  # a dry run's plan: requests and ETA
    notes: list[str] = field(default_factory=list)  # warnings to keep in the summary (merges, refused deletes)


def _n(value: float | int) -> str:
    return f"{int(value):,}"


def _share(part: int, whole: int) -> str:
    return f" ({part / whole:.1%})" if whole else ""


def _gate_held(c: dict) -> int:
    """The rows the quarantine gate held back: rows_held_back less the rows a stopped delivery never
    attempted (their own line, `not attempted`), which the gate did not judge abnormal."""
    return int(c.get("rows_held_back", 0)) - int(c.get("rows_not_attempted", 0))


def _gate_share(c: dict) -> str:
    """The share the gate judged, which is not the quarantined line's share of rows read: the gate
    leaves out superseded rows (quarantined / (read - superseded)), so 620 of 2,868 rows read, 2,104
    of them older versions, is 81%, not 22%: the limit to pass is above the 81%."""
    if not c.get("gate_tripped") or "quarantine_share" not in c or "gate_threshold" not in c:
        return ""
    return (f": {c['quarantine_share']:.1%} of the rows that are not older versions, above its limit of "
            f"{c['gate_threshold']:.1%}")


def _passing_limit(share: float) -> float:
    """The smallest limit of two decimals above a share kept to four (the gate holds a share above its limit):
    a share shown as 0.5000 may be 0.50005, which 0.50 holds back again."""
    return min(1.0, (math.floor(round(share * 100, 6)) + 1) / 100)


def quarantine_query(run_id: str) -> str:
    # A hint printed for the user to copy, not executed here: run_id is the run's own generated id.
    return ('replenit state "SELECT record_id, source_row, rule, field, value FROM quarantine '  # noqa: S608
            f"WHERE run_id = '{run_id}' ORDER BY rule, field\"")


def sync_summary(s: SyncSummary) -> list[str]:
    c = s.counts
    dry = bool(c.get("dry_run"))
    read = int(c.get("rows_read", 0))
    requests = int(c.get("requests_total", c.get("requests", 0) + c.get("retry_requests", 0) + c.get("delete_requests", 0)))
    took = float(c.get("duration_s", 0.0))
    head = f"{s.entity} {s.scope}: {plural(read, 'row')} read in {took:.1f} s"
    if dry:
        head += "; dry run, nothing sent"
    else:
        head += f", {plural(requests, 'request')}"
        extra = [f"{_n(c[k])} {w}" for k, w in (("retries", "retried"), ("rate_limited_429", "rate-limited (429)"))
                 if c.get(k)]
        if extra:
            head += f" ({', '.join(extra)})"
    lines = [head]
    # What the run sent or would send: new, changed, and with --full-refresh unchanged ones (records_refreshed).
    refreshed = int(c.get("records_refreshed", 0))
    to_send = int(c.get("records_new", 0)) + int(c.get("records_changed", 0)) + refreshed
    records = (f"{_n(c.get('records_new', 0))} new, {_n(c.get('records_changed', 0))} changed"
               + (f", {_n(refreshed)} unchanged, sent by --full-refresh" if refreshed else ""))
    if dry:
        lines.append(f"  to send        {plural(c.get('rows_planned', 0), 'row')} ({plural(c.get('records_planned', 0), 'record')}: {records})")
        if s.plan_text:
            lines.append(f"  {s.plan_text}")
    else:
        accepted = int(c.get("records_accepted", 0))
        # A run that failed or stopped: the breakdown is of what it sent.
        of = plural(accepted, "record") if accepted == to_send else f"{_n(accepted)} of {plural(to_send, 'record')}"
        lines.append(f"  delivered      {plural(c.get('rows_delivered', 0), 'row')} ({of}: {records})")
    unchanged = int(c.get("rows_unchanged", 0))
    lines.append(f"  unchanged      {plural(unchanged, 'row')} (Replenit already holds "
                 + ("it as it is)" if unchanged == 1 else "them as they are)"))
    if c.get("rows_superseded"):
        # Rows of a record's newest time that lost on content (a join that fans out) are no older
        # version: said here as well as in the tie warning, which goes to stderr.
        tied, merged = int(c.get("rows_tied", 0)), int(c.get("rows_merged", 0))
        lines.append(f"  superseded     {plural(c['rows_superseded'], 'row')} (older versions of a record read in the same run"
                     + (f"; {_n(tied)} of them tied: of the record's newest time, differing from the row sent" if tied else "")
                     + (f"; {_n(merged)} of them merged: of another CustomerId with the email of the one sent" if merged else "")
                     + ")")
    quarantined = int(c.get("rows_quarantined", 0))
    # A record is sent whole or not at all: its other rows are quarantined with the one that failed a
    # rule (they carry no reason of their own), so the rows outnumber the reasons counted below.
    records_quarantined = int(c.get("records_quarantined", 0))
    whole = (f" ({plural(records_quarantined, 'record')}: a record goes whole or not at all)"
             if quarantined > records_quarantined > 0 else "")
    lines.append(f"  quarantined    {plural(quarantined, 'row')}{_share(quarantined, read)}, not sent"
                 + (f": invalid, each with its reason{whole}" if quarantined else ""))
    if quarantined and s.reasons:
        lines.append("    top reasons: " + "; ".join(r.text() for r in s.reasons[:TOP_REASONS]))
    dead = int(c.get("rows_dead_lettered", 0))
    lines.append(f"  dead-lettered  {plural(dead, 'row')}" + (" (rejected by the API or failed after retries; queued for replay)" if dead else ""))
    if _gate_held(c) or c.get("gate_tripped"):
        lines.append(f"  held back      {plural(_gate_held(c), 'row')}: the quarantine gate found this run's quarantine abnormal"
                     + _gate_share(c))
    deleted = int(c.get("records_to_delete", 0)) if dry else int(c.get("records_deleted", 0))
    if deleted or c.get("rows_deleted"):
        cannot = int(c.get("records_not_deletable_planned", 0)) if dry else 0
        # rows_deleted counts every row the source flags deleted, of records Replenit never held too
        # (a connector's soft deletes before the first load): without saying so, "0 records (2 rows)".
        flagged = int(c.get("rows_deleted", 0))
        # A mirror run's deletes may be of absent records while its flagged rows are of records it
        # does not hold: name each cause, so that no flagged row reads as deleted when none was.
        absent = int(c.get("records_absent", 0))
        causes = [f"{_n(absent)} absent from the source"] if absent else []
        if flagged and deleted > absent:
            causes.append(f"flagged deleted in the source: {plural(flagged, 'row')}")
        elif flagged:
            causes.append(f"{plural(flagged, 'row')} flagged deleted in the source; a record Replenit never held needs no DELETE")
        lines.append(f"  {'to delete' if dry else 'deleted':<15}{plural(deleted, 'record')}"
                     + (f" ({'; '.join(causes)})" if causes else "")
                     + (f"; {_n(cannot)} of them cannot be: no CustomerId to delete by, or one a live customer has too"
                        if cannot else ""))
    failed_deletes, undeletable = int(c.get("records_delete_failed", 0)), int(c.get("records_not_deletable", 0))
    if (failed_deletes or undeletable) and not dry:  # they make the run exit 1: say so
        lines.append(f"  not deleted    {plural(failed_deletes + undeletable, 'record')} ({_n(failed_deletes)} failed, "
                     f"{_n(undeletable)} with no CustomerId to delete by, or one a live customer has too)")
    if c.get("rows_not_attempted"):
        lines.append(f"  not attempted  {plural(c['rows_not_attempted'], 'row')} (the run stopped before sending them)")
    if c.get("records_retried"):
        lines.append(f"  retried        {plural(c['records_retried'], 'record')} of earlier runs' failures, "
                     f"{_n(c.get('records_retry_accepted', 0))} accepted")
    lines.extend(f"  {note}" for note in s.notes)
    lines.extend(_next_steps(s, quarantined, dead, dry))
    return lines[:MAX_LINES]


def _next_steps(s: SyncSummary, quarantined: int, dead: int, dry: bool) -> list[str]:
    c, steps = s.counts, []
    if s.stopped:
        steps.append(f"stopped: {s.stopped}")
        steps.append("next: fix the key, tenant or network and run again; what was acknowledged is not sent twice")
    if (_gate_held(c) or c.get("gate_tripped")) and not dry:
        above = (f" {_passing_limit(c['quarantine_share']):.2f}" if c.get("gate_tripped") and "quarantine_share" in c
                 else " above it")
        steps.append("next: find what broke upstream (the top reasons above), fix it, and run again; if this share is "
                     f"right (a dirtier source), run once with --max-quarantine-share{above}")
    if quarantined and not dry:
        steps.append(f"next: see each quarantined row: {quarantine_query(s.run_id)}")
    if c.get("records_delete_failed") and not dry:
        steps.append("next: deletes that failed stay in the ledger and are tried again by the next run that plans "
                     "them (a reconciliation with --mirror finds them)")
    if c.get("records_not_deletable") and not dry:
        steps.append("next: a customer sent without a CustomerId, or whose CustomerId its new address has too (it "
                     "changed email), cannot be deleted through the API: delete it in Replenit by hand, or give its "
                     "row a CustomerId (docs/operating.md, Deleting)")
    if dead:
        steps.append(f"next: see the dead letters with `replenit state --retries {s.entity}`; after a fix, "
                     f"`replenit replay {s.entity}`")
    if dry and not s.stopped:
        steps.append("next: run without --dry-run to send" + (", and to record each quarantined row's reason" if quarantined else ""))
    if not steps:
        steps.append("next: nothing to do: Replenit holds what the source says")
    return steps


def push_summary(summary: dict, not_accepted: int, stopped: str | None, run_id: str) -> list[str]:
    """`replenit push`'s outcome (PushOutcome.summary()) in words."""
    s = summary
    lines = [f"push {s['entity']} {s['file']}: {plural(s['records_read'], 'record')} read, {plural(s.get('requests', 0), 'request')}"
             + (f" in {float(s['duration_s']):.1f} s" if "duration_s" in s else "")]
    lines.append(f"  delivered      {plural(s.get('accepted', 0), 'record')}")
    if s.get("superseded"):
        lines.append(f"  superseded     {plural(s['superseded'], 'record')} (older versions of a later record with the same identity)")
    lines.append(f"  quarantined    {plural(s.get('refused', 0), 'record')} (refused before sending, each with its reason)")
    failed = int(s.get("rejected", 0)) + int(s.get("failed", 0))
    lines.append(f"  dead-lettered  {plural(failed, 'record')} ({_n(s.get('rejected', 0))} rejected by the API, "
                 f"{_n(s.get('failed', 0))} failed after retries)")
    if s.get("not_sent"):
        lines.append(f"  not sent       {plural(s['not_sent'], 'record')} (the delivery stopped)")
    if stopped:
        lines.append(f"stopped: {stopped}")
    if s.get("refused"):
        lines.append('next: see each refused record: replenit state "SELECT * FROM quarantine '  # noqa: S608 - a hint printed for the user
                     f"WHERE run_id = '{run_id}'\"")
    if failed:
        lines.append('next: see each dead letter: replenit state "SELECT * FROM dead_letters '  # noqa: S608 - a hint printed for the user
                     f"WHERE run_id = '{run_id}'\"")
    if not (s.get("refused") or failed or stopped):
        lines.append("next: nothing to do")
    return lines[:MAX_LINES]


def replay_summary(entity: str, status: str, counts: dict, dry_run: bool, stopped: str | None) -> list[str]:
    c = counts
    if dry_run:
        lines = [f"replay {entity} ({status}), dry run: would re-send {plural(c['records_retried'], 'record')}"]
    else:
        lines = [f"replay {entity} ({status}): re-sent {plural(c['records_retried'], 'record')} in {plural(c['requests'], 'request')}",
                 f"  delivered      {plural(c['records_retry_accepted'], 'record')}",
                 f"  dead-lettered  {plural(c['records_retry_rejected'] + c['records_retry_failed'], 'record')} "
                 f"({_n(c['records_retry_rejected'])} rejected, {_n(c['records_retry_failed'])} failed; they stay queued)"]
    lines.append(f"  unchanged      {plural(c['records_stale'], 'record')} (acknowledged since they failed: dropped from the queue)")
    rejected = int(c.get("records_resent_rejected", 0))
    if rejected:
        lines.append(f"  of those {'to re-send' if dry_run else 're-sent'}: {_n(rejected)} the API rejected (400) with this very payload; "
                     "unless Replenit's validation changed, it rejects them again (each costs quota)")
    if stopped:
        lines.append(f"stopped: {stopped}")
    if not dry_run and (c["records_retry_rejected"] or c["records_retry_failed"]):
        lines.append(f"next: see what the API said with `replenit state --retries {entity}`")
    elif dry_run and c["records_retried"]:
        lines.append("next: run without --dry-run to re-send them" + (
            "; if the warehouse rows were fixed, a sync sends the fixed version instead, and --status failed re-sends only "
            "the failed ones" if rejected else ""))
    else:
        lines.append("next: nothing to do")
    return lines[:MAX_LINES]


def counter_lines(counts: dict) -> list[str]:
    """Every counter of a run, one aligned `name  value` line each (`--verbose`), then a blank line."""
    width = max((len(k) for k in counts), default=0)
    return [f"{k:<{width}}  {v}" for k, v in counts.items()] + [""]
