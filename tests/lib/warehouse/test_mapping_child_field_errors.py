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
