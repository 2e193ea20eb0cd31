"""The report stage's plain data (lib/stages/report.py) as Dagster metadata: the one place a
sync's result becomes what the UI shows.

Dagster plots every int and float metadata value of an asset (by partition, the latest of each),
so only the numbers a user acts on are numbers here (PLOTTED: about a dozen, rounded, the unit in
the name); every other count is in one `counts` JSON value, which is shown but not plotted. The
counts of a partition are its window's own; the rows read for the lookback are apart
(lib/stages/lookback.py)."""

from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from replenit_pipelines.lib.privacy import mask_text, masked_merges, masked_quarantine_sample, masked_top_reasons
from replenit_pipelines.lib.sql_types import sql_type
from replenit_pipelines.lib.stages.lookback import ACCOUNT, window_counts
from replenit_pipelines.lib.stages.report import column_lineage, column_schema, markdown_table
from replenit_pipelines.lib.sync import SyncResult
from replenit_pipelines.lib.warehouse import EntityMapping

# The plotted keys of a sync materialization, in the order the UI lists them.
PLOTTED = ("dagster/row_count", "rows_read", "rows_delivered", "rows_unchanged", "rows_quarantined", "rows_dead_lettered",
           "rows_read_lookback", "rows_delivered_lookback", "requests", "quarantine_share_pct", "duration_s", "ledger_records")


def table_schema(result: SyncResult, mapping: EntityMapping) -> dg.TableSchema:
    types = result.prepared.records.schema
    return dg.TableSchema(columns=[dg.TableColumn(name, sql_type(types[name]), description=origin)
                                   for name, _, origin in column_schema(result.prepared, mapping)])


def table_lineage(mapping: EntityMapping, source: dg.AssetKey) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(deps_by_column={
        target: [dg.TableColumnDep(asset_key=source, column_name=c) for c in columns]
        for target, columns in column_lineage(mapping).items()
    })


QUARANTINE_SAMPLE_ROWS = 25


def records_held(own: dict[str, Any]) -> int:
    """`dagster/row_count` of a sync partition: the records of its own window (not its lookback's)
    that Replenit holds as the warehouse says, accepted by this run or acknowledged unchanged by an
    earlier one; a re-run that finds them all unchanged shows the same number."""
    return int(own["records_accepted"] + own["records_unchanged"])


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M") + (" UTC" if at.utcoffset() == timedelta(0) else at.strftime(" %z"))


def window_text(result: SyncResult) -> str:
    """The window the counts are about, and what the run read before it."""
    text = f"{_when(result.window_start)} to {_when(result.window_end)}"
    if result.lookback > timedelta(0):
        hours = result.lookback.total_seconds() / 3600
        text += (f"; read from {_when(result.window_start - result.lookback)} ({hours:g} h lookback for late rows, "
                 "counted apart as *_lookback)")
    return text


def accounting_text(counts: dict[str, Any]) -> str:
    """`rows read 20,011 = delivered 19,800 + quarantined 150 + ...`: the account, closed, in words."""
    parts = [f"{k.removeprefix('rows_').replace('_', '-')} {int(counts.get(k, 0)):,}" for k in ACCOUNT if counts.get(k)]
    return f"rows read {int(counts['rows_read']):,} = " + (" + ".join(parts) or "0")


def share_pct(counts: dict[str, Any]) -> float:
    """Quarantined rows over the rows considered (read, less superseded), as the gate counts, in %."""
    considered = counts["rows_read"] - counts["rows_superseded"]
    return round(100 * counts["rows_quarantined"] / considered, 2) if considered else 0.0


def quarantine_table(result: SyncResult, rows: int = QUARANTINE_SAMPLE_ROWS) -> dg.TableMetadataValue:
    """A sample of the run's quarantined rows, every kind of problem first, personal values masked
    (lib/privacy.py): the full rows are in the state store (`replenit state`)."""
    sample = masked_quarantine_sample(result.prepared.quarantine, rows)
    schema = dg.TableSchema(columns=[
        dg.TableColumn("rule", "string", description="the validation rule the row broke"),
        dg.TableColumn("field", "string", description="the API field (or source column) it broke it in"),
        dg.TableColumn("value", "string", description="the value, personal data masked"),
        dg.TableColumn("record_id", "string", description="the record's identity, personal data masked"),
        dg.TableColumn("source_row", "int", description="the row's position in the window read"),
    ])
    return dg.MetadataValue.table(records=[dg.TableRecord(row) for row in sample.iter_rows(named=True)], schema=schema)


def top_reasons(result: SyncResult) -> str:
    top = result.prepared.top_reasons(10)
    if not top.height:
        return "No quarantined rows."
    return markdown_table(["rule", "field", "rows", "example (masked)"], masked_top_reasons(top))


MERGED_EXAMPLES = 10


def merged_customers(result: SyncResult) -> str:
    """The customers the tenant merges (a shared email): per identity, the CustomerId sent and the
    ones merged into it, masked (lib/privacy.py)."""
    rows = masked_merges(result.prepared.merges, MERGED_EXAMPLES)
    note = (f"\n\n{result.prepared.records_merged:,} customers merged under {result.prepared.merges.height:,} emails; "
            f"the {MERGED_EXAMPLES} largest shown." if result.prepared.merges.height > MERGED_EXAMPLES else "")
    return markdown_table(["identity (masked)", "CustomerId sent", "CustomerIds merged into it", "rows merged"], rows) + note


def plotted(own: dict[str, Any], lookback: dict[str, int]) -> dict[str, int | float]:
    """The PLOTTED numbers of a run: its window's own, the lookback's effect, the run's cost."""
    return {
        "dagster/row_count": records_held(own),
        **{k: int(own[k]) for k in ("rows_read", "rows_delivered", "rows_unchanged", "rows_quarantined", "rows_dead_lettered")},
        "rows_read_lookback": lookback["rows_read"],
        "rows_delivered_lookback": lookback["rows_delivered"],  # late rows caught by the lookback
        "requests": int(own["requests"] + own["retry_requests"] + own["delete_requests"]),
        "quarantine_share_pct": share_pct(own),
        "duration_s": round(float(own["duration_s"]), 1),
        "ledger_records": int(own["ledger_size"]),
    }


def counts_value(own: dict[str, Any], lookback: dict[str, int]) -> dg.JsonMetadataValue:
    """Every count of the run, not plotted: the window's own (`window`), the lookback's (`lookback`)."""
    return dg.MetadataValue.json({"window": {k: own[k] for k in sorted(own)}, "lookback": dict(sorted(lookback.items()))})


def run_metadata(result: SyncResult, mapping: EntityMapping, source: dg.AssetKey) -> dict:
    """A sync's numbers (PLOTTED), its window and account in words, every count (`counts`), its
    quarantine reasons, schema and lineage, as asset metadata."""
    own, lookback = window_counts(result)
    return {
        **plotted(own, lookback),
        "window": window_text(result),
        "accounting": accounting_text(own) + (f"; lookback: {accounting_text(lookback)}" if lookback["rows_read"] else ""),
        "counts": counts_value(own, lookback),
        **({"unparsable_window_examples": mask_text(", ".join(result.unparsable_window_examples))}
           if result.unparsable_window_examples else {}),
        **({"merged_customers": dg.MetadataValue.md(merged_customers(result))} if result.prepared.records_merged else {}),
        **({"ledger_newest_ack": dg.MetadataValue.timestamp(result.ledger_newest_ack)} if result.ledger_newest_ack else {}),
        "top_quarantine_reasons": dg.MetadataValue.md(top_reasons(result)),
        "quarantine_sample": quarantine_table(result),
        "normalization": dg.MetadataValue.json(result.prepared.normalization),
        "dagster/column_schema": table_schema(result, mapping),
        "dagster/column_lineage": table_lineage(mapping, source),
    }


def partition_metadata(counts: dict[str, int], lookback: dict[str, int] | None, keys: list[str]) -> dict[str, Any]:
    """One partition's materialization in a run over a range of them (`backfills: single_run`): its
    own counts, as a run of that partition alone would plot them, its account in words; the
    lookback's on the first partition (the range read it before that one). `counts`: the partition's."""
    lb = lookback or {"rows_read": 0, "rows_delivered": 0}
    return {
        "dagster/row_count": int(counts["records_accepted"] + counts["records_unchanged"]),
        **{k: int(counts[k]) for k in ("rows_read", "rows_delivered", "rows_unchanged", "rows_quarantined", "rows_dead_lettered")},
        "rows_read_lookback": int(lb["rows_read"]),
        "rows_delivered_lookback": int(lb["rows_delivered"]),
        "quarantine_share_pct": share_pct(counts),
        "accounting": accounting_text(counts) + (f"; lookback: {accounting_text(lookback)}" if lookback and lookback["rows_read"] else ""),
        "partition_counts": dg.MetadataValue.json(dict(sorted(counts.items()))),
        "range": f"{keys[0]}...{keys[-1]} ({len(keys)} partitions, one run)",
    }
