"""A warehouse's sources reached (lib/warehouse/access.py, reader.py): the one-line errors that say
what to set when a source cannot be read: no DuckDB file named, a table that is not there (with
every table and view the file has, schema-qualified outside `main`), columns a mapping read by
frames does not find (with the close names), a file of another kind or one that cannot be read."""

import duckdb
import pytest

from replenit_pipelines.lib.warehouse import MappingError, Warehouse, entity_mapping_from_dict

FIELDS = {"CustomerId": "customer_id", "Email": "email"}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE customers (customer_id VARCHAR, email VARCHAR, updated_at TIMESTAMP)")
        con.execute("CREATE SCHEMA sales")
        con.execute("CREATE TABLE sales.orders (order_id VARCHAR)")
        con.execute("CREATE VIEW recent_customers AS SELECT * FROM customers")
    return path


def customers(source: dict, fields: dict = FIELDS):
    return entity_mapping_from_dict("customers", {"source": source, "fields": fields}, origin="mapping.yaml")


def test_a_table_source_without_a_warehouse_file_says_to_set_it():
    for attempt in (
        lambda: Warehouse(None).check(customers({"table": "customers"})),
        lambda: Warehouse(None).columns(customers({"table": "customers"})),
    ):
        with pytest.raises(MappingError) as info:
            attempt()
        assert str(info.value) == "this source reads a DuckDB table: set REPLENIT_WAREHOUSE to the DuckDB file"


def test_a_missing_table_lists_every_table_and_view_with_its_schema_outside_main(db):
    with pytest.raises(MappingError) as info:
        Warehouse(db).check(customers({"table": "customer"}))
    assert str(info.value) == (
        f"mapping.yaml: customers: table 'customer' is not in {db} (did you mean 'customers'?); it has: "
        "customers, recent_customers, sales.orders. Set source.table to one of them "
        "(or REPLENIT_WAREHOUSE to the right file)"
    )


@pytest.mark.parametrize(("fields", "missing"), [
    ({"CustomerId": "customer_id", "Email": "emial", "Name": "nom"},
     "emial, nom that table customers does not have (it has: customer_id, email, updated_at); emial: did you mean email?"),
    # each missing column gets its own close name
    ({"CustomerId": "customer_id", "Email": "emial", "Name": "updated_att"},
     "emial, updated_att that table customers does not have (it has: customer_id, email, updated_at); "
     "emial: did you mean email?; updated_att: did you mean updated_at?"),
])
def test_a_mapping_read_by_frames_names_its_missing_columns_and_their_close_names(db, fields, missing):
    # window_column: null -> the generic path (frames.py), whose check names missing columns itself.
    mapping = customers({"table": "customers", "window_column": None}, fields)
    with pytest.raises(MappingError) as info:
        Warehouse(db).check(mapping)
    assert str(info.value) == f"mapping.yaml: customers maps column(s) {missing}"


def test_the_order_line_key_of_orders_read_by_frames_is_a_column_the_check_looks_for(tmp_path):
    path = tmp_path / "o.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE order_lines (order_id VARCHAR, line_id VARCHAR, product_id VARCHAR, qty BIGINT, price DOUBLE)")
    orders = {"source": {"table": "order_lines", "window_column": None}, "fields": {"OrderId": "order_id"},
              "OrderItems": {"fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}}}
    Warehouse(path).check(entity_mapping_from_dict("orders", {**orders, "OrderItems": {**orders["OrderItems"], "key": "line_id"}}))
    with pytest.raises(MappingError) as info:
        Warehouse(path).check(entity_mapping_from_dict(
            "orders", {**orders, "OrderItems": {**orders["OrderItems"], "key": "line_idd"}}, origin="mapping.yaml"))
    assert str(info.value) == (
        "mapping.yaml: orders maps column(s) line_idd that table order_lines does not have "
        "(it has: order_id, line_id, product_id, qty, price); line_idd: did you mean line_id?"
    )


def test_a_file_source_of_another_kind_says_which_files_are_read(tmp_path):
    path = tmp_path / "customers.txt"
    path.write_text("customer_id,email\n")
    for attempt in (Warehouse(None).check, Warehouse(None).columns):
        with pytest.raises(MappingError) as info:
            attempt(customers({"path": str(path)}))
        assert str(info.value) == f"{path}: read Parquet, CSV or NDJSON files (by their suffix)"


def test_a_file_source_that_cannot_be_read_says_why_and_to_set_the_path(tmp_path):
    missing = tmp_path / "customers.parquet"
    with pytest.raises(MappingError) as info:
        Warehouse(None).check(customers({"path": str(missing)}))
    # The reason is the first line of Polars' own (which shortens a long path in it: not pinned).
    message = str(info.value)
    assert message.startswith(f"mapping.yaml: customers: cannot read {missing}: No such file or directory (os error 2): "), message
    assert message.endswith("customers.parquet; set source.path") or message.endswith("full path); set source.path"), message
