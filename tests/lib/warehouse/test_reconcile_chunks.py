"""Reconciliation's chunks (issue 12): every version of a customer in one chunk, whatever the reader
(a table split in one scan, a query, a file, a mapping read by frames), and a mapping read by frames
without a key column reads every row, NULL and unparsable window values too. Real sandbox, real
DuckDB warehouses and Parquet files, real SQLite ledgers."""

from datetime import datetime

import polars as pl
import pytest
from test_ledger_sync import customers, write_table
from test_reconcile import Rig

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.stages.delete import DeleteGuard
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

FIELDS = {"CustomerId": "id", "Email": "email", "Name": "name", "Phone": "phone", "Language": "locale", "GdprOptin": "gdpr"}
MAPPINGS = {
    "table": {"source": {"table": "customers", "window_column": "updated_at"}},
    "query": {"source": {"query": "SELECT * FROM customers", "window_column": "updated_at"}},
    "parquet": {"source": {"path": "customers.parquet", "window_column": "updated_at"}},
    # A text window column: the mapping is read by frames.
    "frames": {"source": {"table": "customers_text", "window_column": {"column": "updated_at", "format": "iso8601"}}},
    "frames-parquet": {"source": {"path": "customers_text.parquet", "window_column": {"column": "updated_at", "format": "iso8601"}}},
}
PAIRS = 20


def two_versions_each() -> tuple[list[dict], dict[str, dict]]:
    """Filler customers, and PAIRS customers written twice: a June row and a January row with the
    same email (the January one upper-cased and padded with whitespace) under another CustomerId
    (NULL for a few).
    The tenant matches customers by email: each pair is one customer, whose June row is the truth."""
    rows = customers(30)
    expected = {}
    for i in range(PAIRS):
        new = {"id": f"N{i}", "email": f"pair{i}@x.com", "name": f"New {i}", "phone": None, "locale": "en-GB", "gdpr": True,
               "updated_at": datetime(2026, 6, 1, 12, i)}
        # Padded with what Python's strip() removes and DuckDB's trim() keeps (tab, U+0085, U+2028) too.
        pad = ("  ", "\t", "\u0085", "\u2028 ")[i % 4]
        old = {**new, "id": None if i % 5 == 0 else f"O{i}", "email": f"{pad}PAIR{i}@X.COM{pad}", "name": f"Old {i}",
               "updated_at": datetime(2026, 1, 1, 12, i)}
        # The older row first in the source too: nothing but the dates says which one wins.
        rows += [old, new]
        expected[f"email:pair{i}@x.com"] = new
    return rows, expected


@pytest.mark.parametrize("kind", list(MAPPINGS))
def test_every_version_of_a_customer_is_in_one_chunk_and_the_newest_is_stored(sandbox, tmp_path, kind):
    rows, expected = two_versions_each()
    spec = MAPPINGS[kind]
    source = dict(spec["source"])
    text_rows = [{**r, "updated_at": r["updated_at"].isoformat()} for r in rows]
    if "path" in source:
        source["path"] = str(tmp_path / source["path"])
        pl.DataFrame(text_rows if kind.startswith("frames") else rows, infer_schema_length=None).write_parquet(source["path"])
    mapping = entity_mapping_from_dict("customers", {"source": source, "fields": FIELDS})
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    write_table(rig.warehouse, "customers", rows)
    write_table(rig.warehouse, "customers_text", text_rows)
    assert mapping.read_by_frames == kind.startswith("frames")
    try:
        result, _ = rig.reconcile(chunk_rows=10)
        c = result.counts()
        assert c["chunks"] > 3  # several chunks: the pairs' ids hash to different ones
        stored = rig.stored()
        assert len(stored) == 30 + PAIRS, sorted(k for k in stored if "pair" in k)
        for key, new in expected.items():
            assert (stored[key]["Name"], stored[key]["CustomerId"]) == (new["name"], new["id"]), key
        assert c["rows_superseded"] == PAIRS and c["rows_delivered"] == 30 + PAIRS
        # Again: the ledger agrees with the source, chunk by chunk; nothing is sent.
        again, sent = rig.reconcile(chunk_rows=10, mirror=True)
        assert sent == [] and again.counts()["records_to_delete"] == 0
    finally:
        rig.client.close()


def test_identity_priority_customerid_chunks_by_the_id_and_falls_back_to_the_email(sandbox, tmp_path):
    """By CustomerId: two rows of one id (emails differ) are one customer; rows without an id are
    matched by their email, case and spaces aside."""
    rows = customers(30)
    for i in range(PAIRS):
        rows += [{"id": f"K{i}", "email": f"first{i}@x.com", "name": f"Old {i}", "phone": None, "locale": "en-GB", "gdpr": True,
                  "updated_at": datetime(2026, 1, 1, 12, i)},
                 {"id": f"K{i}", "email": f"second{i}@x.com", "name": f"New {i}", "phone": None, "locale": "en-GB", "gdpr": True,
                  "updated_at": datetime(2026, 6, 1, 12, i)},
                 {"id": None, "email": f" NOID{i}@X.com", "name": f"Old {i}", "phone": None, "locale": "en-GB", "gdpr": True,
                  "updated_at": datetime(2026, 1, 1, 12, i)},
                 {"id": None, "email": f"noid{i}@x.com", "name": f"New {i}", "phone": None, "locale": "en-GB", "gdpr": True,
                  "updated_at": datetime(2026, 6, 1, 12, i)}]
    mapping = entity_mapping_from_dict("customers", {**MAPPINGS["table"], "fields": FIELDS})
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    rig.client.close()  # a tenant that matches customers by CustomerId
    rig.tenant_id, rig.key = sandbox.add_tenant(customer_priority="customerid")
    rig.client = ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=rig.tenant_id, api_key=rig.key, limits=(),
                                             quota_dir=str(rig.quota_dir)))
    rig.load(rows)
    try:
        result, _ = rig.reconcile(chunk_rows=10, customer_priority="customerid")
        stored = rig.stored()
        assert len(stored) == 30 + 2 * PAIRS
        for i in range(PAIRS):
            assert stored[f"customerid:K{i}"]["Name"] == f"New {i}"
            assert stored[f"email:noid{i}@x.com"]["Name"] == f"New {i}"
        assert result.counts()["rows_superseded"] == 2 * PAIRS
    finally:
        rig.client.close()


EXPR_ONLY = {
    "source": {"table": "customers", "window_column": {"column": "updated_at", "format": "iso8601"}},
    "fields": {"CustomerId": {"expr": "'crm-' || id"}, "Email": {"expr": "lower(email)"}, "Name": "name", "Phone": "phone",
               "Language": "locale", "GdprOptin": "gdpr"},
}


def test_a_mapping_read_by_frames_without_a_key_column_reconciles_every_row(sandbox, tmp_path):
    """Customers known by expressions only, with a text window column: rows whose window value is
    NULL or does not parse are read (and delivered) like the others, the rows are counted, and a
    mirror run over the same source deletes nothing."""
    rows = customers(40)
    for i, row in enumerate(rows):
        row["updated_at"] = None if i % 4 == 1 else "not a date" if i % 4 == 2 else row["updated_at"].isoformat()
    mapping = entity_mapping_from_dict("customers", EXPR_ONLY)
    assert mapping.read_by_frames
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    rig.load(rows)
    try:
        result, _ = rig.reconcile()
        c = result.counts()
        stored = rig.stored()
        assert len(stored) == 40 == c["rows_read"] == c["rows_delivered"]
        assert stored["email:user1@example.com"]["CustomerId"] == "crm-c1"  # a NULL window value
        assert stored["email:user2@example.com"]["CustomerId"] == "crm-c2"  # an unparsable one
        again, sent = rig.reconcile(mirror=True)
        a = again.counts()
        assert sent == [] and a["rows_read"] == 40 and a["records_to_delete"] == 0 and a["rows_unchanged"] == 40
        # One customer leaves the source: the mirror deletes it, and only it.
        rig.load(rows[:-1])
        gone, sent = rig.reconcile(mirror=True, guard=DeleteGuard(max_share=0.05, max_count=10))
        assert gone.counts()["records_deleted"] == 1 and "email:user39@example.com" not in rig.stored()
        assert len(rig.stored()) == 39
    finally:
        rig.client.close()


def last_progress(lines: list[str]) -> tuple[int, int]:
    """(rows done, rows in all) of the last progress line ("..., 15/21 rows, ...")."""
    import re

    done, total = re.search(r"([\d,]+)/([\d,]+) rows", lines[-1]).groups()
    return int(done.replace(",", "")), int(total.replace(",", ""))


@pytest.mark.parametrize("files", [False, True])  # DuckDB tables, or Parquet files read by Polars
def test_the_progress_line_counts_rows_as_rows_read_does_for_a_mapping_with_a_child_source(sandbox, tmp_path, files):
    """Issue 22 f: `--all` on orders with their lines in a table of their own said "15/21 rows" (the
    rows of both sources) where rows_read counts one row per line, one per order without lines."""
    from test_normalized import ORDERS, naive, write

    t = datetime(2026, 11, 26, 10)
    order = {"customer_id": "c1", "currency": "EUR", "ordered_at": "2026-11-26T10:00:00Z"}
    orders = [{**order, "order_id": f"o{i}", "updated_at": t} for i in range(6)]
    orders += [{**order, "order_id": "o0", "updated_at": datetime(2026, 1, 1)},  # an older version: resolved by the read
               {**order, "order_id": None, "updated_at": t}]  # no id: one quarantined row
    lines = [{"line_id": f"l{i}-{k}", "order_id": f"o{i}", "product_id": "p1", "qty": 1, "price": 10.0, "loaded_at": naive(t)}
             for i in range(4) for k in range(3)]  # o4, o5: no lines
    lines += [{"line_id": "x", "order_id": "o9", "product_id": "p1", "qty": 1, "price": 1.0, "loaded_at": naive(t)},  # orphan
              {"line_id": "y", "order_id": None, "product_id": "p1", "qty": 1, "price": 1.0, "loaded_at": naive(t)}]  # no order id
    spec = ORDERS
    if files:
        pl.DataFrame(orders).write_parquet(tmp_path / "orders.parquet")
        pl.DataFrame(lines).write_parquet(tmp_path / "lines.parquet")
        spec = {**ORDERS, "source": {"path": str(tmp_path / "orders.parquet"), "window_column": "updated_at"},
                "OrderItems": {**ORDERS["OrderItems"], "source": {"path": str(tmp_path / "lines.parquet"), "window_column": "loaded_at"}}}
    mapping = entity_mapping_from_dict("orders", spec)
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    write(rig.warehouse, orders=orders, lines=lines)
    try:
        log: list[str] = []
        result, _ = rig.reconcile(chunk_rows=5, log=log.append, dry_run=True)
        c = result.counts()
        assert c["chunks"] > 1 and c["rows_read"] == 12 + 1 + 2 + 1 + 1  # lines, orphan, o4 and o5, stray order, stray line
        assert last_progress(log) == (c["rows_read"], c["rows_read"])
    finally:
        rig.client.close()


def test_the_progress_line_counts_soft_deleted_rows_as_rows_read_does(sandbox, tmp_path):
    rows = customers(30)
    for i, row in enumerate(rows):
        row["deleted"] = i % 3 == 0
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "customers", "window_column": "updated_at",
                                                                "deleted_column": "deleted"}, "fields": FIELDS})
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    rig.load(rows)
    try:
        log: list[str] = []
        result, _ = rig.reconcile(chunk_rows=10, log=log.append, dry_run=True)
        assert result.counts()["rows_read"] == 30 and last_progress(log) == (30, 30)
    finally:
        rig.client.close()


def related_by_customer_id() -> list[dict]:
    """Customers whose rows carry two identities, tied together by their CustomerId (issue 22 a):
    an older row with another email; a chain (A's new email is B's old one); a row whose email is
    refused (its identity is its CustomerId) beside one with a good email. Filler around them."""
    rows = customers(40)

    def row(cid, email, name, month):
        return {"id": cid, "email": email, "name": name, "phone": None, "locale": "en-GB", "gdpr": True,
                "updated_at": datetime(2026, month, 1, 12)}

    for i in range(12):
        rows += [row(f"V{i}", f"old{i}@x.com", f"Old {i}", 1), row(f"V{i}", f"new{i}@x.com", f"New {i}", 6)]
        rows += [row(f"A{i}", f"a{i}@x.com", f"A old {i}", 1), row(f"A{i}", f"ab{i}@x.com", f"A {i}", 5),
                 row(f"B{i}", f"ab{i}@x.com", f"B old {i}", 2), row(f"B{i}", f"b{i}@x.com", f"B {i}", 7)]
        rows += [row(f"R{i}", f"r{i} at x.com", f"R bad {i}", 8), row(f"R{i}", f"r{i}@x.com", f"R old {i}", 3)]
    return rows


@pytest.mark.parametrize("kind", list(MAPPINGS))
def test_rows_tied_by_a_customer_id_meet_in_one_chunk_whatever_the_reader(sandbox, tmp_path, kind):
    """Before: chunks were cut by identity alone, so a customer's older row with another email was
    read in another chunk, where it was the newest of its CustomerId, and sent as a second customer
    (the 50,000-row warehouse: 19 of 100). A reconciliation in chunks must do what one prepare over
    every row does."""
    from replenit_pipelines.lib.validation import prepare

    rows = related_by_customer_id()
    spec = MAPPINGS[kind]
    source = dict(spec["source"])
    text_rows = [{**r, "updated_at": r["updated_at"].isoformat()} for r in rows]
    if "path" in source:
        source["path"] = str(tmp_path / source["path"])
        pl.DataFrame(text_rows if kind.startswith("frames") else rows, infer_schema_length=None).write_parquet(source["path"])
    mapping = entity_mapping_from_dict("customers", {"source": source, "fields": FIELDS})
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    write_table(rig.warehouse, "customers", rows)
    write_table(rig.warehouse, "customers_text", text_rows)
    whole = prepare(entity_mapping_from_dict("customers", {"source": {"table": "t", "window_column": "updated_at"},
                                                           "fields": FIELDS}), pl.DataFrame(rows, infer_schema_length=None))
    want = {r["__key"]: (r["CustomerId"], r["Name"]) for r in whole.records.to_dicts()}
    assert len(want) == 40 + 12 * 3 and want["email:ab0@x.com"] == ("A0", "A 0") and want["email:b0@x.com"] == ("B0", "B 0")
    try:
        result, _ = rig.reconcile(chunk_rows=10)
        c = result.counts()
        assert c["chunks"] > 10
        stored = {k: (r["CustomerId"], r["Name"]) for k, r in rig.stored().items()}
        assert stored == want
        assert (c["rows_superseded"], c["rows_merged"], c["rows_quarantined"]) == \
            (whole.rows_superseded, whole.rows_merged, whole.rows_quarantined) == (12 * 4, 0, 12)  # R: newest refused
        again, sent = rig.reconcile(chunk_rows=10, mirror=True)
        assert sent == [] and again.counts()["records_to_delete"] == 0
    finally:
        rig.client.close()


def test_a_chain_of_customer_ids_is_one_component_and_others_stay_apart():
    from replenit_pipelines.lib.warehouse.customer_chunks import CustomerChunking, customer_components

    # CustomerId i carries identities i and i+1 (50 links: one customer to the tenant's rows), and
    # CustomerIds 100.. one identity each (no component to find).
    chain = [(c, h) for c in range(50) for h in (c + 1000, c + 1001)]
    lone = [(100 + i, 5000 + i) for i in range(20)]
    pairs = pl.DataFrame(chain + lone, schema={"__c": pl.UInt64, "__h": pl.UInt64}, orient="row")
    overrides = customer_components(pairs)
    assert overrides.height == 50 and set(overrides["__rep"]) == {1000}  # 1001..1050 -> the least, 1000
    ids = pl.DataFrame({"__h": [1000, 1025, 1050, 5003, None]}, schema={"__h": pl.UInt64})
    chunks = CustomerChunking(7, overrides).of(ids).to_list()
    assert chunks[:3] == [1000 % 7] * 3 and chunks[3:] == [5003 % 7, 0]
