"""A window's fingerprint (lib/warehouse/observe.py), the near-real-time sensor's cheap look: it moves
when a row of the window is added, changed (its update time moves) or leaves the window, and stays
put otherwise; for a table by one aggregate, for any other source by a read and a hash."""

from datetime import UTC, datetime

import duckdb

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.observe import window_fingerprint

START, END = datetime(2026, 12, 7, 3, tzinfo=UTC), datetime(2026, 12, 7, 4, tzinfo=UTC)
FIELDS = {"CustomerId": "customer_id", "Email": "email", "Name": "first_name"}


def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE customers (customer_id VARCHAR, email VARCHAR, first_name VARCHAR, updated_at TIMESTAMP)")
        con.execute("INSERT INTO customers VALUES ('c1', 'a@example.com', 'Ada', '2026-12-07 03:10:00'), "
                    "('c0', 'b@example.com', 'Bo', '2026-12-07 01:00:00')")
    return path


def run(path, sql: str, **params) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql, params)


def test_a_table_is_looked_at_by_one_aggregate_and_moves_with_the_window(tmp_path):
    path = warehouse(tmp_path)
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "customers", "window_column": "updated_at"}, "fields": FIELDS})
    look = lambda: window_fingerprint(Warehouse(path), mapping, START, END)  # noqa: E731
    first = look()
    assert first == (1, "2026-12-07 03:10:00")  # the window's row only, and its newest update
    assert look() == first  # nothing changed
    run(path, "UPDATE customers SET first_name = 'Ada B', updated_at = '2026-12-07 03:20:00' WHERE customer_id = 'c1'")
    changed = look()
    assert changed == (1, "2026-12-07 03:20:00")
    run(path, "INSERT INTO customers SELECT * REPLACE ('c2' AS customer_id) FROM customers WHERE customer_id = 'c1'")
    assert look() == (2, "2026-12-07 03:20:00")  # a new row with an update time equal to the newest: the count moves
    run(path, "UPDATE customers SET first_name = 'Bob' WHERE customer_id = 'c0'")
    assert look() == (2, "2026-12-07 03:20:00")  # a row outside the window changed: not this window's business


def test_another_source_is_read_and_hashed(tmp_path):
    path = warehouse(tmp_path)
    mapping = entity_mapping_from_dict("customers", {"source": {
        "query": "SELECT * FROM customers WHERE updated_at >= $start AND updated_at < $end", "window_column": "updated_at"},
        "fields": FIELDS})
    look = lambda: window_fingerprint(Warehouse(path), mapping, START, END)  # noqa: E731
    first = look()
    assert first[0] == 1 and first[1].startswith("hash:")
    assert look() == first
    # A change that keeps the update time (a fix in place) still moves the hash.
    run(path, "UPDATE customers SET first_name = 'Ada C' WHERE customer_id = 'c1'")
    assert look()[0] == 1 and look() != first
