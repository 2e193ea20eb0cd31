"""Issue 22 b and d: sources without an update time, and rows whose window value is NULL.

b. A parent table without an update time (TPC-H's customer and part) is declared with
   `window_column: null`: partitions read nothing of it on their own (and say so: every row counts
   in rows_without_window_value, `replenit check` warns), a child source with a window column
   selects its parents, and `--all` / the reconcile job read everything. Before, the only way was
   a query adding `CAST(NULL AS TIMESTAMP) AS updated_at`, which `replenit check` refused.
d. A `query:` source that filters on $start/$end leaves out rows whose window value is NULL in
   every run, `--all` too ($start/$end at the ends of time): `replenit check` says so, and the
   query's `$all` (true when a run reads over all time) lets `--all` read them.

Real DuckDB files, the real sandbox, real SQLite ledgers."""

import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from test_ledger_sync import customers
from test_normalized import naive, write
from test_reconcile import Rig

from replenit_pipelines import cli
from replenit_pipelines.lib.stages.extract import extract
from replenit_pipelines.lib.validation import prepare
from replenit_pipelines.lib.warehouse import MappingError, Warehouse, entity_mapping_from_dict

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
FIELDS = {"CustomerId": "id", "Email": "email", "Name": "name"}


def no_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "updated_at"} for r in rows]


def test_a_customer_table_without_an_update_time_is_read_by_no_partition_and_sent_whole_by_all(sandbox, tmp_path):
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "customer", "window_column": None}, "fields": FIELDS})
    assert mapping.source.window_column is None
    rig = Rig(sandbox, tmp_path, mapping=mapping, table="customer")
    rig.load(no_time(customers(30)))
    try:
        extracted = extract(mapping, Warehouse(rig.warehouse), T0, T0 + HOUR)
        # A partition reads nothing, and says how much it leaves to reconciliation.
        assert (extracted.rows.height, extracted.rows_without_window_value) == (0, 30)
        result, sent = rig.reconcile(chunk_rows=10)
        c = result.counts()
        assert (c["rows_read"], c["rows_delivered"], c["chunks"]) == (30, 30, 3) and len(rig.stored()) == 30
        again, sent = rig.reconcile(chunk_rows=10, mirror=True)  # the deletes' pass reads no window column
        assert sent == [] and again.counts()["rows_unchanged"] == 30 and again.counts()["records_to_delete"] == 0
    finally:
        rig.client.close()


def test_a_parent_without_an_update_time_is_selected_by_its_childrens_time(tmp_path):
    mapping = entity_mapping_from_dict("products", {
        "source": {"table": "part", "window_column": None},
        "fields": {"ProductId": "product_id", "ProductName": "name"},
        "ProductVariants": {"source": {"table": "variants", "window_column": "updated_at"}, "parent_key": "product_id",
                            "key": "variant_id", "fields": {"VariantId": "variant_id", "StockQuantity": "stock"}}})
    write(tmp_path / "wh.duckdb",
          part=[{"product_id": f"p{i}", "name": f"Part {i}"} for i in range(4)],
          variants=[{"variant_id": "a", "product_id": "p0", "stock": 1, "updated_at": naive(T0)},
                    {"variant_id": "b", "product_id": "p0", "stock": 2, "updated_at": naive(T0 - 90 * HOUR)},
                    {"variant_id": "c", "product_id": "p1", "stock": 3, "updated_at": naive(T0 - 90 * HOUR)},
                    {"variant_id": "d", "product_id": "p2", "stock": 4, "updated_at": None}])
    extracted = extract(mapping, Warehouse(tmp_path / "wh.duckdb"), T0, T0 + HOUR)
    prepared = prepare(mapping, extracted.rows)
    [p0] = prepared.records.to_dicts()  # touched through its variant a, read whole
    assert p0["ProductId"] == "p0" and sorted(v["VariantId"] for v in p0["ProductVariants"]) == ["a", "b"]
    # Rows no window ever reads: p2 and its undated variant d, p3 (no variant); p1 has a dated variant.
    assert extracted.rows_without_window_value == 3


@pytest.mark.parametrize(("block", "expected"), [
    ("customers:\n  source: {table: customer, window_column: null}\n  fields: {CustomerId: id, Email: email}\n",
     "WARNING customers.window_column: none: no partition reads customers"),
    ("products:\n  source: {table: part, window_column: null}\n  fields: {ProductId: product_id, ProductName: name}\n"
     "  ProductVariants:\n    source: {table: variants, window_column: updated_at}\n    parent_key: product_id\n"
     "    key: variant_id\n    fields: {VariantId: variant_id}\n",
     "NOTE    products.window_column: none: a partition reads the products whose ProductVariants changed in it"),
    # The singular too, with its article (a mutant that cut "product" to "p" survived the line above:
    # bench/mutation.py --sample; the text said "an product").
    ("products:\n  source: {table: part, window_column: null}\n  fields: {ProductId: product_id, ProductName: name}\n"
     "  ProductVariants:\n    source: {table: variants, window_column: updated_at}\n    parent_key: product_id\n"
     "    key: variant_id\n    fields: {VariantId: variant_id}\n",
     "a product whose ProductVariants never change is sent only by `replenit sync products --all`"),
])
def test_replenit_check_says_what_sends_a_parent_without_a_window_column(capsys, monkeypatch, tmp_path, block, expected):
    write(tmp_path / "wh.duckdb", customer=[{"id": "c1", "email": "a@x.com"}], part=[{"product_id": "p1", "name": "P"}],
          variants=[{"variant_id": "v", "product_id": "p1", "updated_at": naive(T0)}])
    (tmp_path / "m.yaml").write_text(block)
    code = check(monkeypatch, tmp_path)
    out = capsys.readouterr().out
    assert code == 0 and expected in out, out
    assert "--all" in out and "reconcile_" in out


def check(monkeypatch, folder) -> int:
    # `replenit check --mapping` sets REPLENIT_MAPPING for its process: set here, so it is undone after.
    monkeypatch.setenv("REPLENIT_MAPPING", str(folder / "m.yaml"))
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(folder / "wh.duckdb"))
    return cli.main(["check", "--mapping", str(folder / "m.yaml"), "--warehouse", str(folder / "wh.duckdb")])


def test_a_window_column_omitted_is_still_updated_at_and_a_bad_one_names_null():
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "t"}, "fields": FIELDS})
    assert mapping.source.window_column == "updated_at" and not mapping.read_by_frames
    with pytest.raises(MappingError, match=r"or null: a source without an update time"):
        entity_mapping_from_dict("customers", {"source": {"table": "t", "window_column": 5}, "fields": FIELDS})


def test_the_dagster_check_of_a_source_without_a_window_column_says_reconciliation_sends_it():
    from replenit_pipelines.component.checks import window_column_check

    mapping = entity_mapping_from_dict("customers", {"source": {"table": "customer", "window_column": None}, "fields": FIELDS})
    result = window_column_check(mapping, 1500)
    assert not result.passed and result.metadata["rows_without_window_value"].value == 1500
    assert "no window column" in result.description and "reconcile_customers" in result.description


# --- d: NULL window values in a query source ---------------------------------------------------------

@pytest.mark.parametrize("query, all_reads_nulls", [
    ("SELECT * FROM customers WHERE updated_at >= $start AND updated_at < $end", False),
    ("SELECT * FROM customers WHERE updated_at >= $start AND updated_at < $end OR (updated_at IS NULL AND $all)", True),
])
def test_a_query_decides_whether_all_reads_rows_without_a_window_value(sandbox, tmp_path, query, all_reads_nulls):
    rows = customers(20, at=T0)
    for i, row in enumerate(rows):
        if i % 4 == 0:
            row["updated_at"] = None  # 5 rows without a window value
    mapping = entity_mapping_from_dict("customers", {"source": {"query": query, "window_column": "updated_at"}, "fields": FIELDS})
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    rig.load(rows)
    try:
        # A partition never reads them; with $all the query returns them over all time, so the
        # partition counts them (rows_without_window_value), without it nothing can.
        extracted = extract(mapping, Warehouse(rig.warehouse), T0 - 24 * HOUR, T0 + 24 * HOUR)
        assert extracted.rows.height == 15 and extracted.rows["updated_at"].null_count() == 0
        assert extracted.rows_without_window_value == (5 if all_reads_nulls else 0)
        # --all binds $start/$end to the ends of time: `updated_at >= $start` still refuses a NULL.
        result, _ = rig.reconcile(chunk_rows=7)
        assert result.counts()["rows_read"] == result.counts()["rows_delivered"] == (20 if all_reads_nulls else 15)
        assert ("email:user0@example.com" in rig.stored()) is all_reads_nulls
    finally:
        rig.client.close()


def test_replenit_check_counts_the_rows_of_a_table_without_a_window_value(capsys, monkeypatch, tmp_path):
    rows = customers(10, at=T0)
    for row in rows[:3]:
        row["updated_at"] = None
    write(tmp_path / "wh.duckdb", customers=rows)
    (tmp_path / "m.yaml").write_text(textwrap.dedent("""\
        customers:
          source: {table: customers, window_column: updated_at}
          fields: {CustomerId: id, Email: email}
        """))
    code = check(monkeypatch, tmp_path)
    out = capsys.readouterr().out
    assert code == 0 and "WARNING customers.window_column: 3 rows have no updated_at (NULL)" in out, out
