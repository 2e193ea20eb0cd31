"""A child field's `default:` fills the child's NULL values when the children are read from a
source of their own (their values taken over the child table before the join), as it does for
children read with their parent's rows. Real DuckDB warehouse, extract and prepare."""

from datetime import UTC, datetime

from helpers import LINE_FIELDS, duckdb_warehouse, orders_with_line_table

from replenit_pipelines.lib.stages.extract import extract
from replenit_pipelines.lib.validation import prepare

START, END = datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)


def test_a_child_fields_default_fills_its_nulls_read_from_the_child_table(tmp_path):
    mapping = orders_with_line_table({"table": "orders", "window_column": "updated_at"}, {"table": "lines", "window_column": "changed"},
                                     {**LINE_FIELDS, "Quantity": {"column": "qty", "default": 1}})
    warehouse = duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE orders (order_id VARCHAR, customer_id VARCHAR, currency VARCHAR, ordered_at TIMESTAMP, updated_at TIMESTAMP)",
        "CREATE TABLE lines (order_ref VARCHAR, line_id VARCHAR, product_id VARCHAR, qty INTEGER, price DOUBLE, changed TIMESTAMP)",
        "INSERT INTO orders VALUES ('o1', 'c1', 'EUR', '2026-11-26 08:00', '2026-11-26 10:00')",
        "INSERT INTO lines VALUES ('o1', 'l1', 'p1', NULL, 2.5, '2026-11-26 10:00'), ('o1', 'l2', 'p2', 3, 1.0, '2026-11-26 10:00')",
    )
    prepared = prepare(mapping, extract(mapping, warehouse, START, END).rows)
    assert prepared.quarantine.height == 0
    (items,) = prepared.records["OrderItems"].to_list()
    assert sorted((i["ProductId"], i["Quantity"]) for i in items) == [("p1", 1), ("p2", 3)]
