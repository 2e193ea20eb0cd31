"""What a mapping built in Python says about itself: the origin its errors name ("<python>"), why a
record key that is not a column cannot work, and which sources Dagster can observe."""

import re

import pytest

from replenit_pipelines.lib.warehouse import MappingError, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.keys import record_key_column
from replenit_pipelines.lib.warehouse.mapping import SourceSpec
from replenit_pipelines.lib.warehouse.observe import observable

ORDER_FIELDS = {"CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at"}
ORDER_ITEMS = {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}}


def test_a_mapping_built_in_python_names_python_as_its_origin():
    with pytest.raises(MappingError, match=r"^<python>: unknown entity 'shoppers'; expected customers, orders, products$"):
        entity_mapping_from_dict("shoppers", {"source": {"table": "t"}, "fields": {}})


@pytest.mark.parametrize(("order_id", "how"), [({"constant": "o1"}, "a constant"), ({"expr": "concat(a, b)"}, "an expr")])
def test_a_record_key_that_is_not_a_column_says_what_it_is_and_what_to_map(order_id, how):
    orders = entity_mapping_from_dict(
        "orders", {"source": {"table": "order_lines"}, "fields": {"OrderId": order_id, **ORDER_FIELDS}, "OrderItems": ORDER_ITEMS}
    )
    expected = (
        f"<python>: orders.OrderId is {how}, but it must be a column: a window reads every row of each record it "  # noqa: S608 - a message, not executed
        "touches by that column. Map OrderId to a column, or use a `query:` source that computes the id as a "
        "column (SELECT *, <expression> AS order_key FROM ...)"
    )
    with pytest.raises(MappingError, match="^" + re.escape(expected) + "$"):
        record_key_column(orders)


def test_tables_and_files_are_observable_queries_and_python_sources_are_not():
    assert observable(SourceSpec(table="customers"))
    assert observable(SourceSpec(path="/data/customers.parquet"))
    assert not observable(SourceSpec(query="SELECT 1"))
    assert not observable(SourceSpec(python="mod:frame"))


def test_a_field_with_an_unknown_key_names_the_keys():
    with pytest.raises(MappingError, match=r"^<python>: customers.Email: unknown key\(s\) colum, typ$"):
        entity_mapping_from_dict("customers", {"source": {"table": "t"},
                                               "fields": {"CustomerId": "id", "Email": {"colum": "email", "typ": "x"}}})


def test_a_window_column_that_is_neither_a_name_nor_a_table_shows_both_ways_to_write_it():
    with pytest.raises(MappingError) as info:
        entity_mapping_from_dict("customers", {"source": {"table": "t", "window_column": 5}, "fields": {"CustomerId": "id"}})
    assert str(info.value) == ("<python>: customers.window_column must be a column name or a table like "
                               "window_column: {column: updated_at, format: iso8601} (or null: a source without an update "
                               "time), not 5")


def test_unknown_source_keys_are_all_named_sorted_with_the_closest_known_key():
    source = {"table": "order_lines", "windw_column": "updated_at", "lookback": 2}
    with pytest.raises(MappingError) as caught:
        entity_mapping_from_dict("orders", {"source": source, "fields": {"OrderId": "order_id", **ORDER_FIELDS}, "OrderItems": ORDER_ITEMS})
    assert str(caught.value) == "<python>: orders.source: unknown key(s) lookback, windw_column: did you mean lookback_hours?"



@pytest.mark.parametrize(("word", "meant"), [("kye", "key"), ("Key", "key"), ("parentkey", "parent_key")])
def test_an_unknown_key_of_the_children_block_says_the_known_key_meant(word, meant):
    items = {"fields": ORDER_ITEMS["fields"], word: "line_id"}
    with pytest.raises(MappingError) as caught:
        entity_mapping_from_dict("orders", {"source": {"table": "order_lines"}, "fields": {"OrderId": "order_id", **ORDER_FIELDS},
                                            "OrderItems": items})
    assert str(caught.value) == f"<python>: orders.OrderItems: unknown key(s) {word}: did you mean {meant}?"

# What a user who soft-deletes variants or lines (Spree's spree_variants.deleted_at) writes instead.
DELETED_CHILD = ("; a child source takes no deleted_column: leave its soft-deleted rows out of it (a query: with "
                 "WHERE gone IS NULL) and the record is sent without them, the API replacing OrderItems whole (a "
                 "partition sends it when its parent row or another of its children changes in the window, --all always)")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"deleted_column": "gone"}, "deleted_column" + DELETED_CHILD),
        (
            {"lookback_hours": 2, "deleted_column": "gone"},
            "deleted_column, lookback_hours; a child source is read with its parent's window and lookback" + DELETED_CHILD,
        ),
        ({"lookback_hours": 2}, "lookback_hours; a child source is read with its parent's window and lookback"),
    ],
)
def test_a_child_sources_own_lookback_or_deleted_column_is_refused_saying_why(extra, expected):
    items = {**ORDER_ITEMS, "source": {"table": "lines", **extra}, "parent_key": "order_id"}
    with pytest.raises(MappingError) as caught:
        entity_mapping_from_dict(
            "orders", {"source": {"table": "order_lines"}, "fields": {"OrderId": "order_id", **ORDER_FIELDS}, "OrderItems": items}
        )
    assert str(caught.value) == f"<python>: orders.OrderItems.source: unknown key(s) {expected}"


ORDERS_WITH_LINES_APART = {
    "source": {"table": "order_lines"},
    "fields": {"OrderId": "order_id", **ORDER_FIELDS},
    "OrderItems": {**ORDER_ITEMS, "source": {"table": "lines"}},
}
PRODUCTS_WITH_VARIANTS_APART = {
    "source": {"table": "products"},
    "fields": {"ProductId": "product_id"},
    "ProductVariants": {"key": "variant_id", "fields": {"VariantId": "variant_id"}, "source": {"table": "lines"}},
}


@pytest.mark.parametrize(
    ("entity", "raw", "expected"),
    [
        (
            "orders",
            ORDERS_WITH_LINES_APART,
            "OrderItems has its own source: give parent_key, the column of table lines "
            "that holds the parent's OrderId (e.g. parent_key: order_id)",
        ),
        (
            "products",
            PRODUCTS_WITH_VARIANTS_APART,
            "ProductVariants has its own source: give parent_key, the column of "
            "table lines that holds the parent's ProductId (e.g. parent_key: product_id)",
        ),
    ],
)
def test_a_child_source_without_parent_key_says_which_column_to_give_with_the_entitys_example(entity, raw, expected):
    with pytest.raises(MappingError) as caught:
        entity_mapping_from_dict(entity, raw)
    assert str(caught.value) == f"<python>: {entity}.{expected}"
