"""A mapping's child fields (an OrderItems block) are refused at load with the mapping file's path and
where the field is (`orders.OrderItems.ProductId`, as a parent field is `orders.CustomerId`), each
message whole."""

import pytest

from replenit_pipelines.lib.warehouse import MappingError, entity_mapping_from_dict

ORIGIN = "/srv/replenit/mapping.yaml"
ORDERS = {"source": {"table": "order_lines", "window_column": "updated_at"},
          "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at",
                     "Status": "status"}}


@pytest.mark.parametrize(("fields", "message"), [
    ({"ProductId": "product_id", "Qty": "qty"},
     "orders.OrderItems has no field 'Qty'; API fields are: OriginalPrice, Price, ProductId, ProductName, Quantity, Sku, VariantId"),
    (["product_id"], "orders.OrderItems: 'fields' must map API fields to columns"),
    ({"ProductId": {"column": "product_id", "cast": "nope"}},
     "orders.OrderItems.ProductId: cast must be one of string, int, float, bool, not 'nope'"),
    ({"ProductId": {"column": "product_id", "constant": "p"}},
     "orders.OrderItems.ProductId: give exactly one of column, constant or expr"),
    ({"ProductId": "product_id", "Quantity": 1},  # a value where a column was meant: the fix named by the field alone
     "orders.OrderItems.Quantity: write a column name or a table with column, constant or expr "
     "(for the same value on every record: Quantity: {constant: 1})"),
], ids=["unknown field", "not a table", "cast", "two sources", "a bare value"])
def test_a_child_field_error_names_the_mapping_file_and_the_field(fields, message):
    with pytest.raises(MappingError) as caught:
        entity_mapping_from_dict("orders", {**ORDERS, "OrderItems": {"key": "line_id", "fields": fields}}, origin=ORIGIN)
    assert str(caught.value) == f"{ORIGIN}: {message}"


def test_an_orders_mapping_without_lines_is_told_how_to_send_each_order_with_no_lines(tmp_path):
    # dbt's jaffle_shop: orders and payments, no lines. The message's own block, pasted, runs.
    import duckdb
    import polars as pl

    from replenit_pipelines.lib.validation import prepare
    from replenit_pipelines.lib.warehouse import Warehouse
    from replenit_pipelines.lib.warehouse.frames import read_frames
    from replenit_pipelines.lib.warehouse.windows import ALL_TIME_UTC

    parent = {"source": {"table": "raw_orders", "window_column": None},
              "fields": {"OrderId": "id", "Currency": {"constant": "USD"}, "TotalRevenue": "amount"}}
    with pytest.raises(MappingError) as caught:
        entity_mapping_from_dict("orders", parent, origin=ORIGIN)
    message = str(caught.value)
    assert message.startswith(f"{ORIGIN}: orders needs a OrderItems block") and "OrderItems: []" in message
    import yaml

    block = yaml.safe_load(message.split(" -- ", 1)[1])
    path = tmp_path / "jaffle.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE raw_orders(id INTEGER, amount DOUBLE); INSERT INTO raw_orders VALUES (1, 10.0), (2, 21.0)")
    con.close()
    mapping = entity_mapping_from_dict("orders", {**parent, **block}, origin=ORIGIN)
    keys = pl.DataFrame({"__k": ["1", "2"]})  # as --all reads a source without a window column: by its keys
    p = prepare(mapping.as_read(), read_frames(Warehouse(path), mapping, *ALL_TIME_UTC, keys=keys))
    assert p.records.select("OrderId", "OrderItems", "TotalRevenue").rows() == [("1", [], 10.0), ("2", [], 21.0)]
