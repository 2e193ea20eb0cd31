"""A query source whose window column is text (format: iso8601) is read by frames: the window's
orders are found by the parsed column (customers known by an expr only: the window's own rows),
and the query's own $start/$end are still bound (to all time), so a query that uses them reads as
one that does not."""

from datetime import UTC, datetime

import duckdb

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.chunks import frames_row_count


def test_a_query_with_a_text_window_reads_the_windows_orders_whole(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE order_lines (order_id VARCHAR, customer_id VARCHAR, line_id VARCHAR, product_id VARCHAR, qty BIGINT, "
            "price DOUBLE, currency VARCHAR, ordered_at TIMESTAMP, changed VARCHAR)"
        )
        con.execute(
            "INSERT INTO order_lines VALUES "
            "('o1', 'c1', 'l1', 'p1', 1, 2.0, 'EUR', '2026-11-26 10:00', '2026-11-26T10:00:00Z'), "
            "('o1', 'c1', 'l2', 'p2', 1, 2.0, 'EUR', '2026-11-26 10:00', '2026-11-25T10:00:00Z'), "
            "('o2', 'c1', 'l3', 'p2', 1, 2.0, 'EUR', '2026-11-20 10:00', '2026-11-20T10:00:00Z')"
        )
    orders = entity_mapping_from_dict(
        "orders",
        {
            "source": {
                "query": "SELECT * FROM order_lines WHERE $start < $end",
                "window_column": {"column": "changed", "format": "iso8601"},
            },
            "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at"},
            "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
        },
    )
    assert orders.read_by_frames
    rows = Warehouse(path).read(orders, datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    # o1 changed in the window (line l1): read whole, its line l2 of the day before too; o2 not.
    assert sorted(rows.select("order_id", "line_id").rows()) == [("o1", "l1"), ("o1", "l2")]
    # A reconciliation counts the query's rows with its $start/$end bound too (all time): every row.
    assert frames_row_count(Warehouse(path), orders) == 3


def test_a_query_of_customers_known_by_an_expr_only_reads_the_windows_rows_with_its_bounds_bound(tmp_path):
    # No plain column behind CustomerId or Email: no record key, so the window's own rows are read
    # (whole, as the query gives them), its $start/$end still bound.
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE customers (id VARCHAR, email VARCHAR, changed VARCHAR)")
        con.execute("INSERT INTO customers VALUES ('c1', 'a@x.com', '2026-11-26T10:00:00Z'), ('c2', 'b@x.com', '2026-11-20T10:00:00Z')")
    customers = entity_mapping_from_dict(
        "customers",
        {
            "source": {"query": "SELECT * FROM customers WHERE $start < $end", "window_column": {"column": "changed", "format": "iso8601"}},
            "fields": {"CustomerId": {"expr": "upper(id)"}, "Email": {"expr": "lower(email)"}},
        },
    )
    assert customers.read_by_frames
    rows = Warehouse(path).read(customers, datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    assert rows.select("id", "email").rows() == [("c1", "a@x.com")]
