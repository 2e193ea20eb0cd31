"""The report stage's plain data (lib/stages/report.py) as Dagster metadata: the one place a
sync's result becomes what the UI shows."""

import dagster as dg

from replenit_pipelines.lib.stages.report import column_lineage, column_schema, top_reasons_markdown
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


def run_metadata(result: SyncResult, mapping: EntityMapping, source: dg.AssetKey) -> dict:
    """A sync's counts and its window, quarantine reasons, schema and lineage, as asset metadata."""
    return {
        **result.counts(),
        "dagster/row_count": result.prepared.rows_read,
        **({"unparsable_window_examples": ", ".join(result.unparsable_window_examples)} if result.unparsable_window_examples else {}),
        **({"ledger_newest_ack": dg.MetadataValue.timestamp(result.ledger_newest_ack)} if result.ledger_newest_ack else {}),
        "window": f"{result.window_start.isoformat()} .. {result.window_end.isoformat()}",
        "top_quarantine_reasons": dg.MetadataValue.md(top_reasons_markdown(result.prepared)),
        "normalization": dg.MetadataValue.json(result.prepared.normalization),
        "dagster/column_schema": table_schema(result, mapping),
        "dagster/column_lineage": table_lineage(mapping, source),
    }
