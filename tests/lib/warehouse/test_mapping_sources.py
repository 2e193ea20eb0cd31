"""Mapping files, their errors, and the warehouse sources that read one window."""

from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest

from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.validation import prepare
from replenit_pipelines.lib.warehouse import MappingError, Warehouse, entity_mapping_from_dict, load_mapping
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("wh") / "demo.duckdb"
    build_demo_warehouse(path, customers=3000, seed=7, days=2, end=END)
    return path


def write(tmp_path, text: str):
    p = tmp_path / "mapping.yaml"
    p.write_text(text)
    return p


def test_demo_mapping_matches_the_demo_warehouse(demo_db):
    mappings = load_mapping(DEMO_MAPPING)
    assert set(mappings) == {"customers", "products", "orders"}
    for m in mappings.values():
        Warehouse(demo_db).check(m)


def test_missing_column_names_the_column_and_the_file(tmp_path, demo_db):
    path = write(tmp_path, "customers:\n  source: {table: customers}\n  fields:\n    CustomerId: cust_no\n    Email: email\n")
    mapping = load_mapping(path)["customers"]
    with pytest.raises(MappingError) as info:
        Warehouse(demo_db).check(mapping)
    assert "cust_no" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("text,needle", [
    ("customers:\n  source: {table: customers}\n  fields:\n    CustomerID: customer_id\n", "has no field 'CustomerID'"),
    ("customers:\n  source: {table: customers}\n  fields:\n    Email: {column: email, expr: 'email'}\n", "exactly one"),
    ("customers:\n  source: {table: customers}\n  fields:\n    Email: {expr: 'lower(email'}\n", "not a SQL expression"),
    ("customers:\n  source: {table: customers}\n  fields:\n    GdprOptin: {column: x, cast: yesno}\n", "cast must be"),
    ("orders:\n  source: {table: order_lines}\n  fields:\n    OrderId: order_id\n", "OrderItems block"),
    ("orders:\n  source: {table: t}\n  fields:\n    Currency: c\n  OrderItems: {fields: {ProductId: p}}\n", "must map OrderId"),
    ("customers:\n  fields:\n    Email: email\n", "exactly one of table, query, path or python"),
    ("orders:\n  source: {table: t}\n  fields:\n    OrderId: o\n    OrderItems: items\n  OrderItems: {fields: {ProductId: p}}\n",
     r"orders\.fields\.OrderItems: the OrderItems are mapped in a block of their own beside fields, not as a field"),
    ("shoppers: {}\n", "unknown entity"),
    ("customers: [\n", "not valid YAML"),
])
def test_mapping_errors_say_what_to_fix(tmp_path, text, needle):
    with pytest.raises(MappingError, match=needle) as info:
        load_mapping(write(tmp_path, text))
    assert str(tmp_path) in str(info.value)


def test_constants_casts_expressions_and_defaults(tmp_path):
    path = write(tmp_path, """
customers:
  source: {table: customers}
  fields:
    CustomerId: {expr: "'C-' || customer_no"}
    Email: {expr: "lower(email)"}
    GdprOptin: {column: consent, cast: bool}
    EmailOptin: {constant: true}
    Language: {column: locale, default: en}
""")
    m = load_mapping(path)["customers"]
    raw = pl.DataFrame({"customer_no": [1, 2], "email": ["ADA@Example.com", "b@example.com"],
                        "consent": ["yes", "0"], "locale": [None, "fr-FR"],
                        "updated_at": [END, END]})
    out = prepare(m, raw).records.drop("__key", "__rows").to_dicts()
    assert out == [
        {"CustomerId": "C-1", "Email": "ada@example.com", "GdprOptin": True, "EmailOptin": True, "Language": "en"},
        {"CustomerId": "C-2", "Email": "b@example.com", "GdprOptin": False, "EmailOptin": True, "Language": "fr-FR"},
    ]


def test_table_source_reads_only_its_window(demo_db):
    m = load_mapping(DEMO_MAPPING)["customers"]
    day = END - timedelta(days=1)
    frame = Warehouse(demo_db).read(m, day, END)
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = con.sql("SELECT count(*) FROM customers WHERE updated_at >= ? AND updated_at < ?",
                           params=[day.replace(tzinfo=None), END.replace(tzinfo=None)]).fetchall()[0][0]
    assert frame.height == expected > 0
    assert frame["updated_at"].min() >= day.replace(tzinfo=None)


def test_query_source_binds_the_window(demo_db, tmp_path):
    path = write(tmp_path, """
customers:
  source:
    query: "SELECT * FROM customers WHERE updated_at >= $start AND updated_at < $end AND locale LIKE 'de%'"
  fields: {CustomerId: customer_id, Email: email}
""")
    m = load_mapping(path)["customers"]
    frame = Warehouse(demo_db).read(m, END - timedelta(days=1), END)
    assert frame.height > 0 and frame["locale"].str.starts_with("de").all()


def test_parquet_glob_source(demo_db, tmp_path):
    with duckdb.connect(str(demo_db), read_only=True) as con:
        data = con.sql("SELECT * FROM customers").pl()
    half = data.height // 2
    data[:half].write_parquet(tmp_path / "part-1.parquet")
    data[half:].write_parquet(tmp_path / "part-2.parquet")
    path = write(tmp_path, "customers:\n  source: {path: 'part-*.parquet'}\n  fields: {CustomerId: customer_id}\n")
    m = load_mapping(path)["customers"]
    wh = Warehouse(None)
    wh.check(m)
    frame = wh.read(m, END - timedelta(days=1), END)
    assert 0 < frame.height < data.height


def test_demo_warehouse_is_deterministic_by_seed(tmp_path):
    a, b, c = tmp_path / "a.duckdb", tmp_path / "b.duckdb", tmp_path / "c.duckdb"
    for path, seed in ((a, 5), (b, 5), (c, 6)):
        build_demo_warehouse(path, customers=500, seed=seed, days=2, end=END)

    def tables(path):
        with duckdb.connect(str(path), read_only=True) as con:
            return {t: con.sql(f"SELECT * FROM {t} ORDER BY ALL").pl() for t in ("customers", "product_variants", "order_lines")}  # noqa: S608 - fixed test table names

    ta, tb, tc = tables(a), tables(b), tables(c)
    assert all(ta[t].equals(tb[t]) for t in ta)
    assert not ta["customers"].equals(tc["customers"])


def test_demo_warehouse_has_a_controlled_share_of_dirt(demo_db):
    mappings = load_mapping(DEMO_MAPPING)
    wh = Warehouse(demo_db)
    start = END - timedelta(days=2)
    customers = prepare(mappings["customers"], wh.read(mappings["customers"], start, END))
    share = customers.rows_quarantined / customers.rows_read
    assert 0.003 < share < 0.03
    assert {"email", "phone", "max_length", "one_of_required"} <= set(customers.quarantine["rule"])
    assert customers.rows_superseded > 0
    assert customers.normalization["languages_canonicalised"] > 0
    orders = prepare(mappings["orders"], wh.read(mappings["orders"], start, END))
    assert {"currency", "range"} <= set(orders.quarantine["rule"])
    assert orders.normalization["currencies_upper_cased"] > 0


def test_a_missing_column_is_named_when_a_window_is_prepared(tmp_path):
    path = write(tmp_path, "customers:\n  source: {table: customers}\n  fields:\n    CustomerId: cust_no\n")
    mapping = load_mapping(path)["customers"]
    raw = pl.DataFrame({"customer_id": ["c1"], "updated_at": [END]})
    with pytest.raises(MappingError, match=f"cust_no.*{path.name}|{path}.*cust_no"):
        prepare(mapping, raw)


@pytest.mark.parametrize("source,needles", [
    ("{table: customer}", ["table 'customer' is not in", "did you mean 'customers'?", "Set source.table"]),
    ("{table: customers, window_column: updated}", ["window column 'updated' is not a column of table customers",
                                                    "did you mean 'updated_at'?", "Set source.window_column"]),
    ("{query: 'SELECT * FROM custmers WHERE updated_at >= $start'}", ["the source query fails", "custmers",
                                                                      "fix source.query"]),
])
def test_a_missing_table_or_window_column_is_one_line_that_says_what_to_set(tmp_path, demo_db, source, needles):
    path = write(tmp_path, f"customers:\n  source: {source}\n  fields: {{CustomerId: customer_id}}\n")
    mapping = load_mapping(path)["customers"]
    for attempt in (lambda: Warehouse(demo_db).read(mapping, END - timedelta(days=1), END),
                    lambda: Warehouse(demo_db).check(mapping)):
        with pytest.raises(MappingError) as info:
            attempt()
        message = str(info.value)
        assert "\n" not in message and str(path) in message and "customers" in message, message
        for needle in needles:
            assert needle in message, message


def test_a_missing_window_column_in_files_is_named(tmp_path):
    pl.DataFrame({"customer_id": ["c1"], "changed_at": [END]}).write_parquet(tmp_path / "c.parquet")
    path = write(tmp_path, "customers:\n  source: {path: c.parquet}\n  fields: {CustomerId: customer_id}\n")
    with pytest.raises(MappingError, match=r"window column 'updated_at' is not a column of path .*it has: customer_id, changed_at"):
        Warehouse(None).read(load_mapping(path)["customers"], END - timedelta(days=1), END)


def test_a_missing_record_key_column_in_files_names_the_field_to_set(tmp_path):
    pl.DataFrame({"customer_no": ["c1"], "email": ["a@x.com"], "updated_at": [END]}).write_parquet(tmp_path / "c.parquet")
    path = write(tmp_path, "customers:\n  source: {path: c.parquet}\n  fields: {CustomerId: customer_id, Email: email}\n")
    with pytest.raises(MappingError) as caught:
        Warehouse(None).read(load_mapping(path)["customers"], END - timedelta(days=1), END)
    assert str(caught.value) == (
        f"{path}: customers: CustomerId column 'customer_id' is not a column of path {tmp_path / 'c.parquet'} (did you mean 'customer_no'?); "
        "it has: customer_no, email, updated_at. Set CustomerId to the column that identifies a record"
    )


# --- Review fixes on the reader (each failed before its fix): a record read whole, windowless rows counted once ---

D1 = datetime(2026, 11, 25, tzinfo=UTC)
D2 = D1 + timedelta(days=1)
DAY = timedelta(days=1)




# --- 1: customers are read whole, so an older window never sends an older version ----------------

@pytest.mark.parametrize("customer_id", ["id", None], ids=["by CustomerId", "by Email"])
def test_rerunning_an_older_window_of_a_versioned_customers_table_keeps_the_newest_version(
        customer_id, tmp_path, sandbox, client, records_in_sandbox):
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE customers (id VARCHAR, email VARCHAR, name VARCHAR, updated_at TIMESTAMPTZ)")
        con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", [
            ("c1", "ada@example.com", "Ada (D1)", D1 + timedelta(hours=3)),
            ("c1", "ada@example.com", "Ada (D2)", D2 + timedelta(hours=3)),  # append-only: a newer version
        ])
    fields = {"Email": "email", "Name": "name"} | ({"CustomerId": customer_id} if customer_id else {})
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "customers"}, "fields": fields})
    wh, store = Warehouse(db), DuckDBStateStore(tmp_path / "state.duckdb")
    for i, day in enumerate((D2, D1)):  # D2's run, then a backfill (or retry) of D1
        result = sync_window(SyncRequest(mapping=mapping, warehouse=wh, client=client, store=store, start=day,
                                         end=day + DAY, partition_key=day.strftime("%Y-%m-%d"), run_id=f"run-{i}"))
        assert result.balanced(), result.counts()
    stored = [r["record"] for r in records_in_sandbox(sandbox, client.tenant, "customers").values()]
    assert [r["Name"] for r in stored] == ["Ada (D2)"]


# --- 2: rows_without_window_value counts only rows no window reads --------------------------------

@pytest.mark.parametrize("kind", ["table", "query", "path"])
def test_a_null_window_row_of_a_record_read_whole_is_not_counted_as_never_read(kind, tmp_path):
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE order_lines (order_id VARCHAR, line_id INT, customer_id VARCHAR, currency VARCHAR, "
                    "product_id VARCHAR, qty INT, price DOUBLE, updated_at TIMESTAMPTZ)")
        con.executemany("INSERT INTO order_lines VALUES (?, ?, 'c1', 'EUR', ?, 1, 2.0, ?)", [
            ("o1", 1, "p1", D1 + timedelta(hours=12)),
            ("o1", 2, "p2", None),  # read with o1's other line: not "never read"
            ("o2", 1, "p1", None),  # o2 has no row with a window value: never read
            ("o2", 2, "p2", None),
            (None, 1, "p3", None),  # no key: never read
        ])
        con.execute(f"COPY order_lines TO '{tmp_path / 'order_lines.parquet'}' (FORMAT parquet)")
    source = {"table": {"table": "order_lines"}, "query": {"query": "SELECT * FROM order_lines"},
              "path": {"path": str(tmp_path / "order_lines.parquet")}}[kind]
    mapping = entity_mapping_from_dict("orders", {
        "source": {**source, "window_column": "updated_at"},
        "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency"},
        "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}}})
    wh = Warehouse(db)
    if kind != "query":  # (a query without $start/$end reads every row in every window)
        read = wh.read(mapping, D1, D1 + DAY)
        assert sorted(read["line_id"]) == [1, 2] and set(read["order_id"]) == {"o1"}
    assert wh.rows_without_window_value(mapping) == 3


def test_a_window_column_table_without_a_format_is_a_timestamp_column():
    fields = {"CustomerId": "id", "Email": "email"}
    table = entity_mapping_from_dict("customers", {"source": {"table": "customers", "window_column": {"column": "updated_at"}},
                                                   "fields": fields})
    plain = entity_mapping_from_dict("customers", {"source": {"table": "customers", "window_column": "updated_at"}, "fields": fields})
    assert (table.source.window_column, table.source.window_format) == ("updated_at", "timestamp")
    assert table.source == plain.source and not table.read_by_frames
