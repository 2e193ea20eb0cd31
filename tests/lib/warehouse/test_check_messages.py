"""`check_mapping`'s findings pinned whole: a cast that would lose text, a list where one text value
goes, text for a true/false field, a list of numbers for a list of text, a number read from text, an epoch format on a column it cannot read, and the count of window
values that do not parse (each says what to write instead)."""

import pytest
from helpers import duckdb_warehouse, orders_with_line_table

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.check import Finding, check_mapping

ISO_WINDOW = {"column": "changed", "format": "iso8601"}


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE customers (customer_id VARCHAR, name VARCHAR, tags VARCHAR[], changed VARCHAR, active BOOLEAN)",
        "INSERT INTO customers VALUES ('c1', 'Ada', ['x'], '2026-11-26T12:00:00Z', true), ('c2', 'Bo', ['y'], 'not a time', false)",
        "CREATE TABLE order_lines (order_id VARCHAR, customer_id VARCHAR, line_id VARCHAR, product_id VARCHAR, "
            "qty VARCHAR, price DOUBLE, currency VARCHAR, ordered_at TIMESTAMP, updated_at TIMESTAMP)",
    )


def customers(fields: dict, window=None):
    return entity_mapping_from_dict(
        "customers",
        {"source": {"table": "customers", "window_column": window or ISO_WINDOW}, "fields": {"CustomerId": "customer_id", **fields}},
    )


def findings(mapping, warehouse) -> list[Finding]:
    return check_mapping({mapping.entity: mapping}, warehouse)


def test_a_float_cast_of_a_text_field_is_an_error_to_remove_the_cast(warehouse):
    assert Finding(
        "error",
        "customers",
        "Name",
        "Name is text in the API, and cast float turns the text column 'name' into numbers: every value that "
        "is not one would be lost; remove the cast",
    ) in findings(customers({"Name": {"column": "name", "cast": "float"}}), warehouse)


def test_a_list_column_mapped_to_a_text_field_is_an_error_naming_the_list(warehouse):
    assert Finding("error", "customers", "Email", "Email takes one text value; column 'tags' gives List(String)") in findings(
        customers({"Email": "tags"}), warehouse
    )



def test_a_text_column_for_a_true_false_field_is_an_error_naming_the_cast_and_what_it_reads(warehouse):
    assert Finding(
        "error",
        "customers",
        "GdprOptin",
        "GdprOptin takes true/false; column 'name' is text, which a run cannot convert: add cast: bool "
        "(reads true/false, yes/no, t/f, y/n, 1/0)",
    ) in findings(customers({"GdprOptin": "name"}), warehouse)


def test_a_list_of_numbers_for_a_list_of_text_warns_that_its_items_are_sent_as_text(tmp_path):
    warehouse = duckdb_warehouse(tmp_path / "p.duckdb",
                                 "CREATE TABLE products (product_id VARCHAR, aisles INTEGER[], variant_id VARCHAR, updated_at TIMESTAMP)")
    products = entity_mapping_from_dict("products", {
        "source": {"table": "products", "window_column": "updated_at"},
        "fields": {"ProductId": "product_id", "Taxonomy": "aisles"},
        "ProductVariants": {"fields": {"VariantId": "variant_id"}},
    })
    assert findings(products, warehouse) == [
        Finding("warning", "products", "Taxonomy", "Taxonomy takes a list of text; column 'aisles' gives List(Int32): its items are sent as text")
    ]

def test_an_integer_field_from_a_text_column_warns_that_non_numbers_are_quarantined(warehouse):
    orders = entity_mapping_from_dict(
        "orders",
        {
            "source": {"table": "order_lines", "window_column": "updated_at"},
            "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at"},
            "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
        },
    )
    assert findings(orders, warehouse) == [
        Finding(
            "warning",
            "orders",
            "OrderItems.Quantity",
            "Quantity takes an integer; column 'qty' is text: values that are not numbers are quarantined (rule type); "
            "add cast: int to say so",
        )
    ]


def test_an_epoch_format_on_a_boolean_window_column_is_an_error_naming_the_unit(warehouse):
    assert findings(customers({}, {"column": "active", "format": "epoch_s"}), warehouse) == [
        Finding(
            "error", "customers", "window_column", "'active' is Boolean, which format epoch_s (a number of seconds since 1970) cannot read"
        )
    ]


def test_window_values_that_do_not_parse_are_counted_with_an_example_and_how_to_send_them(warehouse):
    assert findings(customers({}), warehouse) == [
        Finding(
            "warning",
            "customers",
            "window_column",
            "1 rows have a changed that does not parse (e.g. not a time): no partition reads them; "
            "`replenit sync customers --all` and the job reconcile_customers send them",
        )
    ]


def test_a_parent_key_of_another_type_than_the_record_key_is_an_error_saying_to_cast_one(tmp_path):
    warehouse = duckdb_warehouse(
        tmp_path / "split.duckdb",
        "CREATE TABLE orders (order_id INTEGER, customer_id VARCHAR, currency VARCHAR, ordered_at TIMESTAMP, updated_at TIMESTAMP)",
        "CREATE TABLE lines (order_ref DOUBLE, line_id VARCHAR, product_id VARCHAR, qty INTEGER, price DOUBLE)",
    )
    orders = orders_with_line_table({"table": "orders", "window_column": "updated_at"})
    assert findings(orders, warehouse) == [
        Finding(
            "error",
            "orders",
            "OrderItems.parent_key",
            "'order_ref' is Float64 and the parent's OrderId column 'order_id' is Int32: children would match no parent; "
            "make them the same type (a query source can cast one)",
        )
    ]
