"""Issue 21 items 2-4, at the shape that showed them: a small TPC-DS-like star schema in DuckDB
(customers; items as SCD-2 rows; web_sales lines keyed by date and time surrogate keys joined to
date_dim and time_dim), mapped as a newcomer maps it from docs/configuration.md, children read by
a `query:` source with no ORDER BY, through the real `replenit` commands against the sandbox.

- a child `query:` source (with or without a window) passes `replenit check` and runs in a
  partition, a reconciliation (`--all`) and their dry runs (it crashed every run: item 2), as do
  `path:` and `python:` children;
- a variant whose id reads the product's id column (`VariantId: i_item_id`, one variant per item)
  is a variant even when its other columns are NULL, and a record sent with an empty child array is
  counted (item 3);
- an unchanged warehouse costs no request however the warehouse orders the lines (the child
  table rewritten in another physical order before each run), and a dry run plans what the real
  run sends (item 4).

The fixture is self-contained and small; TPC-DS itself is exercised elsewhere (issue 22).
"""

import json
import random
import textwrap
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest

from replenit_pipelines import cli
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.frames import read_frames

SALES_DAY = date(2026, 11, 26)
FIRST_DATE_SK = 2_461_000  # TPC-DS date keys are Julian day numbers; these are close enough
PARTITION = "2026-11-26-10:00"  # the hour the fixture's sales were made in
ORDERS = 12
# (i_item_sk, i_item_id, i_rec_start_date, i_rec_end_date, i_product_name, i_category, i_current_price)
ITEMS = [
    (1, "AAAAAAAABAAAAAAA", date(2026, 11, 1), date(2026, 11, 24), "ought", "Home/Kitchen", Decimal("9.99")),
    (2, "AAAAAAAABAAAAAAA", date(2026, 11, 25), None, "ought", "Home/Kitchen", Decimal("12.50")),  # SCD-2: A's current row
    (3, "AAAAAAAACAAAAAAA", date(2026, 11, 25), None, "able", "Music", Decimal("3.00")),
    (4, "AAAAAAAADAAAAAAA", date(2026, 11, 25), None, "pri", None, None),  # TPC-DS NULLs: no price, no category
    (5, "AAAAAAAAEAAAAAAA", date(2026, 11, 25), None, "ese", "Books", None),
    (6, "AAAAAAAAFAAAAAAA", date(2026, 11, 1), date(2026, 11, 20), "anti", "Toys", Decimal("5.00")),  # discontinued
]
ITEM_ID = {sk: item_id for sk, item_id, *_ in ITEMS}


def sales_lines() -> list[tuple]:
    """(ws_sold_date_sk, ws_sold_time_sk, ws_item_sk, ws_bill_customer_sk, ws_order_number, ws_quantity,
    ws_sales_price): order o has 1 + o % 4 lines, sold at 10:00 + o minutes of the sales day."""
    date_sk = FIRST_DATE_SK + (SALES_DAY - date(2026, 11, 20)).days
    lines = []
    for o in range(1, ORDERS + 1):
        items = [2, 3, 4, 5, 6, 1][o % 6:] + [2, 3, 4, 5, 6, 1][:o % 6]
        for k, sk in enumerate(items[:1 + o % 4]):
            lines.append((date_sk, 36_000 + 60 * o + 7, sk, o % 5 + 1, o, k + 1, Decimal(f"{2 + k}.{o:02d}")))
    return lines


def build_star(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE date_dim AS SELECT (? + i)::INTEGER AS d_date_sk, (DATE '2026-11-20' + i::INTEGER) AS d_date "
                    "FROM range(20) t(i)", [FIRST_DATE_SK])
        con.execute("CREATE TABLE time_dim AS SELECT i::INTEGER AS t_time_sk, (i // 3600)::INTEGER AS t_hour, "
                    "((i % 3600) // 60)::INTEGER AS t_minute, (i % 60)::INTEGER AS t_second FROM range(86400) t(i)")
        con.execute("CREATE TABLE customer AS SELECT i::INTEGER AS c_customer_sk, printf('AAAAAAAA%08d', i) AS c_customer_id, "
                    "printf('c%d@example.org', i) AS c_email_address FROM range(1, 6) t(i)")
        con.execute("CREATE TABLE item (i_item_sk INTEGER, i_item_id VARCHAR, i_rec_start_date DATE, i_rec_end_date DATE, "
                    "i_product_name VARCHAR, i_category VARCHAR, i_current_price DECIMAL(7,2))")
        con.executemany("INSERT INTO item VALUES (?, ?, ?, ?, ?, ?, ?)", ITEMS)
        con.execute("CREATE TABLE web_sales (ws_sold_date_sk INTEGER, ws_sold_time_sk INTEGER, ws_item_sk INTEGER, "
                    "ws_bill_customer_sk INTEGER, ws_order_number BIGINT, ws_quantity INTEGER, ws_sales_price DECIMAL(7,2))")
        con.executemany("INSERT INTO web_sales VALUES (?, ?, ?, ?, ?, ?, ?)", sales_lines())


def shuffle(path: Path, table: str, seed: int) -> None:
    """Rewrite `table` in another physical order: what a vacuum, a reload or a parallel load does."""
    with duckdb.connect(str(path)) as con:
        rows = con.sql(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - the fixture's own table names
        random.Random(seed).shuffle(rows)
        con.execute(f"DELETE FROM {table}")  # noqa: S608
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)  # noqa: S608


# --- the mappings, as written from docs/configuration.md ------------------------------------------

SOLD_AT = "d_date + make_time(t_hour, t_minute, t_second)"
LINES_QUERY = f"""\
SELECT ws_order_number, ws_order_number || '-' || ws_item_sk AS line_id, i_item_id, ws_quantity, ws_sales_price,
       {SOLD_AT} AS sold_at
FROM web_sales
JOIN date_dim ON ws_sold_date_sk = d_date_sk
JOIN time_dim ON ws_sold_time_sk = t_time_sk
JOIN item ON ws_item_sk = i_item_sk"""  # noqa: S608 - a mapping's query, written out

ORDERS_MAPPING = """\
timezone: UTC
orders:
  source:
    query: |
      SELECT ws_order_number, c_customer_id, 'USD' AS currency, min({sold_at}) AS sold_at
      FROM web_sales
      JOIN date_dim ON ws_sold_date_sk = d_date_sk
      JOIN time_dim ON ws_sold_time_sk = t_time_sk
      JOIN customer ON ws_bill_customer_sk = c_customer_sk
      GROUP BY ws_order_number, c_customer_id
      HAVING min({sold_at}) >= $start AND min({sold_at}) < $end
    window_column: sold_at
  fields: {{OrderId: ws_order_number, CustomerId: c_customer_id, Currency: currency, OrderDate: sold_at}}
  OrderItems:
    source:
{child}
    parent_key: ws_order_number
    key: line_id
    fields: {{ProductId: i_item_id, Quantity: ws_quantity, Price: ws_sales_price}}
"""


def child_source(kind: str, folder: Path) -> str:
    """The OrderItems source block of each kind (indented for ORDERS_MAPPING)."""
    if kind == "query with a window":
        text = f"query: |\n{textwrap.indent(LINES_QUERY, '  ')}\n  WHERE {SOLD_AT} >= $start AND {SOLD_AT} < $end\nwindow_column: sold_at"
    elif kind == "query without a window":  # lines change only with their order (docs: no window column)
        text = f"query: |\n{textwrap.indent(LINES_QUERY, '  ')}"
    else:  # the same lines exported to Parquet, read as a file or by a Polars function
        lines = folder / "lines.parquet"
        with duckdb.connect(str(folder / "wh.duckdb"), read_only=True) as con:
            con.execute(f"COPY ({LINES_QUERY}) TO '{lines}' (FORMAT parquet)")  # noqa: S608 - the fixture's own query and folder
        if kind == "path":
            text = f"path: {lines.name}\nwindow_column: sold_at"
        else:
            module = f"star_lines_{uuid.uuid4().hex}"  # one module per test: Python caches imports by name
            (folder / f"{module}.py").write_text(f"import polars as pl\n\n\ndef lines():\n    return pl.scan_parquet({str(lines)!r})\n")
            text = f"python: {module}:lines" + ("\nwindow_column: sold_at" if kind == "python" else "")
    return textwrap.indent(text, " " * 6)


def expected_orders() -> dict[str, dict]:
    """What the tenant must hold: each order with every line, from the fixture's own rows."""
    out: dict[str, dict] = {}
    for _, time_sk, item_sk, customer_sk, number, qty, price in sales_lines():
        order = out.setdefault(str(number), {"CustomerId": f"AAAAAAAA{customer_sk:08d}", "lines": []})
        order["lines"].append((ITEM_ID[item_sk], qty, float(price)))
        order["OrderDate"] = (datetime.combine(SALES_DAY, datetime.min.time(), UTC) + timedelta(seconds=time_sk)
                              ).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return out


class Star:
    """The star-schema warehouse, a mapping file and the `replenit` commands on one sandbox tenant."""

    def __init__(self, sandbox, tmp_path: Path, push_env, monkeypatch, capsys):
        self.sandbox, self.folder, self.capsys = sandbox, tmp_path, capsys
        self.tenant_id = push_env(sandbox)
        self.warehouse = tmp_path / "wh.duckdb"
        build_star(self.warehouse)
        self.mapping = tmp_path / "mapping.yaml"
        monkeypatch.setenv("REPLENIT_WAREHOUSE", str(self.warehouse))
        monkeypatch.setenv("REPLENIT_MAPPING", str(self.mapping))
        monkeypatch.setenv("REPLENIT_LIMITS", "off")

    def run(self, *args: str) -> tuple[int, dict]:
        """`replenit sync ... --json`: (exit code, counts), and the requests it made in counts["sent"]."""
        since = max((r["seq"] for r in httpx.get(f"{self.sandbox.url}/_sandbox/requests").json()), default=0)
        code = cli.main(["sync", *args, "--json"])
        out = self.capsys.readouterr()
        assert out.out, out.err
        counts = json.loads(out.out)
        log = httpx.get(f"{self.sandbox.url}/_sandbox/requests", params={"since": since}).json()
        counts["sent"] = [r for r in log if self.tenant_id in r["path"]]
        return code, counts

    def check(self) -> tuple[int, str]:
        code = cli.main(["check"])
        out = self.capsys.readouterr()
        return code, out.out + out.err

    def stored(self, entity: str) -> dict[str, dict]:
        got = httpx.get(f"{self.sandbox.url}/_sandbox/records/{self.tenant_id}/{entity}").json()
        return {r["key"]: r["record"] for r in got}


@pytest.fixture
def star(sandbox, tmp_path, push_env, monkeypatch, capsys):
    return Star(sandbox, tmp_path, push_env, monkeypatch, capsys)


def _lines(record: dict) -> list[tuple]:
    return [(i["ProductId"], i["Quantity"], i["Price"]) for i in record["OrderItems"]]


# --- item 2: child sources of every kind, with and without a window, in every kind of run ------------

# (`python` with a window reads as `path` does: a filter on the LazyFrame.)
@pytest.mark.parametrize("kind", ["query with a window", "query without a window", "path", "python without a window"])
def test_child_sources_pass_check_and_run_in_partitions_reconciliations_and_dry_runs(star, kind):
    star.mapping.write_text(ORDERS_MAPPING.format(sold_at=SOLD_AT, child=child_source(kind, star.folder)))
    code, out = star.check()
    assert code == 0 and "None" not in out, out
    assert "ERROR" not in out and "WARNING orders.OrderItems" not in out, out

    lines = len(sales_lines())
    code, plan = star.run("orders", "--partition", PARTITION, "--dry-run")
    assert (code, plan["rows_read"], plan["records_planned"], plan["sent"]) == (0, lines, ORDERS, [])
    code, plan = star.run("orders", "--all", "--dry-run")
    assert (code, plan["rows_read"], plan["records_planned"], plan["sent"]) == (0, lines, ORDERS, [])

    # In chunks of record keys (the keys of both sources), each order whole in one chunk.
    code, first = star.run("orders", "--all", "--chunk-rows", "5")
    assert (code, first["rows_delivered"], first["records_accepted"]) == (0, lines, ORDERS), first
    assert first["chunks"] > 3 and sum(r["records"] for r in first["sent"]) == ORDERS
    expected = expected_orders()
    stored = star.stored("orders")
    assert set(stored) == set(expected)
    for order_id, want in expected.items():
        got = stored[order_id]
        assert sorted(_lines(got)) == sorted(want["lines"]), order_id
        assert (got["CustomerId"], got["OrderDate"]) == (want["CustomerId"], want["OrderDate"])
        assert got["TotalRevenue"] == pytest.approx(sum(q * p for _, q, p in want["lines"]))

    code, again = star.run("orders", "--partition", PARTITION)  # the same records, all unchanged
    assert (code, again["rows_read"], again["rows_unchanged"], again["sent"]) == (0, lines, lines, [])
    code, quiet = star.run("orders", "--partition", "2026-11-26-20:00")  # 14:00 to 21:00 with the lookback: no sale
    assert (code, quiet["rows_read"], quiet["sent"]) == (0, 0, [])


def test_check_says_a_child_queries_bounds_select_nothing_without_a_window_column(star):
    bounded = f"query: |\n{textwrap.indent(LINES_QUERY, '  ')}\n  WHERE {SOLD_AT} >= $start AND {SOLD_AT} < $end"
    star.mapping.write_text(ORDERS_MAPPING.format(sold_at=SOLD_AT, child=textwrap.indent(bounded, " " * 6)))
    code, out = star.check()
    assert code == 0, out  # it runs: the bounds are the ends of time
    assert "WARNING orders.OrderItems.source: the query uses $end and $start, but a child source is read by its " \
           "parents' keys" in out and "give the child source a window_column" in out, out


def test_the_parents_query_needs_no_bounds_either_when_its_children_have_a_source(star):
    """Read with a child source, the parent's query too is run over all time and the window is the
    filter on its window column: without $start/$end a partition still reads only its orders."""
    mapping = ORDERS_MAPPING.format(sold_at=SOLD_AT, child=child_source("query without a window", star.folder))
    unbounded = mapping.replace(f"      HAVING min({SOLD_AT}) >= $start AND min({SOLD_AT}) < $end\n", "")
    assert "$start" not in unbounded
    star.mapping.write_text(unbounded)
    code, out = star.check()
    assert code == 0 and "ERROR" not in out, out
    code, counts = star.run("orders", "--partition", PARTITION)
    assert (code, counts["rows_read"], counts["records_accepted"]) == (0, len(sales_lines()), ORDERS)
    code, quiet = star.run("orders", "--partition", "2026-11-26-20:00")
    assert (code, quiet["rows_read"], quiet["sent"]) == (0, 0, [])


# --- item 3: one variant per item, its id the product's id column ----------------------------------

PRODUCTS_PARENT = """\
timezone: UTC
products:
  source:
    query: |
      SELECT *, i_rec_start_date::TIMESTAMP AS valid_from FROM item
      WHERE i_rec_start_date::TIMESTAMP >= $start AND i_rec_start_date::TIMESTAMP < $end
    window_column: valid_from
  fields: {ProductId: i_item_id, ProductName: i_product_name, Taxonomy: {expr: "string_to_array(i_category, '/')"}}
"""
VARIANTS = {
    # The item table's own rows are the variants: one per item, as TPC-DS has no variants.
    "in the item query": """\
  ProductVariants:
    fields: {VariantId: i_item_id, SalePrice: i_current_price, Currency: {constant: USD}}
""",
    # The variants in their own query: the current version of each item.
    "in their own query": """\
  ProductVariants:
    source:
      query: "SELECT i_item_id, i_current_price, i_rec_start_date::TIMESTAMP AS valid_from FROM item WHERE i_rec_end_date IS NULL"
      window_column: valid_from
    parent_key: i_item_id
    key: i_item_id
    fields: {VariantId: i_item_id, SalePrice: i_current_price, Currency: {constant: USD}}
""",
}


@pytest.mark.parametrize("shape", list(VARIANTS))
def test_a_variant_keyed_by_the_products_id_column_is_sent_when_its_other_columns_are_null(star, shape):
    star.mapping.write_text(PRODUCTS_PARENT + VARIANTS[shape])
    code, out = star.check()
    assert code == 0, out
    code, counts = star.run("products", "--all")
    assert code == 0, counts
    stored = star.stored("products")
    current = {item_id: price for _, item_id, _, end, _, _, price in ITEMS if end is None}
    for item_id, price in current.items():  # D and E have NULL prices: still their one variant each
        assert stored[item_id]["ProductVariants"] == [
            {"VariantId": item_id, "SalePrice": None if price is None else float(price), "Currency": "USD"}], item_id
    # F is discontinued: the current-version query has no variant of it, so it is sent with none,
    # and counted; in the item query F's own row is its variant.
    without = 1 if shape == "in their own query" else 0
    assert counts["records_without_children"] == without
    assert stored["AAAAAAAAFAAAAAAA"]["ProductVariants"] == ([] if without else [
        {"VariantId": "AAAAAAAAFAAAAAAA", "SalePrice": 5.0, "Currency": "USD"}])
    # A's older SCD-2 row: a superseded variant row in the item query; in the other shape the read
    # resolves the parent's history and the variant query has only current rows.
    assert (counts["records_accepted"], counts["rows_superseded"]) == (5, 1 - without)


# --- item 4: an unchanged warehouse costs nothing whatever the scan order ----------------------------

def test_unchanged_orders_cost_no_request_when_the_warehouse_returns_their_lines_in_another_order(star):
    star.mapping.write_text(ORDERS_MAPPING.format(sold_at=SOLD_AT, child=child_source("query with a window", star.folder)))
    code, first = star.run("orders", "--all")
    assert (code, first["records_accepted"]) == (0, ORDERS)
    mapping = load_mapping(star.mapping)["orders"]
    window = (datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    read_orders, requests = set(), []
    for seed in range(3):  # three unchanged re-runs, the lines rewritten in another order before each
        shuffle(star.warehouse, "web_sales", seed)
        read_orders.add(tuple(read_frames(Warehouse(star.warehouse), mapping, *window)["<OrderItems:key>"].to_list()))
        runs = [star.run("orders", "--partition", PARTITION, "--dry-run"), star.run("orders", "--partition", PARTITION),
                star.run("orders", "--all", "--dry-run"), star.run("orders", "--all")]
        assert all(code == 0 for code, _ in runs), runs
        requests.append([c["requests_planned"] if c["dry_run"] else len(c["sent"]) for _, c in runs])
        assert [c["records_unchanged"] for _, c in runs] == [ORDERS] * 4
    assert len(read_orders) > 1  # the warehouse really returned the lines in other orders
    assert requests == [[0, 0, 0, 0]] * 3  # (partition dry run, partition, --all dry run, --all) x 3 re-runs

    # One line changed, in yet another order: the dry run plans exactly what the real run sends.
    with duckdb.connect(str(star.warehouse)) as con:
        con.execute("UPDATE web_sales SET ws_quantity = ws_quantity + 1 WHERE ws_order_number = 7 AND ws_item_sk = 3")
    shuffle(star.warehouse, "web_sales", 99)
    _, plan = star.run("orders", "--partition", PARTITION, "--dry-run")
    _, real = star.run("orders", "--partition", PARTITION)
    assert (plan["records_planned"], plan["requests_planned"]) == (1, 1)
    assert [r["records"] for r in real["sent"]] == [1] and real["records_changed"] == 1
    assert sorted(_lines(star.stored("orders")["7"])) == sorted(
        (p, q + (1 if p == ITEM_ID[3] else 0), price) for p, q, price in expected_orders()["7"]["lines"])


def test_child_arrays_are_sent_in_the_order_of_their_key(star):
    star.mapping.write_text(ORDERS_MAPPING.format(sold_at=SOLD_AT, child=child_source("query without a window", star.folder)))
    shuffle(star.warehouse, "web_sales", 5)
    assert star.run("orders", "--all")[0] == 0
    by_key: dict[str, list[tuple]] = {}
    for _, _, sk, _, number, qty, price in sales_lines():
        by_key.setdefault(str(number), []).append((f"{number}-{sk}", ITEM_ID[sk], qty, float(price)))
    for order_id, record in star.stored("orders").items():  # line_ids of one order have one length here
        assert _lines(record) == [line[1:] for line in sorted(by_key[order_id])], order_id


def test_a_polars_frame_of_children_nests_in_one_order_whatever_the_row_order():
    """nest_records itself: the same valid rows in two orders give the same records, byte for byte."""
    from replenit_pipelines.lib.contract.payload import serialize
    from replenit_pipelines.lib.validation import prepare
    from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

    mapping_dict = {
        "source": {"table": "lines", "window_column": "updated_at"},
        "fields": {"OrderId": "order_id", "Currency": "currency"},
        # No key: lines are ordered by their content.
        "OrderItems": {"fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
    }
    mapping = entity_mapping_from_dict("orders", mapping_dict)
    at = datetime(2026, 11, 26, 10)
    lines = [("o1", p, q, price) for p, q, price in [("b", 1, 0.1), ("a", 2, 0.2), ("a", 1, 0.7), ("c", 3, 0.3), ("b", 1, 0.2)]]
    # Net prices with 7 decimals: summed in another order, the total differs in its 6th decimal.
    lines += [("o2", f"p{i}", 1, price) for i, price in enumerate([3.4028524, 2.9121529, 8.6741982])]
    rows = pl.DataFrame([{"order_id": o, "currency": "EUR", "product_id": p, "qty": q, "price": price, "updated_at": at}
                         for o, p, q, price in lines])
    payloads = {tuple(sorted(serialize(prepare(mapping, rows.sample(fraction=1.0, shuffle=True, seed=s)).records)))
                for s in range(12)}
    assert len(payloads) == 1
    o1, o2 = [json.loads(p) for p in payloads.pop()]
    assert [(i["ProductId"], i["Quantity"], i["Price"]) for i in o1["OrderItems"]] == [
        ("a", 1, 0.7), ("a", 2, 0.2), ("b", 1, 0.1), ("b", 1, 0.2), ("c", 3, 0.3)]
    assert o2["TotalRevenue"] == 14.989203

    # With a key: by the key, shorter first (line 2 before line 10: as most tables were loaded).
    keyed = entity_mapping_from_dict("orders", {**mapping_dict, "OrderItems": {**mapping_dict["OrderItems"], "key": "line_no"}})
    rows = rows.with_columns(pl.Series("line_no", [2, 10, 1, 3, 20, 1, 2, 3]))
    by_key = {tuple(sorted(serialize(prepare(keyed, rows.sample(fraction=1.0, shuffle=True, seed=s)).records))) for s in range(6)}
    assert len(by_key) == 1
    o1, _ = [json.loads(p) for p in by_key.pop()]
    # Lines 1, 2, 3, 10, 20 (plain text would give 1, 10, 2, 20, 3).
    assert [(i["ProductId"], i["Quantity"], i["Price"]) for i in o1["OrderItems"]] == [
        ("a", 1, 0.7), ("b", 1, 0.1), ("c", 3, 0.3), ("a", 2, 0.2), ("b", 1, 0.2)]
