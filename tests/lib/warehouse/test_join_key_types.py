"""Orders whose lines are a DuckDB table of their own, the order's key a BIGINT and the lines'
parent_key a VARCHAR (a type pair `replenit check` accepts): the join in DuckDB matches them as
text, so each order is read whole with its lines, and a line whose key is another text of the
same number ('01') is no line of order 1."""

from datetime import UTC, datetime

import duckdb
from helpers import orders_with_line_table

from replenit_pipelines.lib.warehouse import Warehouse

DAY = (datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))


def test_an_integer_order_key_joins_its_text_parent_keys_as_text(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE orders (order_id BIGINT, customer_id VARCHAR, currency VARCHAR, ordered_at TIMESTAMP, updated_at TIMESTAMP)"
        )
        con.execute(
            "CREATE TABLE lines (line_id VARCHAR, order_ref VARCHAR, product_id VARCHAR, qty BIGINT, price DOUBLE, updated_at TIMESTAMP)"
        )
        con.execute(
            "INSERT INTO orders VALUES (1, 'c1', 'EUR', '2026-11-20 10:00', '2026-11-20 10:00'), "
            "(2, 'c1', 'EUR', '2026-11-26 11:00', '2026-11-26 11:00')"
        )
        con.execute(
            "INSERT INTO lines VALUES ('l1', '1', 'p1', 1, 2.0, '2026-11-20 10:00'), "
            "('l2', '01', 'p2', 1, 3.0, '2026-11-26 10:00'), ('l3', '2', 'p3', 2, 4.0, '2026-11-20 10:00')"
        )
    mapping = orders_with_line_table({"table": "orders", "window_column": "updated_at"}, {"table": "lines", "window_column": "updated_at"})
    rows = Warehouse(path).read(mapping, *DAY)
    # Order 2 changed in the window: read with its line. Line l2 changed too, under '01': no order of
    # that text, so it comes without a parent; order 1, touched through it as the
    # number 1, comes without lines, its own line l1 being keyed '1'.
    assert sorted(rows.select("order_id", "<OrderItems.ProductId>").rows(), key=str) == [(1, None), (2, "p3"), (None, "p2")]
