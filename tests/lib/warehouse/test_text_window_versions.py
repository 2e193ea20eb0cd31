"""A parent and its children in two DuckDB tables, the parent's window column ISO 8601 text: the
parent's latest version is the latest instant, not the greatest text (DuckDB would order the text,
so such a side is joined in Polars: frames.native)."""

from datetime import UTC, datetime

import pytest
from helpers import duckdb_warehouse

from replenit_pipelines.lib.validation import prepare
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.frames import read_frames

START, END = datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)
ORDERS = entity_mapping_from_dict(
    "orders",
    {
        "source": {"table": "orders", "window_column": {"column": "changed", "format": "iso8601"}},
        "fields": {
            "OrderId": "order_id",
            "CustomerId": "customer_id",
            "Currency": "currency",
            "OrderDate": "ordered_at",
            "Status": "status",
        },
        "OrderItems": {
            "source": {"table": "lines"},
            "parent_key": "order_id",
            "key": "line_id",
            "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"},
        },
    },
)


@pytest.fixture
def warehouse(tmp_path):
    # 12:40Z, then 13:30Z written with its offset: the newer version is the smaller text.
    return duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE orders (order_id VARCHAR, customer_id VARCHAR, currency VARCHAR, ordered_at VARCHAR, status VARCHAR, "
        "changed VARCHAR)",
        "INSERT INTO orders VALUES ('o1', 'c1', 'EUR', '2026-11-26T12:00:00Z', 'pending', '2026-11-26T12:40:00Z'), "
        "('o1', 'c1', 'EUR', '2026-11-26T12:00:00Z', 'completed', '2026-11-26T12:30:00-01:00')",
        "CREATE TABLE lines (order_id VARCHAR, line_id VARCHAR, product_id VARCHAR, qty INTEGER, price DOUBLE)",
        "INSERT INTO lines VALUES ('o1', 'l1', 'p1', 2, 5.0), ('o1', 'l2', 'p2', 1, 3.0)",
    )


def test_the_parents_latest_version_is_its_latest_instant_not_its_greatest_text(warehouse):
    frame = read_frames(warehouse, ORDERS, START, END)
    assert frame["status"].to_list() == ["completed", "completed"]
    [record] = prepare(ORDERS, frame).records.to_dicts()
    assert (record["Status"], record["TotalRevenue"], [i["ProductId"] for i in record["OrderItems"]]) == ("completed", 13.0, ["p1", "p2"])
