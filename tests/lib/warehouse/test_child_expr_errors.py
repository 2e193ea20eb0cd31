"""A child field's expr that fails on the data (WooCommerce keeps `_qty` as text in
wp_woocommerce_order_itemmeta; a strict CAST over "two" fails) stops the run with one line naming
the mapping file, the field (`orders.OrderItems.Price`) and what it reads, as a parent field's does,
never only "a field"."""

from datetime import UTC, datetime

import duckdb
import pytest

from replenit_pipelines.lib.warehouse import MappingError, Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.frames import read_frames

ORIGIN = "/srv/replenit/woo.yaml"


def test_a_failing_child_expr_names_the_field_its_expr_and_the_lenient_cast(tmp_path):
    path = tmp_path / "woo.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE orders(id BIGINT, currency VARCHAR, updated_at TIMESTAMP);
        INSERT INTO orders VALUES (100, 'EUR', '2026-11-10 08:00'), (101, 'EUR', '2026-11-10 08:00');
        CREATE TABLE lines(item_id BIGINT, order_id BIGINT, product_id VARCHAR, qty VARCHAR, line_total VARCHAR);
        INSERT INTO lines VALUES (1, 100, 'p1', '2', '30'), (2, 101, 'p1', 'two', '15');
    """)
    con.close()
    mapping = entity_mapping_from_dict("orders", {
        "source": {"table": "orders"},
        "fields": {"OrderId": "id", "Currency": "currency"},
        "OrderItems": {"source": {"table": "lines"}, "parent_key": "order_id", "key": "item_id",
                       "fields": {"ProductId": "product_id", "Quantity": {"column": "qty", "cast": "int"},
                                  "Price": {"expr": "CAST(line_total AS DOUBLE) / CAST(qty AS DOUBLE)"}}}},
        origin=ORIGIN)
    with pytest.raises(MappingError) as caught:
        read_frames(Warehouse(path), mapping, datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
    message = str(caught.value)
    assert message.startswith(f"{ORIGIN}: orders.OrderItems.Price (expr 'CAST(line_total AS DOUBLE) / CAST(qty AS DOUBLE)') "
                              "cannot be evaluated over table lines: "), message
    assert '["two"]' in message and "cast:" in message and "TRY_CAST" in message and "\n" not in message
