"""Normalized warehouses (issue 16): children in their own table with their own clock, window
columns in text or epoch numbers, Polars LazyFrame sources.

Over the real sandbox (its request log says what was sent), real DuckDB files and Parquet files
in tmp folders, and sync_window with a real SQLite ledger.
"""

import sys
import textwrap
from datetime import UTC, datetime, timedelta

import duckdb
import httpx
import polars as pl
import pytest

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import SqliteLedger
from replenit_pipelines.lib.stages.extract import extract
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.validation import prepare
from replenit_pipelines.lib.warehouse import MappingError, Warehouse, entity_mapping_from_dict, load_mapping

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def naive(t: datetime) -> datetime:
    return t.replace(tzinfo=None)


def write(path, **tables: list[dict]) -> None:
    with duckdb.connect(str(path)) as con:
        for name, rows in tables.items():
            con.register("f", pl.DataFrame(rows, infer_schema_length=None).to_arrow())
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM f")  # noqa: S608 - fixed test table names
            con.unregister("f")


PRODUCTS = {
    "source": {"table": "products", "window_column": "updated_at"},
    "fields": {"ProductId": "product_id", "ProductName": "name"},
    "ProductVariants": {
        "source": {"table": "variants", "window_column": "updated_at"},
        "parent_key": "product_id", "key": "variant_id",
        # `name` and `updated_at` are columns of both tables: each field reads its own source's.
        "fields": {"VariantId": "variant_id", "VariantName": "name", "StockQuantity": "stock"},
    },
}

ORDERS = {
    "source": {"table": "orders", "window_column": "updated_at"},
    "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at"},
    "OrderItems": {
        "source": {"table": "lines", "window_column": "loaded_at"},
        "parent_key": "order_id", "key": "line_id",
        "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"},
    },
}


class Tenant:
    """One sandbox tenant, a warehouse file and a ledger: `sync(mapping, start, end)` runs one window."""

    def __init__(self, sandbox, tmp_path):
        self.sandbox, self.tmp_path = sandbox, tmp_path
        self.tenant_id, key = sandbox.add_tenant()
        self.warehouse = tmp_path / "wh.duckdb"
        self.client = ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=self.tenant_id, api_key=key, limits=(),
                                                  quota_dir=str(tmp_path / "quota")))
        self.runs = 0

    def sync(self, mapping, start: datetime, end: datetime):
        self.runs += 1
        before = self.snapshot(mapping.entity)
        with SqliteLedger.open(self.tmp_path / "state", self.sandbox.url, self.tenant_id, mapping.entity) as ledger:
            result = sync_window(SyncRequest(
                mapping=mapping, warehouse=Warehouse(self.warehouse), client=self.client, store=None, start=start,
                end=end, partition_key=start.isoformat(), run_id=f"run-{self.runs}", ledger=ledger))
        assert result.balanced(), result.counts()
        after = self.snapshot(mapping.entity)
        # What this run wrote: the records whose write count grew (the sandbox stores them whole, as sent).
        sent = [e["record"] for k, e in after.items() if e["writes"] > before.get(k, {"writes": 0})["writes"]]
        return result, sorted(sent, key=lambda r: str(r.get("OrderId") or r.get("ProductId") or r.get("CustomerId")))

    def snapshot(self, entity: str) -> dict[str, dict]:
        return {r["key"]: r for r in httpx.get(f"{self.sandbox.url}/_sandbox/records/{self.tenant_id}/{entity}").json()}

    def stored(self, entity: str) -> dict[str, dict]:
        return {k: e["record"] for k, e in self.snapshot(entity).items()}


@pytest.fixture
def shop(sandbox, tmp_path):
    t = Tenant(sandbox, tmp_path)
    yield t
    t.client.close()


def test_a_variant_updated_without_its_product_resends_the_product_whole_with_all_its_variants(shop):
    mapping = entity_mapping_from_dict("products", PRODUCTS)
    products = [{"product_id": "p1", "name": "Kettle", "updated_at": naive(T0)},
                {"product_id": "p2", "name": "Toaster", "updated_at": naive(T0)}]
    variants = [{"variant_id": "v1", "product_id": "p1", "name": "red", "stock": 5, "updated_at": naive(T0)},
                {"variant_id": "v2", "product_id": "p1", "name": "blue", "stock": 7, "updated_at": naive(T0)},
                {"variant_id": "v3", "product_id": "p2", "name": "steel", "stock": 1, "updated_at": naive(T0)}]
    write(shop.warehouse, products=products, variants=variants)
    first, sent = shop.sync(mapping, T0, T0 + HOUR)
    assert {r["ProductId"] for r in sent} == {"p1", "p2"}

    # Hours later only v2's stock changes (a new version of it, the old one still in the table).
    write(shop.warehouse, products=products,
          variants=[*variants, {"variant_id": "v2", "product_id": "p1", "name": "blue", "stock": 0,
                                "updated_at": naive(T0 + 5 * HOUR)}])
    second, sent = shop.sync(mapping, T0 + 5 * HOUR, T0 + 6 * HOUR)
    assert [r["ProductId"] for r in sent] == ["p1"]  # p2 was not touched
    [p1] = sent
    assert p1["ProductName"] == "Kettle"
    assert sorted((v["VariantId"], v["VariantName"], v["StockQuantity"]) for v in p1["ProductVariants"]) == [
        ("v1", "red", 5), ("v2", "blue", 0)]  # every variant, v2 in its latest version
    counts = second.counts()
    assert counts["rows_read"] == 3 and counts["rows_superseded"] == 1  # v1, v2 twice: the older v2 superseded
    assert len(shop.stored("products")["p1"]["ProductVariants"]) == 2


def test_an_order_line_inserted_hours_after_its_order_resends_the_order_with_every_line(shop):
    mapping = entity_mapping_from_dict("orders", ORDERS)
    orders = [{"order_id": "o1", "customer_id": "c1", "currency": "EUR", "ordered_at": "2026-11-26T10:00:00Z",
               "updated_at": naive(T0)},
              {"order_id": "o2", "customer_id": "c2", "currency": "EUR", "ordered_at": "2026-11-26T10:10:00Z",
               "updated_at": naive(T0 + timedelta(minutes=10))}]  # o2: no line at all (yet)
    lines = [{"line_id": "o1-1", "order_id": "o1", "product_id": "p1", "qty": 1, "price": 10.0, "loaded_at": naive(T0)},
             {"line_id": "o1-2", "order_id": "o1", "product_id": "p2", "qty": 2, "price": 5.0, "loaded_at": naive(T0)}]
    write(shop.warehouse, orders=orders, lines=lines)
    first, sent = shop.sync(mapping, T0, T0 + HOUR)
    by_id = {r["OrderId"]: r for r in sent}
    assert len(by_id["o1"]["OrderItems"]) == 2 and by_id["o1"]["TotalRevenue"] == 20.0
    assert by_id["o2"]["OrderItems"] == [] and by_id["o2"]["TotalRevenue"] == 0  # a parent without children
    assert first.counts()["rows_read"] == 3  # two lines of o1, o2 alone

    write(shop.warehouse, orders=orders, lines=[
        *lines, {"line_id": "o1-3", "order_id": "o1", "product_id": "p3", "qty": 1, "price": 4.0,
                 "loaded_at": naive(T0 + 4 * HOUR)}])
    second, sent = shop.sync(mapping, T0 + 4 * HOUR, T0 + 5 * HOUR)
    [o1] = sent
    assert o1["OrderId"] == "o1" and sorted(i["ProductId"] for i in o1["OrderItems"]) == ["p1", "p2", "p3"]
    assert o1["TotalRevenue"] == 24.0 and o1["TotalQuantity"] == 4
    assert second.counts()["rows_read"] == 3 and second.counts()["rows_delivered"] == 3
    assert len(shop.stored("orders")["o1"]["OrderItems"]) == 3


def test_lines_without_an_update_time_are_read_with_their_order_and_an_orphan_line_is_quarantined(tmp_path):
    mapping = entity_mapping_from_dict("orders", {
        **ORDERS, "OrderItems": {**ORDERS["OrderItems"], "source": {"table": "lines"}}})  # no window column
    path = tmp_path / "wh.duckdb"
    write(path,
          orders=[{"order_id": "o1", "customer_id": "c1", "currency": "EUR", "ordered_at": "2026-11-26T10:00:00Z",
                   "updated_at": naive(T0)},
                  {"order_id": "o9", "customer_id": "c1", "currency": "EUR", "ordered_at": "2026-11-20T10:00:00Z",
                   "updated_at": naive(T0 - 100 * HOUR)}],
          lines=[{"line_id": "a", "order_id": "o1", "product_id": "p1", "qty": 1, "price": 10.0},
                 {"line_id": "b", "order_id": "o9", "product_id": "p1", "qty": 1, "price": 10.0}])
    extracted = extract(mapping, Warehouse(path), T0, T0 + HOUR)
    prepared = prepare(mapping, extracted.rows)
    assert prepared.records["OrderId"].to_list() == ["o1"]  # o9 is outside the window, and so is its line
    assert prepared.records["OrderItems"].to_list()[0] == [{"ProductId": "p1", "Quantity": 1, "Price": 10.0}]
    assert extracted.rows_without_window_value == 0  # lines without a clock are read with their order


@pytest.mark.parametrize("lines_source", ["table", "parquet", "text times"])
def test_a_child_whose_parent_is_missing_is_quarantined_not_dropped(tmp_path, lines_source):
    lines = [{"line_id": "a", "order_id": "o1", "product_id": "p1", "qty": 1, "price": 10.0, "loaded_at": naive(T0)},
             {"line_id": "b", "order_id": "o7", "product_id": "p1", "qty": 1, "price": 10.0, "loaded_at": naive(T0)},
             {"line_id": "c", "order_id": "o8", "product_id": "p1", "qty": 1, "price": 10.0,
              "loaded_at": naive(T0 - 50 * HOUR)},  # another window's
             {"line_id": "d", "order_id": None, "product_id": "p1", "qty": 1, "price": 10.0, "loaded_at": naive(T0)}]
    source = {"table": "lines", "window_column": "loaded_at"}
    if lines_source == "parquet":  # read by Polars, joined there (not in DuckDB)
        pl.DataFrame(lines).write_parquet(tmp_path / "lines.parquet")
        source = {"path": str(tmp_path / "lines.parquet"), "window_column": "loaded_at"}
    elif lines_source == "text times":
        lines = [{**line, "loaded_at": line["loaded_at"].isoformat() + "Z"} for line in lines]
        source = {"table": "lines", "window_column": {"column": "loaded_at", "format": "iso8601"}}
    mapping = entity_mapping_from_dict("orders", {**ORDERS, "OrderItems": {**ORDERS["OrderItems"], "source": source}})
    path = tmp_path / "wh.duckdb"
    write(path,
          orders=[{"order_id": "o1", "customer_id": "c1", "currency": "EUR", "ordered_at": "2026-11-26T10:00:00Z",
                   "updated_at": naive(T0)}],
          lines=lines)
    prepared = prepare(mapping, extract(mapping, Warehouse(path), T0, T0 + HOUR).rows)
    # o1's line; the line of o7 (no such order) and the line without an order id, both quarantined.
    assert prepared.rows_read == 3 and prepared.rows_valid == 1 and prepared.rows_quarantined == 2
    assert prepared.records["OrderItems"].to_list() == [[{"ProductId": "p1", "Quantity": 1, "Price": 10.0}]]
    on_id = {r["value"] for r in prepared.quarantine.iter_rows(named=True) if (r["rule"], r["field"]) == ("required", "OrderId")}
    # The orphan names the order id it points to (the one thing that finds it in the warehouse);
    # the line without an order id has none to name.
    assert on_id == {"o7: no order row has this OrderId", None}


CUSTOMERS = {"fields": {"CustomerId": "id", "Email": "email"}}


@pytest.mark.parametrize(("fmt", "values"), [
    # in the window [10:00, 11:00) UTC: the first two (one with an offset, one naive in the source's
    # timezone, UTC here); outside it: the third; unparsable: the fourth; no value: the fifth.
    ("iso8601", ["2026-11-26T10:15:00Z", "2026-11-26 12:30:00+02:00", "2026-11-26T11:00:00", "26/11/2026 10:20", None]),
    ("epoch_s", [str(int(T0.timestamp()) + 60), f"{T0.timestamp() + 3000.5}", str(int(T0.timestamp()) + 3600), "soon", ""]),
    ("epoch_ms", [int(T0.timestamp() * 1000) + 1, int(T0.timestamp() * 1000) + 3_599_999, int(T0.timestamp() * 1000) - 1,
                  9 * 10**18, None]),
])
def test_text_and_epoch_window_columns_select_their_window_and_count_unparsable_values(tmp_path, fmt, values):
    path = tmp_path / "wh.duckdb"
    write(path, customers=[{"id": f"c{i}", "email": f"u{i}@example.com", "changed": v} for i, v in enumerate(values)])
    mapping = entity_mapping_from_dict("customers", {
        **CUSTOMERS, "source": {"table": "customers", "window_column": {"column": "changed", "format": fmt}}})
    extracted = extract(mapping, Warehouse(path), T0, T0 + HOUR)
    assert sorted(extracted.rows["id"].to_list()) == ["c0", "c1"]
    assert extracted.rows_unparsable_window_value == 1
    assert extracted.unparsable_window_examples == [str(values[3])]
    assert extracted.rows_without_window_value == 1
    prepared = prepare(mapping, extracted.rows)
    assert prepared.rows_read == 2 and prepared.rows_valid == 2


def test_an_unparsable_window_value_is_in_the_sync_results_counts_not_a_failed_run(shop):
    write(shop.warehouse, customers=[
        {"id": "c1", "email": "a@example.com", "changed": "2026-11-26T10:05:00Z"},
        {"id": "c2", "email": "b@example.com", "changed": "yesterday"}])
    mapping = entity_mapping_from_dict("customers", {
        **CUSTOMERS, "source": {"table": "customers", "window_column": {"column": "changed", "format": "iso8601"}}})
    result, sent = shop.sync(mapping, T0, T0 + HOUR)
    assert [r["CustomerId"] for r in sent] == ["c1"]
    counts = result.counts()
    assert counts["rows_unparsable_window_value"] == 1 and counts["rows_read"] == 1
    assert result.unparsable_window_examples == ["yesterday"]


def test_a_polars_lazyframe_source_has_the_window_pushed_down_into_its_scan(tmp_path, monkeypatch):
    rows = pl.DataFrame({"id": ["c1", "c2", "c3"], "email": ["a@example.com", "b@example.com", "c@example.com"],
                         "updated_at": [naive(T0), naive(T0 + 2 * HOUR), naive(T0 + 30 * timedelta(minutes=1))]})
    rows.write_parquet(tmp_path / "crm.parquet")
    (tmp_path / "crm_frames.py").write_text(textwrap.dedent(f"""
        import polars as pl

        def customers_frame():
            return pl.scan_parquet({str(tmp_path / 'crm.parquet')!r}).with_columns(pl.col("email").str.to_uppercase())
    """))
    (tmp_path / "mapping.yaml").write_text(textwrap.dedent("""
        customers:
          source: {python: crm_frames:customers_frame, window_column: updated_at}
          fields: {CustomerId: id, Email: email}
    """))
    monkeypatch.setattr(sys, "path", list(sys.path))  # the module is found beside the mapping file
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # and forgotten after the test
    mapping = load_mapping(tmp_path / "mapping.yaml")["customers"]
    warehouse = Warehouse(None)  # no DuckDB file needed
    warehouse.check(mapping)
    extracted = extract(mapping, warehouse, T0, T0 + HOUR)
    assert sorted(extracted.rows["id"].to_list()) == ["c1", "c3"]
    assert extracted.rows["email"].to_list()[0].isupper()  # the user's own transformations ran
    # The window is a filter on the LazyFrame, which Polars pushes into the Parquet scan.
    import crm_frames

    from replenit_pipelines.lib.warehouse.windows import window_rows

    plan = window_rows(crm_frames.customers_frame(), mapping.source, T0, T0 + HOUR).explain()
    scan = plan[plan.index("Parquet SCAN"):]
    assert "SELECTION" in scan and "updated_at" in scan.split("SELECTION", 1)[1].splitlines()[0], plan


def test_a_child_source_needs_its_parent_key_and_its_own_key():
    bad = {**PRODUCTS, "ProductVariants": {**PRODUCTS["ProductVariants"]}}
    del bad["ProductVariants"]["parent_key"]
    with pytest.raises(MappingError, match="parent_key, the column of table variants"):
        entity_mapping_from_dict("products", bad)
    bad = {**PRODUCTS, "ProductVariants": {**PRODUCTS["ProductVariants"]}}
    del bad["ProductVariants"]["key"]
    with pytest.raises(MappingError, match="give key, the column that identifies"):
        entity_mapping_from_dict("products", bad)
    with pytest.raises(MappingError, match="format must be one of timestamp, iso8601, epoch_s, epoch_ms"):
        entity_mapping_from_dict("customers", {**CUSTOMERS, "source": {
            "table": "customers", "window_column": {"column": "changed", "format": "unix"}}})


@pytest.mark.parametrize("source", ["table", "parquet"])  # joined in DuckDB, or in Polars
def test_a_parent_with_history_is_read_in_its_latest_version_with_every_child(tmp_path, source):
    products = [{"product_id": "p1", "name": "Kettle (old)", "updated_at": naive(T0 - 30 * HOUR)},
                {"product_id": "p1", "name": "Kettle", "updated_at": naive(T0 - 20 * HOUR)},
                {"product_id": "p2", "name": "Toaster", "updated_at": naive(T0 - 20 * HOUR)}]  # no variant
    variants = [{"variant_id": "v1", "product_id": "p1", "name": "red", "stock": 5, "updated_at": naive(T0)},
                {"variant_id": "v2", "product_id": "p1", "name": "blue", "stock": 7, "updated_at": naive(T0 - 40 * HOUR)}]
    spec = PRODUCTS
    if source == "parquet":
        pl.DataFrame(products).write_parquet(tmp_path / "products.parquet")
        pl.DataFrame(variants).write_parquet(tmp_path / "variants.parquet")
        spec = {**PRODUCTS, "source": {"path": str(tmp_path / "products.parquet"), "window_column": "updated_at"},
                "ProductVariants": {**PRODUCTS["ProductVariants"],
                                    "source": {"path": str(tmp_path / "variants.parquet"), "window_column": "updated_at"}}}
    else:
        write(tmp_path / "wh.duckdb", products=products, variants=variants)
    mapping = entity_mapping_from_dict("products", spec)
    warehouse = Warehouse(tmp_path / "wh.duckdb" if source == "table" else None)
    # The window touches p1 through v1 only: p1 is read in its latest version, with v1 and v2.
    prepared = prepare(mapping, extract(mapping, warehouse, T0, T0 + HOUR).rows)
    assert prepared.rows_read == 2 and prepared.rows_superseded == 0
    [p1] = prepared.records.to_dicts()
    assert p1["ProductName"] == "Kettle"
    assert sorted(v["VariantId"] for v in p1["ProductVariants"]) == ["v1", "v2"]
    # A window with p2's own row reads p2 alone, with an empty array.
    prepared = prepare(mapping, extract(mapping, warehouse, T0 - 20 * HOUR, T0 - 19 * HOUR).rows)
    by_id = {r["ProductId"]: r for r in prepared.records.to_dicts()}
    assert by_id["p2"]["ProductVariants"] == [] and by_id["p1"]["ProductName"] == "Kettle"
    assert prepared.rows_read == 3  # p1's two variants, p2 alone


def test_rows_without_a_window_value_count_only_what_no_window_reads_across_both_sources(tmp_path):
    write(tmp_path / "wh.duckdb",
          products=[{"product_id": "p1", "name": "Kettle", "updated_at": None},  # its variant is dated: read with it
                    {"product_id": "p2", "name": "Toaster", "updated_at": None},  # nothing dated: counted
                    {"product_id": "p3", "name": "Mug", "updated_at": naive(T0)}],
          variants=[{"variant_id": "v1", "product_id": "p1", "name": "red", "stock": 5, "updated_at": naive(T0)},
                    {"variant_id": "v3", "product_id": "p3", "name": "blue", "stock": 1, "updated_at": None},  # read with p3
                    {"variant_id": "v9", "product_id": "p9", "name": "grey", "stock": 1, "updated_at": None}])  # counted
    mapping = entity_mapping_from_dict("products", PRODUCTS)
    extracted = extract(mapping, Warehouse(tmp_path / "wh.duckdb"), T0, T0 + HOUR)
    assert extracted.rows_without_window_value == 2 and extracted.rows_unparsable_window_value == 0
    prepared = prepare(mapping, extracted.rows)
    assert sorted(prepared.records["ProductId"].to_list()) == ["p1", "p3"]
    assert prepared.rows_read == 2


def test_a_child_field_a_run_cannot_map_is_named_as_the_mapping_file_wrote_it(tmp_path):
    write(tmp_path / "wh.duckdb",
          products=[{"product_id": "p1", "name": "Kettle", "updated_at": naive(T0)}],
          variants=[{"variant_id": "v1", "product_id": "p1", "available": "maybe", "updated_at": naive(T0)}])
    mapping = entity_mapping_from_dict("products", {**PRODUCTS, "ProductVariants": {
        **PRODUCTS["ProductVariants"], "fields": {"VariantId": "variant_id", "IsAvailable": "available"}}})
    rows = extract(mapping, Warehouse(tmp_path / "wh.duckdb"), T0, T0 + HOUR).rows
    with pytest.raises(MappingError, match=r"ProductVariants.IsAvailable \(column 'available' of table variants\) is String.*"
                                           r"write IsAvailable: \{column: available, cast: bool\}"):
        prepare(mapping, rows)


@pytest.mark.parametrize("source", ["table", "parquet"])  # joined in DuckDB, or in Polars
def test_two_versions_of_a_parent_at_one_time_give_one_payload_whatever_the_tables_order(tmp_path, source):
    """Issue 22 e: the read keeps a parent's latest version; between two of one time the scan order
    decided, so the product's name flipped between runs. The content decides now."""
    versions = [{"product_id": "p1", "name": name, "updated_at": naive(T0)} for name in ("Kettle", "Kettle 2", "Kettle (new)")]
    variants = [{"variant_id": "v1", "product_id": "p1", "name": "red", "stock": 5, "updated_at": naive(T0)}]
    names = set()
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        rows = [versions[i] for i in order]
        folder = tmp_path / "".join(map(str, order))
        folder.mkdir()
        spec = PRODUCTS
        if source == "parquet":
            pl.DataFrame(rows).write_parquet(folder / "products.parquet")
            pl.DataFrame(variants).write_parquet(folder / "variants.parquet")
            spec = {**PRODUCTS, "source": {"path": str(folder / "products.parquet"), "window_column": "updated_at"},
                    "ProductVariants": {**PRODUCTS["ProductVariants"],
                                        "source": {"path": str(folder / "variants.parquet"), "window_column": "updated_at"}}}
        write(folder / "wh.duckdb", products=rows, variants=variants)
        mapping = entity_mapping_from_dict("products", spec)
        prepared = prepare(mapping, extract(mapping, Warehouse(folder / "wh.duckdb"), T0, T0 + HOUR).rows)
        names.add(prepared.records["ProductName"].item())
    assert len(names) == 1, names


def test_an_orphan_lines_only_reason_is_its_missing_order_not_the_order_fields_it_lacks(tmp_path):
    """A Spree cart's lines beside an orders source that leaves carts out: each line's order row is
    missing, so its Currency is NULL too. The quarantine says why once (the missing order), so the
    summary's top reason is not `required (Currency)`."""
    mapping = entity_mapping_from_dict("orders", ORDERS)
    path = tmp_path / "wh.duckdb"
    write(path,
          orders=[{"order_id": "o1", "customer_id": "c1", "currency": "EUR", "ordered_at": "2026-11-26T10:00:00Z",
                   "updated_at": naive(T0)}],
          lines=[{"line_id": "a", "order_id": "o1", "product_id": "p1", "qty": 1, "price": 10.0, "loaded_at": naive(T0)},
                 {"line_id": "b", "order_id": "o7", "product_id": "p1", "qty": 0, "price": 10.0, "loaded_at": naive(T0)}])
    prepared = prepare(mapping, extract(mapping, Warehouse(path), T0, T0 + HOUR).rows)
    reasons = sorted((r["rule"], r["field"]) for r in prepared.quarantine.iter_rows(named=True))
    assert reasons == [("range", "OrderItems.Quantity"), ("required", "OrderId")]  # the line's own fault stays
