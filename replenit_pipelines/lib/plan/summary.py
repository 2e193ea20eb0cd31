"""A sync's plan as a person reads it before spending: one JSON-able dict, and its text."""

from collections.abc import Mapping
from typing import Any

from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.plan.eta import Eta
from replenit_pipelines.lib.privacy import masked_merges, masked_top_reasons
from replenit_pipelines.lib.stages.report import SyncResult

TOP_REASONS = 5



MERGED_EXAMPLES = 5


def planned_requests(counts: Mapping[str, Any]) -> int:
    """The requests a dry run's counts (a window's or a reconciliation's) need: the upserts' and
    retries' (`requests_planned`) and one DELETE per record to delete that the API can be told to
    delete (not a customer without a CustomerId: `records_not_deletable_planned`)."""
    deletes = int(counts.get("records_to_delete", 0) or 0) - int(counts.get("records_not_deletable_planned", 0) or 0)
    return int(counts.get("requests_planned", 0)) + deletes


def plan_summary(result: "SyncResult", eta: Eta | None = None) -> dict[str, Any]:
    """The counts of `result` (a dry run's plan, or a real run's outcome in the same terms) and the
    ETA. `requests_needed` is the dry run's requests_planned, or what a real run spent."""
    c = result.counts()
    requests = planned_requests(c) if result.dry_run else c["requests"] + c["retry_requests"] + c["delete_requests"]
    records_to_send = c["records_planned"] if result.dry_run else c["records_sent"] + c["records_retried"]
    rows_to_send = c["rows_planned"] if result.dry_run else c["rows_delivered"] + c["rows_dead_lettered"] - c["rows_held"]
    # Masked as in a run's metadata (lib/privacy.py): a plan lands in the Dagster event log too.
    reasons = masked_top_reasons(result.prepared.top_reasons(TOP_REASONS))
    merged = masked_merges(result.prepared.merges, MERGED_EXAMPLES)
    return {
        "entity": result.entity, "partition_key": result.partition_key,
        "window_start": result.window_start.isoformat(), "window_end": result.window_end.isoformat(),
        "dry_run": result.dry_run,
        "rows_read": c["rows_read"], "rows_valid": c["rows_valid"], "rows_quarantined": c["rows_quarantined"],
        "rows_superseded": c["rows_superseded"], "rows_merged": c["rows_merged"], "rows_unchanged": c["rows_unchanged"],
        "rows_held_back": c["rows_held_back"], "rows_to_send": rows_to_send,
        "records_new": c["records_new"], "records_changed": c["records_changed"], "records_unchanged": c["records_unchanged"],
        "records_refreshed": c["records_refreshed"], "records_held": c["records_held"],
        "records_to_retry": c["records_retried"],
        "records_to_delete": c["records_to_delete"],  # soft-deleted records (issue 12): one DELETE request each
        "records_to_send": records_to_send,
        "records_merged": c["records_merged"],  # customers the tenant merges into another (a shared email): not sent
        "merged_examples": [{"identity": i, "kept": k, "merged": m, "rows": n} for i, k, m, n in merged],
        "quarantine_top_reasons": [{"rule": r, "field": f, "rows": n, "example": e} for r, f, n, e in reasons],
        "held_back_by_gate": result.held_back, "gate": result.gate.reason if result.gate else None,
        "requests_needed": requests,
        "eta": eta.as_dict() if eta is not None else None,
        "eta_text": eta.text() if eta is not None else None,
    }


def plan_text(summary: dict[str, Any]) -> str:
    """The summary as a few lines for a terminal or a Dagster log."""
    s = summary
    head = "Plan" if s["dry_run"] else "Run"
    lines = [
        f"{head} for {s['entity']} {s['partition_key']}"
        + (f" ({s['window_start']} to {s['window_end']}):" if s.get("window_start") else ":"),
        f"  rows: {s['rows_read']:,} read, {s['rows_valid']:,} valid, {s['rows_quarantined']:,} quarantined, "
        f"{s['rows_superseded']:,} superseded ({s.get('rows_merged', 0):,} of them merged), {s['rows_unchanged']:,} unchanged, {s['rows_held_back']:,} held back by the gate",
        f"  records: {s['records_new']:,} new, {s['records_changed']:,} changed, {s['records_unchanged']:,} unchanged, "
        f"{s['records_refreshed']:,} refreshed, {s['records_held']:,} held (rejected before), {s['records_to_retry']:,} to retry, "
        f"{s['records_to_delete']:,} to delete",
        f"  to send: {plural(s['records_to_send'], 'record')} in {plural(s['requests_needed'], 'request')}",
    ]
    if s.get("records_merged"):
        lines.append(f"  merged: {s['records_merged']:,} customers ({s['rows_merged']:,} rows) share an email with a newer "
                     "customer; the tenant merges them, only the newest is sent: " + "; ".join(
                         f"{e['identity']}: sent {e['kept']}, merged {e['merged']}" for e in s["merged_examples"]))
    if s["quarantine_top_reasons"]:
        lines.append("  quarantined, top reasons: " + "; ".join(
            f"{r['rule']} on {r['field']} ({r['rows']:,} rows)" for r in s["quarantine_top_reasons"]))
    if s["held_back_by_gate"]:
        lines.append(f"  HELD BACK by the quarantine gate: {s['gate']}")
    if s.get("eta_text"):
        lines.append(f"  ETA: {s['eta_text']}")
    return "\n".join(lines)


def reconcile_summary(result: Any, eta: Eta | None = None) -> dict[str, Any]:
    """A reconciliation's plan (lib/sync/reconcile.py ReconcileResult, dry run or not) in the keys of
    `plan_summary`, so `plan_text` says it in the same words as a sync's plan."""
    c = result.counts()
    requests = planned_requests(c) if result.dry_run else c["requests_total"]
    merged = masked_merges(result.merges, MERGED_EXAMPLES) if getattr(result.merges, "height", 0) else []
    return {
        "entity": result.entity,
        "partition_key": f"the whole source, in {plural(c['chunks'], 'chunk')}" + (", mirror" if result.mirror else ""),
        "window_start": None, "window_end": None,
        "dry_run": result.dry_run,
        **{k: c[k] for k in ("rows_read", "rows_valid", "rows_quarantined", "rows_superseded", "rows_merged", "rows_unchanged",
                             "rows_held_back", "records_new", "records_changed", "records_unchanged", "records_refreshed",
                             "records_held", "records_to_delete", "records_merged")},
        "rows_to_send": c["rows_planned"] if result.dry_run else c["rows_delivered"] + c["rows_dead_lettered"] - c["rows_held"],
        "records_to_retry": c["records_retried"],
        "records_to_send": c["records_planned"] if result.dry_run else c["records_sent"] + c["records_retried"],
        "merged_examples": [{"identity": i, "kept": k, "merged": m, "rows": n} for i, k, m, n in merged],
        "quarantine_top_reasons": [{"rule": r, "field": f, "rows": n, "example": e}
                                   for r, f, n, e in masked_top_reasons(result.top_reasons(TOP_REASONS))],
        "held_back_by_gate": bool(result.gate_tripped), "gate": "a chunk's quarantined share was above the gate" if result.gate_tripped else None,
        "requests_needed": requests,
        "eta": eta.as_dict() if eta is not None else None,
        "eta_text": eta.text() if eta is not None else None,
    }
