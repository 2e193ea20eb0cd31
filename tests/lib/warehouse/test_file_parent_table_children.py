"""A parent read from a file with its children in a DuckDB table (`path:` beside a child `table:`):
the file is read by Polars, the table by DuckDB, and the window's orders come whole with their
lines. A real Parquet file and DuckDB file."""

from datetime import UTC, datetime

import polars as pl
from helpers import duckdb_warehouse, orders_with_line_table

from replenit_pipelines.lib.warehouse.mapping import child_column


def test_orders_in_a_parquet_file_with_their_lines_in_a_table_are_read_whole(tmp_path):
    pl.DataFrame(
        {
            "order_id": ["o1", "o2"],
            "customer_id": ["c1", "c2"],
            "currency": ["EUR", "EUR"],
            "ordered_at": [datetime(2026, 11, 26, 10), datetime(2026, 11, 20, 10)],
            "updated_at": [datetime(2026, 11, 26, 10), datetime(2026, 11, 20, 10)],
        }
    ).write_parquet(tmp_path / "orders.parquet")
    warehouse = duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE lines (order_ref VARCHAR, line_id VARCHAR, product_id VARCHAR, qty INTEGER, price DOUBLE)",
        "INSERT INTO lines VALUES ('o1', 'l1', 'p1', 1, 2.0), ('o1', 'l2', 'p2', 3, 1.5), ('o2', 'l3', 'p1', 1, 2.0)",
    )
    orders = orders_with_line_table({"path": str(tmp_path / "orders.parquet"), "window_column": "updated_at"})
    rows = warehouse.read(orders, datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    # o1 changed in the window: read with both its lines; o2 did not.
    assert sorted(rows.select("order_id", child_column("OrderItems:key"), child_column("OrderItems.Quantity")).rows()) == [
        ("o1", "l1", 1),
        ("o1", "l2", 3),
    ]
