"""`replenit check`'s findings as the library returns them (lib/warehouse/check.py check_mapping):
each a level (an "error" fails the check), the entity and the place in the mapping, and words that
say what to map instead; the window column's problems in particular."""

from dataclasses import replace

import polars as pl
import pytest
from helpers import duckdb_warehouse

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.check import Finding, check_mapping
from replenit_pipelines.lib.warehouse.mapping import FieldMapping

CUSTOMER_FIELDS = {"CustomerId": "customer_id", "Email": "email"}


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE customers (customer_id VARCHAR, email VARCHAR, modified TIMESTAMP, active BOOLEAN)",
        "CREATE TABLE order_lines (order_id VARCHAR, product_id VARCHAR, qty BIGINT, price DOUBLE, order_day DATE)",
    )


def customers(window_column: str):
    return entity_mapping_from_dict(
        "customers", {"source": {"table": "customers", "window_column": window_column}, "fields": CUSTOMER_FIELDS}
    )


def test_a_window_column_that_is_not_there_is_one_error_with_the_close_name(warehouse):
    # One finding: an error stops check_mapping before the run's own checks would name it again.
    assert check_mapping({"customers": customers("modifed")}, warehouse) == [
        Finding(
            "error",
            "customers",
            "window_column",
            "'modifed' is not a column of the source, so no window can select rows: did you mean modified?",
        )
    ]


def test_a_window_column_of_another_type_is_an_error_that_names_the_types_to_map(warehouse):
    assert check_mapping({"customers": customers("active")}, warehouse) == [
        Finding(
            "error",
            "customers",
            "window_column",
            "'active' is Boolean, not a timestamp, so no window can be evaluated; map a TIMESTAMP, DATE, ISO 8601 text or epoch column",
        )
    ]


def test_a_date_window_column_of_an_hourly_entity_is_a_warning_to_map_a_timestamp(warehouse):
    orders = entity_mapping_from_dict(
        "orders",
        {
            "source": {"table": "order_lines", "window_column": "order_day"},
            "fields": {"OrderId": "order_id", "Currency": {"constant": "EUR"}, "OrderDate": "order_day"},
            "OrderItems": {"fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
        },
    )
    assert check_mapping({"orders": orders}, warehouse) == [
        Finding(
            "warning",
            "orders",
            "window_column",
            "'order_day' is a DATE and orders partitions are hourly: only the 00:00 partition of each day selects its rows; "
            "map a TIMESTAMP column for hourly syncs",
        )
    ]


def test_an_expr_polars_cannot_parse_is_an_error_with_polars_reason(warehouse):
    # The loaders reject such an expr first; a FieldMapping built in Python reaches the check with it.
    mapping = customers("modified")
    bad = replace(mapping, fields=(mapping.fields[0], FieldMapping("Email", expr="lower(email")))
    with pytest.raises(Exception) as polars_says:  # noqa: PT011 - whatever type Polars raises, its first line is the reason
        pl.sql_expr("lower(email").meta.root_names()
    reason = str(polars_says.value).splitlines()[0]
    assert reason
    assert check_mapping({"customers": bad}, warehouse) == [
        Finding("error", "customers", "Email", f"expr 'lower(email' cannot be read: {reason}")
    ]


def test_an_iso8601_window_column_that_is_neither_text_nor_a_number_is_an_error_without_the_epoch_hint(warehouse):
    active = entity_mapping_from_dict(
        "customers",
        {"source": {"table": "customers", "window_column": {"column": "active", "format": "iso8601"}}, "fields": CUSTOMER_FIELDS},
    )
    assert check_mapping({"customers": active}, warehouse) == [
        Finding("error", "customers", "window_column", "'active' is Boolean, not ISO 8601 text")
    ]


def test_a_missing_deleted_column_is_the_sources_error_in_the_runs_own_words(warehouse):
    # check_entity does not look at deleted_column: the run's own check (Warehouse.check) names it.
    soft = entity_mapping_from_dict(
        "customers",
        {"source": {"table": "customers", "window_column": "modified", "deleted_column": "deleted_at"}, "fields": CUSTOMER_FIELDS},
    )
    assert check_mapping({"customers": soft}, warehouse) == [
        Finding(
            "error",
            "customers",
            "source",
            "<python>: customers maps column(s) deleted_at that customers does not have (it has: active, customer_id, email, modified)",
        )
    ]


def test_a_required_field_the_mapping_leaves_out_is_an_error_of_check(tmp_path):
    # jaffle_shop's orders mapped without a line Quantity or a Currency: the run would quarantine every
    # row as required on them, so `replenit check` says it before any run.
    import duckdb

    from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
    from replenit_pipelines.lib.warehouse.check import check_mapping

    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE orders(id INTEGER, amount DOUBLE, product VARCHAR, updated_at TIMESTAMP)")
    con.close()
    (tmp_path / "m.yaml").write_text(
        "orders:\n  source: {table: orders, window_column: updated_at}\n"
        "  fields: {OrderId: id, TotalRevenue: amount}\n"
        "  OrderItems:\n    fields: {ProductId: product}\n")
    found = {(f.level, f.where): f.message for f in check_mapping(load_mapping(tmp_path / "m.yaml"), Warehouse(db))}
    assert set(found) >= {("error", "Currency"), ("error", "OrderItems.Quantity")}, found
    assert found[("error", "OrderItems.Quantity")] == (
        "the API requires OrderItems.Quantity and the mapping leaves it out: every row would be quarantined as required "
        "on it; map it (a column, an expr or a constant: docs/configuration.md)")
    assert ("error", "OrderItems.ProductId") not in found and ("error", "OrderId") not in found


def test_a_price_mapped_without_its_currency_is_a_warning_naming_the_currency(tmp_path):
    """theLook's products have no currency column: a mapping with `SalePrice: retail_price` and no
    `Currency` passed `replenit check` without a word, then quarantined every priced variant
    (required_with) and the gate held the load back. Check says so first."""
    import duckdb

    from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
    from replenit_pipelines.lib.warehouse.check import check_mapping

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE products(id BIGINT, name VARCHAR, retail_price DOUBLE, cur VARCHAR)")
    variants = "  ProductVariants:\n    fields: {VariantId: id, SalePrice: retail_price%s}\n"
    head = "products:\n  source: {table: products, window_column: null}\n  fields: {ProductId: id, ProductName: name}\n"
    (tmp_path / "m.yaml").write_text(head + variants % "")
    found = {(f.level, f.where): f.message for f in check_mapping(load_mapping(tmp_path / "m.yaml"), Warehouse(db))}
    assert found[("warning", "ProductVariants.Currency")] == (
        "the API requires ProductVariants.Currency when ProductVariants.OriginalPrice or ProductVariants.SalePrice has "
        "a value, and the mapping maps ProductVariants.SalePrice without it: every row with a price would be quarantined "
        "(required_with); map it (a column, or {constant: USD})")
    (tmp_path / "m.yaml").write_text(head + variants % ", Currency: cur")
    found = {(f.level, f.where) for f in check_mapping(load_mapping(tmp_path / "m.yaml"), Warehouse(db))}
    assert ("warning", "ProductVariants.Currency") not in found
def test_a_whole_id_kept_as_a_double_is_a_warning_that_says_it_goes_as_12346_0_and_names_cast_int(tmp_path):
    # UCI Online Retail II's "Customer ID" is a DOUBLE (12346.0, NULL for guests): mapped as it is, every
    # customer went as '12346.0' while `replenit check` said OK. cast: int sends '12346' and is no finding.
    warehouse = duckdb_warehouse(tmp_path / "w.duckdb", 'CREATE TABLE online_retail ("Customer ID" DOUBLE, '
                                 "code DECIMAL(12, 4), n INTEGER, InvoiceDate TIMESTAMP)")

    def findings(fields: dict) -> list[Finding]:
        mapping = entity_mapping_from_dict("customers", {
            "source": {"table": "online_retail", "window_column": "InvoiceDate"}, "fields": fields})
        return check_mapping({"customers": mapping}, warehouse)

    [double] = findings({"CustomerId": "Customer ID"})
    assert (double.level, double.entity, double.where) == ("warning", "customers", "CustomerId")
    assert "Float64" in double.message and "'12346.0'" in double.message
    assert "CustomerId: {column: Customer ID, cast: int}" in double.message
    [as_text] = findings({"CustomerId": {"column": "Customer ID", "cast": "string"}})  # still '12346.0'
    assert as_text.level == "warning" and "'12346.0'" in as_text.message
    [decimal] = findings({"CustomerId": "code"})  # DECIMAL(12,4): '12346.0000'
    assert decimal.level == "warning" and "cast: int" in decimal.message
    assert findings({"CustomerId": {"column": "Customer ID", "cast": "int"}}) == []
    assert findings({"CustomerId": "n"}) == []


def test_an_orders_mapping_without_any_revenue_is_an_error_of_check_as_the_run_refuses_it(tmp_path):
    # Instacart has no prices: orders mapped without TotalRevenue or a line Price passed `replenit check`
    # ("OK: ... will run") and every sync then stopped at once on "maps neither TotalRevenue nor
    # OrderItems.Price". check says it first, in the run's words.
    import duckdb

    from replenit_pipelines.lib.validation.prepare import map_rows
    from replenit_pipelines.lib.warehouse import MappingError, Warehouse, load_mapping

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE order_products(order_id INTEGER, product_id INTEGER, price DOUBLE, updated_at TIMESTAMP)")
    text = ("orders:\n  source: {table: order_products, window_column: updated_at}\n"
            "  fields: {OrderId: order_id, Currency: {constant: USD}}\n"
            "  OrderItems:\n    fields: {ProductId: product_id, Quantity: {constant: 1}%s}\n")
    (tmp_path / "m.yaml").write_text(text % "")
    mappings = load_mapping(tmp_path / "m.yaml")
    [finding] = [f for f in check_mapping(mappings, Warehouse(db)) if f.level == "error"]
    assert (finding.entity, finding.where) == ("orders", "TotalRevenue")
    with pytest.raises(MappingError) as refused:
        map_rows(mappings["orders"], pl.DataFrame({"order_id": [1], "product_id": [2], "price": [1.0]}))
    assert str(refused.value) == f"{tmp_path / 'm.yaml'}: {finding.message}"
    (tmp_path / "m.yaml").write_text(text % ", Price: price")
    assert [f for f in check_mapping(load_mapping(tmp_path / "m.yaml"), Warehouse(db)) if f.level == "error"] == []


def test_orders_mapped_without_an_orderdate_are_a_warning_that_each_is_stored_as_a_sale_of_the_day_synced(warehouse):
    # Instacart's orders have no dates (order_dow, order_hour_of_day, days_since_prior_order): mapped
    # without OrderDate they passed check silently, and the API dated every order of a first load "now".
    def findings(fields: dict) -> list[Finding]:
        orders = entity_mapping_from_dict("orders", {
            "source": {"table": "order_lines", "window_column": "order_day"},
            "fields": {"OrderId": "order_id", "Currency": {"constant": "USD"}, **fields},
            "OrderItems": {"fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}}})
        return [f for f in check_mapping({"orders": orders}, warehouse) if f.where == "OrderDate"]

    [undated] = findings({})
    assert undated.level == "warning" and "stored as a sale of the day it is synced" in undated.message
    assert findings({"OrderDate": "order_day"}) == []
