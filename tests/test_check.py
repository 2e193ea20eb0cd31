"""`replenit check` and the mapping's messages: each mistake named with what to write instead."""

import textwrap

import duckdb
import pytest

from replenit_pipelines import cli
from replenit_pipelines.lib.warehouse import MappingError, Warehouse, load_mapping

SECRET_KEY = "rk_live_do_not_print_me_42"


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """A small warehouse whose columns have the types real exports have: text flags, text dates."""
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("""
            CREATE TABLE customers (customer_id VARCHAR, email VARCHAR, first_name VARCHAR, consent VARCHAR,
                                    gdpr BOOLEAN, updated_at TIMESTAMP, changed_on VARCHAR, changed_day DATE);
            CREATE TABLE product_variants (product_id VARCHAR, product_name VARCHAR, category VARCHAR, variant_id VARCHAR,
                                           price DOUBLE, currency VARCHAR, stock VARCHAR, updated_at TIMESTAMP);
            CREATE TABLE order_lines (order_id VARCHAR, customer_id VARCHAR, ordered_at TIMESTAMPTZ, product_id VARCHAR,
                                      qty BIGINT, price DOUBLE, updated_day DATE, updated_at TIMESTAMP);
        """)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(path))
    monkeypatch.setenv("REPLENIT_API_KEY", SECRET_KEY)
    monkeypatch.setenv("REPLENIT_TENANT_ID", "0f8fad5b-d9cb-469f-a165-70867728950e")
    monkeypatch.delenv("REPLENIT_PARTITIONS_START", raising=False)
    return tmp_path


GOOD = """
customers:
  source: {table: customers, window_column: updated_at}
  fields:
    CustomerId: customer_id
    Email: email
    Name: first_name
    GdprOptin: {column: consent, cast: bool}
products:
  source: {table: product_variants, window_column: updated_at}
  fields:
    ProductId: product_id
    ProductName: product_name
    Taxonomy: {expr: "string_to_array(category, '/')"}
  ProductVariants:
    fields:
      VariantId: variant_id
      SalePrice: price
      Currency: {constant: USD}
      StockQuantity: {column: stock, cast: int}
orders:
  source: {table: order_lines, window_column: updated_at}
  fields:
    OrderId: order_id
    CustomerId: customer_id
    Currency: {constant: EUR}
    OrderDate: ordered_at
  OrderItems:
    fields:
      ProductId: product_id
      Quantity: qty
      Price: price
"""


def check(capsys, warehouse, mapping: str) -> tuple[int, str]:
    path = warehouse / "mapping.yaml"
    path.write_text(textwrap.dedent(mapping))
    code = cli.main(["check", "--mapping", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_mapping_that_will_run_passes_and_the_settings_are_shown(capsys, warehouse):
    code, out = check(capsys, warehouse, GOOD)
    assert code == 0, out
    assert "OK:" in out
    for shown in ("REPLENIT_BASE_URL", "http://127.0.0.1:8765", "0f8fad5b-d9cb-469f-a165-70867728950e",
                  "REPLENIT_KEY_NAME", "REPLENIT_PARTITIONS_START", "from 2026-01-01", "REPLENIT_STATE_DIR",
                  str(warehouse / ".replenit"), "REPLENIT_CUSTOMER_PRIORITY", "email"):
        assert shown in out
    assert SECRET_KEY not in out


@pytest.mark.parametrize(("old", "new", "expected"), [
    # A constant written as a column name: the hint says how to write a constant.
    ("Currency: {constant: EUR}", "Currency: EUR", "orders.Currency: column 'EUR' is not in the source: if 'EUR' is a value, "
                                                   "not a column, write Currency: {constant: EUR}"),
    ("Email: email", "Email: emial", "customers.Email: column 'emial' is not in the source: did you mean email?"),
    ("CustomerId: customer_id\n    Email", "CustomerId: Customer_ID\n    Email", "did you mean customer_id?"),
    ("Quantity: qty", "Quantity: {expr: \"qtty * 2\"}", "expr 'qtty * 2' reads column 'qtty', which is not in the source: did you mean qty?"),
    # Casts that cannot produce the field: text cast to a number for a text field empties it.
    ("Name: first_name", "Name: {column: first_name, cast: int}", "customers.Name: Name is text in the API, and cast int"),
    # A text column for a true/false field, without the cast that reads it.
    ("GdprOptin: {column: consent, cast: bool}", "GdprOptin: consent", "customers.GdprOptin: GdprOptin takes true/false; "
                                                                     "column 'consent' is text, which a run cannot convert: add cast: bool"),
    ("Taxonomy: {expr: \"string_to_array(category, '/')\"}", "Taxonomy: category",
     "products.Taxonomy: Taxonomy takes a list of text; column 'category' gives one String value: split it with an expr, "
     "e.g. Taxonomy: {expr: \"string_to_array(category, '/')\"}"),
    ("OrderDate: ordered_at", "OrderDate: qty", "orders.OrderDate: OrderDate takes a date and time; column 'qty' gives Int64"),
    ("Quantity: qty", "Quantity: {expr: \"string_to_array(product_id, '/')\"}", "orders.OrderItems.Quantity: Quantity takes an integer"),
    # Windows that cannot be evaluated.
    ("{table: customers, window_column: updated_at}", "{table: customers, window_column: changed_on}",
     "customers.window_column: 'changed_on' is text: a window compares it with timestamps"),
    ("{table: customers, window_column: updated_at}", "{table: customers, window_column: updatedat}",
     "customers.window_column: 'updatedat' is not a column of the source, so no window can select rows: did you mean updated_at?"),
    ("{table: customers, window_column: updated_at}", "{table: customer, window_column: updated_at}",
     "the warehouse has no table 'customer': did you mean customers?"),
])
def test_each_mistake_is_named_with_what_to_write_instead(capsys, warehouse, old, new, expected):
    assert old in GOOD
    code, out = check(capsys, warehouse, GOOD.replace(old, new, 1))
    assert code == 1, out
    assert expected in out
    assert "Traceback" not in out and SECRET_KEY not in out


def test_warnings_do_not_fail_the_check(capsys, warehouse):
    mapping = GOOD.replace("{table: order_lines, window_column: updated_at}", "{table: order_lines, window_column: updated_day}")
    code, out = check(capsys, warehouse, mapping)
    assert code == 0, out
    assert "WARNING orders.window_column: 'updated_day' is a DATE and orders partitions are hourly" in out


def test_a_yaml_list_for_taxonomy_says_lists_are_written_as_an_expr(capsys, warehouse):
    code, out = check(capsys, warehouse, GOOD.replace("Taxonomy: {expr: \"string_to_array(category, '/')\"}", "Taxonomy: [Home, Kitchen]"))
    assert code == 1
    assert "products.Taxonomy: a YAML list is not a field mapping; a list is written as an expr" in out
    assert "{expr: \"string_to_array(category, '/')\"}" in out and "{expr: \"['Home', 'Kitchen']\"}" in out
    # The expr the message shows is one a run accepts.
    code, out = check(capsys, warehouse, GOOD.replace("Taxonomy: {expr: \"string_to_array(category, '/')\"}",
                                                      "Taxonomy: {expr: \"['Home', 'Kitchen']\"}"))
    assert code == 0, out


def test_an_invalid_setting_fails_the_check(capsys, warehouse, monkeypatch):
    monkeypatch.setenv("REPLENIT_PARTITIONS_START", "01/02/2026")
    code, out = check(capsys, warehouse, GOOD)
    assert code == 1 and "REPLENIT_PARTITIONS_START: '01/02/2026' is not a date" in out


def test_a_constant_written_as_a_column_is_hinted_at_run_time_too(warehouse):
    path = warehouse / "mapping.yaml"
    path.write_text(GOOD.replace("Currency: {constant: EUR}", "Currency: EUR"))
    mapping = load_mapping(path)["orders"]
    with pytest.raises(MappingError, match=r"EUR: if 'EUR' is a value, not a column, write Currency: \{constant: EUR\}"):
        Warehouse(str(warehouse / "wh.duckdb")).check(mapping)


def test_file_and_query_sources_are_checked_by_their_schema(capsys, warehouse):
    import polars as pl

    pl.DataFrame({"customer_id": ["c1"], "email": ["a@example.com"], "changed": ["2026-11-26"]}).write_parquet(
        warehouse / "customers.parquet")
    mapping = """
    customers:
      source: {path: customers.parquet, window_column: changed}
      fields: {CustomerId: customer_id, Email: emails}
    orders:
      source: {query: "SELECT * FROM order_lines", window_column: updated_at}
      fields: {OrderId: order_id, CustomerId: customer_id, Currency: {constant: EUR}, OrderDate: ordered_at}
      OrderItems: {fields: {ProductId: product_id, Quantity: qty, Price: price}}
    """
    code, out = check(capsys, warehouse, mapping)
    assert code == 1
    assert "customers.window_column: 'changed' is text" in out
    assert "customers.Email: column 'emails' is not in the source: did you mean email?" in out
    assert "ERROR   orders.source: the query uses neither $start nor $end, so every partition reads and sends" in out


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT * FROM order_lines", None),
    ("SELECT * FROM order_lines WHERE updated_at >= $start", "WARNING orders.source: the query uses $start but not $end"),
    ("SELECT * FROM order_lines WHERE updated_at >= $start AND updated_at < $end", ""),
])
def test_a_query_that_ignores_the_window_is_an_error_and_one_bound_a_warning(capsys, warehouse, query, expected):
    code, out = check(capsys, warehouse, GOOD.replace("{table: order_lines, window_column: updated_at}",
                                                      f'{{query: "{query}", window_column: updated_at}}'))
    if expected is None:  # neither bound: every partition sends the whole result again
        assert code == 1 and "ERROR   orders.source: the query uses neither $start nor $end" in out, out
        assert "WHERE updated_at >= $start AND updated_at < $end" in out
    else:
        assert code == 0, out
        assert (expected in out) if expected else ("orders.source" not in out)


def test_a_missing_warehouse_says_how_to_create_a_demo_one_or_point_at_yours(capsys, warehouse, monkeypatch):
    missing = warehouse / "nowhere.duckdb"
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(missing))
    code, out = check(capsys, warehouse, GOOD)
    assert code == 1
    assert f"replenit demo-warehouse {missing}" in out and "REPLENIT_WAREHOUSE" in out
