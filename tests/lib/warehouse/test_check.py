"""`replenit check` and the mapping's messages: each mistake named with what to write instead."""

import os
import sys
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


def test_an_unset_base_url_is_shown_as_one_the_sending_commands_refuse(capsys, warehouse, monkeypatch):
    """The docs' default (the local sandbox) is Dagster's; `replenit sync` stops with 'set
    REPLENIT_BASE_URL'. Before, check showed the sandbox's address as the setting in force and a sync
    run right after it exited 2."""
    monkeypatch.delenv("REPLENIT_BASE_URL", raising=False)
    code, out = check(capsys, warehouse, GOOD)
    assert code == 0, out
    assert "not set: Dagster runs use the local sandbox (http://127.0.0.1:8765); replenit sync, push and replay" in out
    monkeypatch.setenv("REPLENIT_BASE_URL", "http://127.0.0.1:9999")
    code, out = check(capsys, warehouse, GOOD)
    assert "http://127.0.0.1:9999" in out and "not set: Dagster" not in out


@pytest.mark.parametrize(("old", "new", "expected"), [
    # A constant written as a column name: the hint says how to write a constant.
    ("Currency: {constant: EUR}", "Currency: EUR", "orders.Currency: column 'EUR' is not in the source: if 'EUR' is a value, "
                                                   "not a column, write Currency: {constant: EUR}"),
    ("Email: email", "Email: emial", "customers.Email: column 'emial' is not in the source: did you mean email?"),
    ("CustomerId: customer_id\n    Email", "CustomerId: Customer_ID\n    Email", "did you mean customer_id?"),
    ("Quantity: qty", "Quantity: {expr: \"qtty * 2\"}", "expr 'qtty * 2' reads column 'qtty', which is not in the source: did you mean qty?"),
    # Casts that cannot produce the field: text cast to a number for a text field empties it.
    ("Name: first_name", "Name: {column: first_name, cast: int}", "customers.Name: Name is text in the API, and cast int"),
    ("Name: first_name", "Name: {column: first_name, cast: bool}", "customers.Name: Name is text in the API, and cast bool "
                                                                   "turns the text column 'first_name' into true/false: every value that is not one would be lost"),
    # A text column for a true/false field, without the cast that reads it; a time is no true/false at all.
    ("GdprOptin: {column: consent, cast: bool}", "GdprOptin: updated_at", "customers.GdprOptin: GdprOptin takes true/false; "
                                                                        "column 'updated_at' gives "),
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
    # Both bounds: a note says that rows with a NULL updated_at are read by no run, and the idiom.
    ("SELECT * FROM order_lines WHERE updated_at >= $start AND updated_at < $end",
     "NOTE    orders.source: the query decides which rows any run reads"),
    ("SELECT * FROM order_lines WHERE updated_at >= $start AND updated_at < $end OR (updated_at IS NULL AND $all)", ""),
])
def test_a_query_that_ignores_the_window_is_an_error_and_one_bound_a_warning(capsys, warehouse, query, expected):
    code, out = check(capsys, warehouse, GOOD.replace("{table: order_lines, window_column: updated_at}",
                                                      f'{{query: "{query}", window_column: updated_at}}'))
    if expected is None:  # neither bound: every partition sends the whole result again
        assert code == 1 and "ERROR   orders.source: the query uses neither $start nor $end" in out, out
        assert "WHERE updated_at >= $start AND updated_at < $end" in out
    else:
        assert code == 0, out
        assert (expected in out) if expected else ("orders.source" not in out), out
        if expected.startswith("NOTE"):
            assert "OR (updated_at IS NULL AND $all)" in out and "warning(s)" not in out


@pytest.mark.parametrize("bound", ["$start", "$end"])
def test_a_query_with_one_bound_also_gets_the_note_on_rows_without_a_window_value(capsys, warehouse, bound):
    # `updated_at >= $start` alone (or `< $end` alone) still leaves out every NULL updated_at in every run.
    where = "updated_at >= $start" if bound == "$start" else "updated_at < $end"
    code, out = check(capsys, warehouse, GOOD.replace("{table: order_lines, window_column: updated_at}",
                                                      f'{{query: "SELECT * FROM order_lines WHERE {where}", window_column: updated_at}}'))  # noqa: S608 - a mapping under test
    assert code == 0, out
    assert "NOTE    orders.source: the query decides which rows any run reads" in out, out


def test_a_missing_warehouse_says_how_to_create_a_demo_one_or_point_at_yours(capsys, warehouse, monkeypatch):
    missing = warehouse / "nowhere.duckdb"
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(missing))
    code, out = check(capsys, warehouse, GOOD)
    assert code == 1
    assert f"replenit demo-warehouse {missing}" in out and "REPLENIT_WAREHOUSE" in out


@pytest.fixture
def normalized(tmp_path, monkeypatch):
    """A normalized warehouse: products and variants, orders and lines, a CRM export with text times."""
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("""
            CREATE TABLE products (product_id VARCHAR, name VARCHAR, updated_at TIMESTAMP);
            CREATE TABLE variants (variant_id VARCHAR, product_id VARCHAR, sku VARCHAR, price DOUBLE, updated_at TIMESTAMP,
                                   changed_ms BIGINT);
            CREATE TABLE orders (order_id BIGINT, customer_id VARCHAR, ordered_at TIMESTAMPTZ, updated_at TIMESTAMP);
            CREATE TABLE lines (line_id VARCHAR, order_ref BIGINT, order_code DOUBLE, product_id VARCHAR, qty BIGINT,
                                price DOUBLE);
            CREATE TABLE crm (customer_id VARCHAR, email VARCHAR, modified VARCHAR, modified_epoch VARCHAR, age BIGINT);
        """)
    (tmp_path / "crm_check_frames.py").write_text(textwrap.dedent("""
        import polars as pl

        def crm_frame():
            return pl.LazyFrame(schema={"customer_id": pl.String, "email": pl.String,
                                        "updated_at": pl.Datetime("us", "UTC")})
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(path))
    monkeypatch.setenv("REPLENIT_API_KEY", SECRET_KEY)
    monkeypatch.setenv("REPLENIT_TENANT_ID", "0f8fad5b-d9cb-469f-a165-70867728950e")
    monkeypatch.delenv("REPLENIT_PARTITIONS_START", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # the module of this test's folder is forgotten after it
    return tmp_path


NORMALIZED = """
customers:
  source: {table: crm, window_column: {column: modified, format: iso8601}}
  fields: {CustomerId: customer_id, Email: email}
products:
  source: {table: products, window_column: updated_at}
  fields: {ProductId: product_id, ProductName: name}
  ProductVariants:
    source: {table: variants, window_column: updated_at}
    parent_key: product_id
    key: variant_id
    fields: {VariantId: variant_id, Sku: sku, SalePrice: price, Currency: {constant: EUR}}
orders:
  source: {table: orders, window_column: updated_at}
  fields: {OrderId: {column: order_id, cast: string}, CustomerId: customer_id, Currency: {constant: EUR}, OrderDate: ordered_at}
  OrderItems:
    source: {table: lines}
    parent_key: order_ref
    key: line_id
    fields: {ProductId: product_id, Quantity: qty, Price: price}
"""


def test_a_normalized_mapping_with_text_times_and_a_python_source_passes(capsys, normalized):
    code, out = check(capsys, normalized, NORMALIZED)
    assert code == 0, out
    python = NORMALIZED.replace("{table: crm, window_column: {column: modified, format: iso8601}}",
                                "{python: crm_check_frames:crm_frame, window_column: updated_at}")
    code, out = check(capsys, normalized, python)
    assert code == 0, out


@pytest.mark.parametrize(("old", "new", "expected"), [
    # Child sources: a table that is not there, fields of the child's own table.
    ("{table: variants, window_column: updated_at}", "{table: variant, window_column: updated_at}",
     "products.ProductVariants.source: table 'variant' cannot be read"),
    ("Sku: sku", "Sku: skux", "products.ProductVariants.Sku: column 'skux' is not in the source: did you mean sku?"),
    ("ProductName: name", "ProductName: sku", "products.ProductName: column 'sku' is not in the source"),  # a child's column
    # Join keys: missing, and of types that never match.
    ("parent_key: product_id", "parent_key: produt_id",
     "products.ProductVariants.parent_key: parent_key 'produt_id' is not a column of the source: did you mean product_id?"),
    ("parent_key: order_ref", "parent_key: order_code",
     "orders.OrderItems.parent_key: 'order_code' is Float64 and the parent's OrderId column 'order_id' is Int64"),
    ("key: variant_id", "key: variantid", "products.ProductVariants.key: key 'variantid' is not a column of the source: "
                                          "did you mean variant_id?"),
    # Window columns and their formats.
    ("{column: modified, format: iso8601}", "modified",
     "customers.window_column: 'modified' is text: a window compares it with timestamps, which fails on the first value "
     "that is not one; declare how to read it: window_column: {column: modified, format: iso8601}"),
    ("{column: modified, format: iso8601}", "{column: age, format: iso8601}",
     "customers.window_column: 'age' is Int64, not ISO 8601 text; for numbers since 1970 write format: epoch_s or epoch_ms"),
    ("{table: variants, window_column: updated_at}", "{table: variants, window_column: changed_ms}",
     "products.ProductVariants.window_column: 'changed_ms' is Int64, not a timestamp: if it counts seconds or "
     "milliseconds since 1970, write window_column: {column: changed_ms, format: epoch_s}"),
    ("{column: modified, format: iso8601}", "{column: modifed, format: iso8601}",
     "customers.window_column: 'modifed' is not a column of the source, so no window can select rows: did you mean modified"),
    # Python sources: a function that is not there, a column its LazyFrame does not have.
    ("{table: crm, window_column: {column: modified, format: iso8601}}", "{python: crm_check_frames:crm_check_frames, window_column: updated_at}",
     "crm_check_frames has no function 'crm_check_frames' (did you mean 'crm_frame'?)"),
    ("{table: crm, window_column: {column: modified, format: iso8601}}\n  fields: {CustomerId: customer_id, Email: email}",
     "{python: crm_check_frames:crm_frame, window_column: updated_at}\n  fields: {CustomerId: customer_id, Email: e_mail}",
     "customers.Email: column 'e_mail' is not in the source: did you mean email?"),
])
def test_each_normalized_mapping_mistake_is_named_with_what_to_write_instead(capsys, normalized, old, new, expected):
    assert old in NORMALIZED
    code, out = check(capsys, normalized, NORMALIZED.replace(old, new, 1))
    assert code == 1, out
    assert expected in out, out
    assert "Traceback" not in out and SECRET_KEY not in out


def test_epoch_text_windows_pass_and_a_format_on_a_timestamp_is_a_warning(capsys, normalized):
    code, out = check(capsys, normalized, NORMALIZED.replace("{column: modified, format: iso8601}",
                                                             "{column: modified_epoch, format: epoch_ms}"))
    assert code == 0, out
    code, out = check(capsys, normalized, NORMALIZED.replace("{table: products, window_column: updated_at}",
                                                             "{table: products, window_column: {column: updated_at, format: epoch_s}}"))
    assert code == 0 and "WARNING products.window_column: 'updated_at' is a Datetime" in out, out


@pytest.mark.parametrize("expr", ["[category]", "[upper(category), 'x']"])
def test_a_list_literal_of_a_column_says_what_to_write_not_rusts_debug_form(capsys, warehouse, expr):
    """A newcomer's `{expr: "[type]"}` (jaffle shop's products): Polars SQL's [...] holds constants
    only, and its error names the element in Rust's debug form."""
    code, out = check(capsys, warehouse, GOOD.replace("Taxonomy: {expr: \"string_to_array(category, '/')\"}", f"Taxonomy: {{expr: \"{expr}\"}}"))
    assert code == 1, out
    assert "products.Taxonomy: expr" in out and "a [...] list holds constants only" in out
    assert "string_to_array(column, '|')" in out
    assert "Ident {" not in out and "Function {" not in out


def test_check_with_a_mapping_leaves_the_callers_environment_as_it_was(capsys, warehouse, monkeypatch):
    """`cli.main(["check", "--mapping", …])` inside a caller's process (a notebook, a test worker): the
    mapping it checked must not become the process's REPLENIT_MAPPING for whatever loads next."""
    monkeypatch.delenv("REPLENIT_MAPPING", raising=False)
    code, out = check(capsys, warehouse, GOOD)
    assert code == 0, out
    assert str(warehouse / "mapping.yaml") in out  # the setting shown is the one checked
    assert "REPLENIT_MAPPING" not in os.environ
