"""A window selects records; each record is then read whole (issue 8, item 5).

TPC-DS shape: an order with one line at 00:00 and the others at 13:00. The API replaces
`OrderItems` whole, so a run that sends the order with only the lines of its own hour erases the
others. Over real DuckDB files, Parquet files and the sandbox over HTTP.
"""

from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest

from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import MappingError, Warehouse, entity_mapping_from_dict

DAY = datetime(2026, 11, 26, tzinfo=UTC)
H00, H05, H13 = DAY, DAY + timedelta(hours=5), DAY + timedelta(hours=13)
HOUR = timedelta(hours=1)


def ts(at: datetime, minutes: int = 0) -> datetime:
    return (at + timedelta(minutes=minutes)).replace(tzinfo=None)  # the warehouse's naive UTC


def line(order_id, line_no, updated_at, qty=1, price=10.0, product=None):
    return {"order_id": order_id, "line_id": f"{order_id}-{line_no}", "customer_id": "c1", "currency": "EUR",
            "ordered_at": "2026-11-26T00:00:00+00:00", "status": "completed", "product_id": product or f"p{line_no}",
            "qty": qty, "price": price, "updated_at": updated_at}


LINES = [
    # o-split: one line at 00:00, twelve at 13:00 (order 5358 of TPC-DS web sales).
    line("o-split", 0, ts(H00, 1)), *[line("o-split", i, ts(H13, 2)) for i in range(1, 13)],
    # o-badlate: a good line at 00:10, a bad one (quantity 0) at 13:00, outside the 00:00 window.
    line("o-badlate", 0, ts(H00, 10)), line("o-badlate", 1, ts(H13, 5), qty=0),
    # o-other: only at 05:00, never touched by the 00:00 or 13:00 windows.
    line("o-other", 0, ts(H05)), line("o-other", 1, ts(H05)),
    # o-versions: line 0 written at 00:20 (qty 1) and again at 13:30 (qty 5): the later version wins.
    line("o-versions", 0, ts(H00, 20), qty=1), line("o-versions", 0, ts(H13, 30), qty=5),
]


def order_mapping(source: dict, order_id="order_id"):
    return entity_mapping_from_dict("orders", {
        "source": {**source, "window_column": "updated_at"},
        "fields": {"OrderId": order_id, "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at",
                   "Status": "status"},
        "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
    })


@pytest.fixture
def warehouse_file(tmp_path):
    path = tmp_path / "wh.duckdb"
    frame = pl.DataFrame(LINES + [{**line(None, 9, ts(H00, 30)), "line_id": "nokey-9"}], infer_schema_length=None)
    with duckdb.connect(str(path)) as con:
        con.register("f", frame.to_arrow())
        con.execute("CREATE TABLE order_lines AS SELECT * FROM f")
    frame.write_parquet(tmp_path / "order_lines.parquet")
    return path


SOURCES = {
    "table": {"table": "order_lines"},
    "query": {"query": "SELECT * FROM order_lines WHERE updated_at >= $start AND updated_at < $end AND status <> 'x'"},
    "path": {"path": "order_lines.parquet"},
}


def read(kind, warehouse_file, start, end):
    source = dict(SOURCES[kind])
    if kind == "path":
        source["path"] = str(warehouse_file.parent / source["path"])
    return Warehouse(warehouse_file).read(order_mapping(source), start, end)


@pytest.mark.parametrize("kind", list(SOURCES))
def test_a_window_reads_every_row_of_each_record_it_touches(kind, warehouse_file):
    frame = read(kind, warehouse_file, H00, H00 + HOUR)
    by_order = frame.group_by("order_id").len().sort("order_id")
    counts = dict(zip(by_order["order_id"].to_list(), by_order["len"].to_list(), strict=True))
    # Whole records, whatever their timestamps; the keyless row of the window is read too (and
    # quarantined by prepare); the record only touched at 05:00 is not read.
    assert counts == {None: 1, "o-badlate": 2, "o-split": 13, "o-versions": 2}
    assert frame.height == frame.unique().height  # no row read twice
    assert read(kind, warehouse_file, H05, H05 + HOUR)["order_id"].to_list() == ["o-other", "o-other"]


@pytest.mark.parametrize("query", [
    "SELECT * FROM order_lines WHERE updated_at >= $start  -- no upper bound: every later row too\n;",
    "SELECT * FROM order_lines",  # no window at all: every window reads everything
])
def test_a_query_that_selects_more_than_the_window_reads_no_row_twice(warehouse_file, query):
    frame = Warehouse(warehouse_file).read(order_mapping({"query": query}), H00, H00 + HOUR)
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        everything = con.sql("SELECT * FROM order_lines").pl()
    assert frame.height == everything.height
    assert frame.sort(pl.all()).equals(everything.sort(pl.all()))


def test_products_are_read_with_all_their_variants(tmp_path):
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE variants (product_id VARCHAR, variant_id VARCHAR, price DOUBLE, currency VARCHAR, "
                    "updated_at TIMESTAMP)")
        con.execute("INSERT INTO variants VALUES ('p1', 'v1', 1.0, 'EUR', ?), ('p1', 'v2', 2.0, 'EUR', ?), "
                    "('p2', 'v3', 3.0, 'EUR', ?)", [ts(H00), ts(H13), ts(H13)])
    mapping = entity_mapping_from_dict("products", {
        "source": {"table": "variants"}, "fields": {"ProductId": "product_id"},
        "ProductVariants": {"fields": {"VariantId": "variant_id", "SalePrice": "price", "Currency": "currency"}}})
    frame = Warehouse(path).read(mapping, H00, H00 + HOUR)
    assert sorted(frame["variant_id"]) == ["v1", "v2"]


def test_a_record_key_that_is_not_a_column_is_refused_with_what_to_write(warehouse_file):
    mapping = order_mapping({"table": "order_lines"}, order_id={"expr": "'WEB-' || order_id"})
    with pytest.raises(MappingError, match=r"OrderId is an expr, but it must be a column.*query:"):
        Warehouse(warehouse_file).read(mapping, H00, H00 + HOUR)


# --- through the sandbox ----------------------------------------------------------------------





@pytest.mark.parametrize("kind", ["table", "query"])
def test_hourly_runs_leave_every_line_of_a_split_order_in_the_sandbox(kind, warehouse_file, sandbox, client, tmp_path, records_in_sandbox):
    mapping = order_mapping(SOURCES[kind])
    wh, store = Warehouse(warehouse_file), DuckDBStateStore(tmp_path / "state.duckdb")
    results = [sync_window(SyncRequest(mapping=mapping, warehouse=wh, client=client, store=store, start=h,
                                       end=h + HOUR, partition_key=h.strftime("%Y-%m-%d-%H:00"), run_id=f"run-{i}"))
               for i, h in enumerate((H00, H13))]
    assert all(r.balanced() for r in results), [r.counts() for r in results]
    stored = {k: r["record"] for k, r in records_in_sandbox(sandbox, client.tenant, "orders").items()}
    assert sorted(i["ProductId"] for i in stored["o-split"]["OrderItems"]) == sorted(f"p{i}" for i in range(13))
    assert stored["o-split"]["TotalQuantity"] == 13
    # The newer version of a line wins in every window that reads its order; the older is superseded.
    assert [i["Quantity"] for i in stored["o-versions"]["OrderItems"]] == [5]
    first = results[0].counts()
    assert first["rows_read"] == 13 + 2 + 2 + 1 and first["rows_superseded"] == 1


def test_an_order_whose_bad_line_is_outside_the_window_is_quarantined_whole(warehouse_file, sandbox, client, tmp_path, records_in_sandbox):
    mapping = order_mapping(SOURCES["table"])
    result = sync_window(SyncRequest(mapping=mapping, warehouse=Warehouse(warehouse_file), client=client,
                                     store=DuckDBStateStore(tmp_path / "state.duckdb"), start=H00, end=H00 + HOUR,
                                     partition_key="2026-11-26-00:00", run_id="run-bad"))
    assert result.balanced()
    assert "o-badlate" not in {k: r["record"] for k, r in records_in_sandbox(sandbox, client.tenant, "orders").items()}
    quarantine = result.prepared.quarantine
    assert set(quarantine.filter(pl.col("record_id") == "o-badlate")["rule"]) == {"range"}
    assert result.prepared.rows_quarantined >= 2  # both lines of o-badlate (and the keyless row)


def test_a_whole_record_takes_its_order_fields_from_its_newest_row(tmp_path):
    from replenit_pipelines.lib.validation import prepare

    path = tmp_path / "wh.duckdb"
    rows = [line("o1", 0, ts(H00)), *[{**line("o1", i, ts(H13)), "status": "refunded"} for i in (1, 2)]]
    with duckdb.connect(str(path)) as con:
        con.register("f", pl.DataFrame(rows).to_arrow())
        con.execute("CREATE TABLE order_lines AS SELECT * FROM f ORDER BY updated_at")
    mapping = order_mapping(SOURCES["table"])
    for start in (H00, H13):  # either window reads the whole order; the 13:00 rows are its newest state
        records = prepare(mapping, Warehouse(path).read(mapping, start, start + HOUR)).records
        assert records["Status"].to_list() == ["refunded"]
