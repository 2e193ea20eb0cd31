"""A child source (its own table) without the column its mapping names as parent_key, window
column or the child's own key: the read fails with a MappingError naming the column, the closest
one and all it has."""

from datetime import UTC, datetime

import pytest
from helpers import duckdb_warehouse

from replenit_pipelines.lib.warehouse import MappingError, entity_mapping_from_dict

START, END = datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)
LINE_COLUMNS = "order_ref, line_id, product_id, qty, price, changed"


def orders(parent_key: str, window_column: str, key: str = "line_id"):
    return entity_mapping_from_dict(
        "orders",
        {
            "source": {"table": "orders", "window_column": "updated_at"},
            "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at"},
            "OrderItems": {
                "source": {"table": "lines", "window_column": window_column},
                "parent_key": parent_key,
                "key": key,
                "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"},
            },
        },
    )


@pytest.mark.parametrize(
    ("parent_key", "window_column", "expected"),
    [
        ("order_id", "changed", "parent_key 'order_id' is not a column of table lines (did you mean 'order_ref'?)"),
        ("order_ref", "chnged", "window column 'chnged' is not a column of table lines (did you mean 'changed'?)"),
        ("order_ref", "modified", "window column 'modified' is not a column of table lines"),
    ],
)
def test_a_child_column_that_is_not_in_its_table_is_named_with_the_closest_and_all_there_are(tmp_path, parent_key, window_column, expected):
    with pytest.raises(MappingError) as caught:
        warehouse(tmp_path).read(orders(parent_key, window_column), START, END)
    assert str(caught.value) == f"<python>: orders.OrderItems: {expected}; it has: {LINE_COLUMNS}"


def test_a_child_key_that_is_not_in_its_table_is_named_with_the_closest_and_all_there_are(tmp_path):
    with pytest.raises(MappingError) as caught:
        warehouse(tmp_path).read(orders("order_ref", "changed", key="lineid"), START, END)
    assert str(caught.value) == (
        f"<python>: orders.OrderItems: key 'lineid' is not a column of table lines (did you mean 'line_id'?); it has: {LINE_COLUMNS}"
    )


def warehouse(tmp_path):
    return duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE orders (order_id VARCHAR, customer_id VARCHAR, currency VARCHAR, ordered_at TIMESTAMP, updated_at TIMESTAMP)",
        "CREATE TABLE lines (order_ref VARCHAR, line_id VARCHAR, product_id VARCHAR, qty INTEGER, price DOUBLE, changed TIMESTAMP)",
    )
