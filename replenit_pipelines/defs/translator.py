"""The report stage's plain data (lib/stages/report.py) as Dagster metadata: the one place a
sync's result becomes what the UI shows."""

import dagster as dg

from replenit_pipelines.lib.privacy import mask_text, masked_merges, masked_quarantine_sample, masked_top_reasons
from replenit_pipelines.lib.stages.report import column_lineage, column_schema, markdown_table
from replenit_pipelines.lib.sync import SyncResult
from replenit_pipelines.lib.warehouse import EntityMapping


def table_schema(result: SyncResult, mapping: EntityMapping) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, dtype, description=origin)
                                   for name, dtype, origin in column_schema(result.prepared, mapping)])


def table_lineage(mapping: EntityMapping, source: dg.AssetKey) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(deps_by_column={
        target: [dg.TableColumnDep(asset_key=source, column_name=c) for c in columns]
        for target, columns in column_lineage(mapping).items()
    })


QUARANTINE_SAMPLE_ROWS = 25


def records_held(result: SyncResult) -> int:
    """`dagster/row_count` of a sync partition: the records of its window that Replenit holds as
    the warehouse says, accepted by this run or acknowledged unchanged by an earlier one."""
    counts = result.counts()
    return int(counts["records_accepted"] + counts["records_unchanged"])


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


def run_metadata(result: SyncResult, mapping: EntityMapping, source: dg.AssetKey) -> dict:
    """A sync's counts and its window, quarantine reasons, schema and lineage, as asset metadata."""
    return {
        **result.counts(),
        "dagster/row_count": records_held(result),
        **({"unparsable_window_examples": mask_text(", ".join(result.unparsable_window_examples))}
           if result.unparsable_window_examples else {}),
        **({"merged_customers": dg.MetadataValue.md(merged_customers(result))} if result.prepared.records_merged else {}),
        **({"ledger_newest_ack": dg.MetadataValue.timestamp(result.ledger_newest_ack)} if result.ledger_newest_ack else {}),
        "window": f"{result.window_start.isoformat()} .. {result.window_end.isoformat()}",
        "top_quarantine_reasons": dg.MetadataValue.md(top_reasons(result)),
        "quarantine_sample": quarantine_table(result),
        "normalization": dg.MetadataValue.json(result.prepared.normalization),
        "dagster/column_schema": table_schema(result, mapping),
        "dagster/column_lineage": table_lineage(mapping, source),
    }
