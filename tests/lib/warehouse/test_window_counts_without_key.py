"""Rows no window reads, for customers known by expressions only (no key column to read a record
by) with a text window column (read by frames): every row whose window value is NULL or does not
parse is counted, and the unparsable values are shown. Real DuckDB warehouse."""

from test_ledger_sync import customers, write_table

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.keys import read_key_column

EXPR_ONLY = entity_mapping_from_dict("customers", {
    "source": {"table": "customers", "window_column": {"column": "updated_at", "format": "iso8601"}},
    "fields": {"CustomerId": {"expr": "'crm-' || id"}, "Email": {"expr": "lower(email)"}, "Name": "name", "Phone": "phone",
               "Language": "locale", "GdprOptin": "gdpr"},
})


def test_rows_without_a_key_column_are_counted_by_their_window_values(tmp_path):
    rows = customers(12)
    for i, row in enumerate(rows):
        row["updated_at"] = None if i % 4 == 1 else f"not a date {i}" if i % 4 == 2 else row["updated_at"].isoformat()
    write_table(tmp_path / "wh.duckdb", "customers", rows)
    assert EXPR_ONLY.read_by_frames and read_key_column(EXPR_ONLY) is None
    warehouse = Warehouse(tmp_path / "wh.duckdb")
    assert warehouse.rows_without_window_value(EXPR_ONLY) == 3
    assert warehouse.unparsable_window_values(EXPR_ONLY) == (3, ["not a date 2", "not a date 6", "not a date 10"])
