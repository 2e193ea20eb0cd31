"""Issue 21 item 5: a refused Email or CustomerId is no identity, and customers the tenant merges
by a shared email are counted and shown, never silent.

Before the fix, under the default `email` priority, every customer whose email was the invalid
`@example.com` shared the identity `email:@example.com`: the newest superseded all the others and
was quarantined alone, so the others appeared nowhere with a reason; and distinct CustomerIds
sharing a valid email were counted as `rows_superseded` only, the counter for older versions.
"""

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from helpers import CUSTOMER_MAPPING, TS, customer_rows, run
from test_ledger_sync import Rig, write_table

from replenit_pipelines.lib.contract.identity import record_identity, record_key
from replenit_pipelines.lib.plan import plan_summary, plan_text
from replenit_pipelines.lib.privacy import masked_merges
from replenit_pipelines.lib.stages.report import merge_warning
from replenit_pipelines.lib.sync.reconcile import ReconcileRequest, reconcile
from replenit_pipelines.lib.warehouse import Warehouse

DAY = datetime(2026, 11, 26, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return TS + timedelta(minutes=minutes)


# --- prepare: the rules, row by row ------------------------------------------------------------------

def test_rows_of_one_refused_customer_id_are_each_quarantined_none_superseded_by_it():
    # A CustomerId over the contract's 100 characters is no identity: two rows carrying it (other
    # emails, other times) are not versions of one customer; each is quarantined with its reason.
    long_id = "c" * 101
    rows = [customer_rows(id=long_id, email=f"u{i}@example.com", updated_at=at(i)) for i in range(2)]
    p = run(CUSTOMER_MAPPING, rows)
    assert (p.rows_quarantined, p.rows_superseded, p.records_valid) == (2, 0, 0)
    assert sorted(p.quarantine["source_row"].to_list()) == [0, 1]


def test_customers_sharing_an_invalid_email_are_each_quarantined_with_their_own_reason():
    rows = [customer_rows(id=f"c{i}", email="@example.com", updated_at=at(i)) for i in range(5)]
    p = run(CUSTOMER_MAPPING, rows)
    assert (p.rows_quarantined, p.rows_superseded, p.records_quarantined) == (5, 0, 5)
    q = p.quarantine
    assert sorted(q["record_id"]) == [f"customerid:c{i}" for i in range(5)]  # each under its own CustomerId
    assert set(zip(q["rule"], q["field"], q["value"], strict=True)) == {("email", "Email", "@example.com")}


def test_an_invalid_email_without_a_customer_id_supersedes_no_one():
    rows = [customer_rows(id=None, email="nicole.chevalier480 at correo.example.es", updated_at=at(i)) for i in range(3)]
    p = run(CUSTOMER_MAPPING, rows)
    assert (p.rows_quarantined, p.rows_superseded, p.records_quarantined) == (3, 0, 3)
    assert sorted(p.quarantine["record_id"]) == ["row 0", "row 1", "row 2"]


def test_the_newest_row_of_a_customer_id_still_supersedes_its_older_versions_when_its_email_is_invalid():
    # One customer, two versions: the newest decides (docs/configuration.md), whatever its email.
    rows = [customer_rows(id="c1", email="ada@example.com", updated_at=at(0)),
            customer_rows(id="c1", email="ada at example.com", updated_at=at(1))]
    p = run(CUSTOMER_MAPPING, rows)
    assert (p.rows_quarantined, p.rows_superseded, p.rows_merged, p.rows_valid) == (1, 1, 0, 0)
    assert p.quarantine["record_id"].to_list() == ["customerid:c1"]


@pytest.mark.parametrize("priority, stranger", [("customerid", None), ("email", None), ("email", "c2")])
def test_an_over_long_customer_id_does_not_pull_a_stranger_with_its_email_into_its_record(priority, stranger):
    # A row whose CustomerId the contract refuses falls back to its email, which would meet (and,
    # being newer, supersede) the row of another customer with that email.
    rows = [customer_rows(id=stranger, email="ada@example.com", updated_at=at(0)),
            customer_rows(id="x" * 101, email="ada@example.com", updated_at=at(1))]
    p = run(CUSTOMER_MAPPING, rows, customer_priority=priority)
    assert (p.rows_valid, p.rows_quarantined, p.rows_superseded, p.rows_merged) == (1, 1, 0, 0)
    assert p.records["Email"].to_list() == ["ada@example.com"]
    assert p.quarantine["rule"].to_list() == ["max_length"]


def test_customers_sharing_a_valid_email_are_merged_counted_and_the_newest_sent():
    rows = [
        customer_rows(id="a", email="shared@example.com", name="Old A", updated_at=at(-10)),  # a's older version
        customer_rows(id="a", email="Shared@Example.com", name="A", updated_at=at(0)),
        customer_rows(id="b", email="shared@example.com", name="B", updated_at=at(5)),  # newest: sent
        customer_rows(id="c", email="SHARED@example.com", name="C", updated_at=at(1)),
        customer_rows(id=None, email="shared@example.com", name="no id", updated_at=at(2)),  # a version, not a merge
        customer_rows(id="d", email="dora@example.com", updated_at=at(0)),
    ]
    p = run(CUSTOMER_MAPPING, rows)
    assert (p.rows_read, p.rows_valid, p.rows_superseded, p.rows_merged, p.records_merged) == (6, 2, 4, 3, 2)
    sent = {r["CustomerId"]: r["Name"] for r in p.records.to_dicts()}
    assert sent == {"b": "B", "d": "Ada"}
    assert p.merges.to_dicts() == [{"identity": "email:shared@example.com", "kept": "b", "merged": ["a", "c"], "rows": 3}]
    assert masked_merges(p.merges) == [["email:s***@example.com", "b***", "a***, c***", 3]]


def test_the_merge_warning_names_each_merge_masked_one_after_another():
    rows = [customer_rows(id="a", email="ada@example.com", updated_at=at(0)),
            customer_rows(id="k", email="ada@example.com", updated_at=at(1)),  # newest of ada@: sent
            customer_rows(id="b", email="bob@example.com", updated_at=at(2)),
            customer_rows(id="c", email="bob@example.com", updated_at=at(3)),
            customer_rows(id="m", email="bob@example.com", updated_at=at(4))]  # newest of bob@: sent
    p = run(CUSTOMER_MAPPING, rows)
    assert merge_warning("customers 2026-11-26", 0, 0, p.merges.clear()) is None
    assert merge_warning("customers 2026-11-26", p.records_merged, p.rows_merged, p.merges) == (
        "customers 2026-11-26: 3 customers (3 rows) share an email with a newer customer and were not sent: the tenant "
        "matches customers by email, so it would merge them into one; the newest row is sent, under its own CustomerId "
        "(e.g. email:b***@example.com: sent m***, merged b***, c***; email:a***@example.com: sent k***, merged a***). "
        "If they are different people, give each its own email in the warehouse, or set "
        "REPLENIT_CUSTOMER_PRIORITY=customerid if the tenant matches by CustomerId.")


def test_under_the_customerid_priority_nothing_is_merged():
    rows = [customer_rows(id="a", email="shared@example.com", updated_at=at(0)),
            customer_rows(id="b", email="shared@example.com", updated_at=at(1))]
    p = run(CUSTOMER_MAPPING, rows, customer_priority="customerid")
    assert (p.rows_valid, p.rows_superseded, p.rows_merged, p.records_merged) == (2, 0, 0, 0)


@pytest.mark.parametrize("email, cid, priority, expected", [
    ("@example.com", "c1", "email", "customerid:c1"),
    ("ada at example.com", None, "email", None),
    ("a" * 245 + "@example.com", "c1", "email", "customerid:c1"),  # 257 characters: over the limit
    ("ada@example.com", "x" * 101, "customerid", "email:ada@example.com"),
    (" Ada@Example.com ", "c1", "email", "email:ada@example.com"),
])
def test_python_and_polars_identities_agree_on_refused_values(email, cid, priority, expected):
    frame = pl.DataFrame({"Email": [email], "CustomerId": [cid]}, schema={"Email": pl.String, "CustomerId": pl.String})
    assert frame.select(record_key("customers", frame.columns, priority)).item() == expected
    assert record_identity("customers", {"Email": email, "CustomerId": cid}, priority) == expected


# --- a dirty warehouse of 50,000 customers, through the real sandbox ---------------------------------

INVALID_SHARED = 158  # customers whose email is "@example.com"
AT_SHARED = 10  # customers whose email is written "... at ..."
MERGE_GROUPS, GROUP_SIZE = 40, 3  # customers sharing a valid email, in groups of 3
VERSIONED = 100  # customers with an older row of another email
TOTAL = 50_000


def dirty_warehouse() -> list[dict]:
    """50,000 rows of one day, built so that every expected count is known from the construction."""
    rows: list[dict] = []

    def add(cid, email, minute):
        rows.append({"id": cid, "email": email, "name": f"N {cid}", "phone": None, "locale": "en-GB", "gdpr": True,
                     "updated_at": (DAY + timedelta(minutes=minute)).replace(tzinfo=None)})

    for i in range(INVALID_SHARED):
        add(f"bad{i}", "@example.com", 10 + i)
    for i in range(AT_SHARED):
        add(f"at{i}", "nicole.chevalier480 at correo.example.es", 200 + i)
    for g in range(MERGE_GROUPS):
        for k in range(GROUP_SIZE):  # k = 2 is the newest of its group
            add(f"m{g}-{k}", f"Shared{g}@Example.com" if k == 0 else f"shared{g}@example.com", 300 + g + k * 0.25)
    for i in range(VERSIONED):
        add(f"v{i}", f"old{i}@example.com", 400 + i * 0.1)
        add(f"v{i}", f"new{i}@example.com", 600 + i * 0.1)
    plain = TOTAL - len(rows)
    for i in range(plain):
        add(f"c{i}", f"user{i}@example.com", (i * 1_339) % 1_440)
    assert len(rows) == TOTAL
    return rows


EXPECTED_QUARANTINED = INVALID_SHARED + AT_SHARED
EXPECTED_MERGED = MERGE_GROUPS * (GROUP_SIZE - 1)
EXPECTED_SUPERSEDED = EXPECTED_MERGED + VERSIONED
EXPECTED_SENT = TOTAL - EXPECTED_QUARANTINED - EXPECTED_SUPERSEDED


@pytest.fixture
def dirty(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path)
    rig.load(dirty_warehouse())
    yield rig
    rig.client.close()


def test_a_dirty_warehouse_quarantines_every_invalid_row_and_reports_the_merges(dirty):
    planned, sent = dirty.sync(dry_run=True)
    assert sent == []
    c = planned.counts()
    assert (c["rows_read"], c["rows_quarantined"], c["rows_superseded"], c["rows_planned"]) == \
        (TOTAL, EXPECTED_QUARANTINED, EXPECTED_SUPERSEDED, EXPECTED_SENT)
    assert (c["rows_merged"], c["records_merged"]) == (EXPECTED_MERGED, EXPECTED_MERGED)
    summary = plan_summary(planned)  # what a dry run logs and observes in Dagster
    assert (summary["rows_merged"], summary["records_merged"]) == (EXPECTED_MERGED, EXPECTED_MERGED)
    assert summary["merged_examples"][0] == {"identity": "email:s***@example.com", "kept": "m***", "merged": "m***, m***", "rows": 2}
    assert f"merged: {EXPECTED_MERGED} customers ({EXPECTED_MERGED} rows) share an email" in plan_text(summary)
    assert "shared1@" not in json.dumps(summary) and "m1-2" not in json.dumps(summary)

    result, sent = dirty.sync()
    c = result.counts()
    assert (c["rows_read"], c["rows_delivered"], c["rows_quarantined"], c["rows_superseded"], c["rows_merged"]) == \
        (TOTAL, EXPECTED_SENT, EXPECTED_QUARANTINED, EXPECTED_SUPERSEDED, EXPECTED_MERGED)
    assert c["records_merged"] == EXPECTED_MERGED and c["records_quarantined"] == EXPECTED_QUARANTINED
    # Every invalid row is in the quarantine with its own reason (before: 1 of 158, and 1 of 10).
    q = dirty.store.query("SELECT record_id, rule, field FROM quarantine WHERE run_id = 'run-2'")
    assert q.height == EXPECTED_QUARANTINED and q["record_id"].n_unique() == EXPECTED_QUARANTINED
    assert set(q["record_id"]) == {f"customerid:bad{i}" for i in range(INVALID_SHARED)} | {f"customerid:at{i}" for i in range(AT_SHARED)}
    assert set(zip(q["rule"], q["field"], strict=True)) == {("email", "Email")}
    # The tenant holds one customer per shared email: the newest row, under its own CustomerId.
    stored = dirty.stored()
    assert len(stored) == EXPECTED_SENT == sum(r["records"] for r in sent)
    assert all(stored[f"email:shared{g}@example.com"]["CustomerId"] == f"m{g}-2" for g in range(MERGE_GROUPS))
    assert stored["email:new7@example.com"]["CustomerId"] == "v7" and "email:old7@example.com" not in stored
    # The merges as shown: masked, the largest first, each naming the CustomerId sent and those merged.
    shown = masked_merges(result.prepared.merges, 3)
    assert shown[0] == ["email:s***@example.com", "m***", "m***, m***", 2]
    assert result.prepared.merges.height == MERGE_GROUPS


def test_a_reconciliation_in_chunks_counts_the_same_merges_and_quarantine(dirty):
    with dirty.ledger() as ledger:
        result = reconcile(ReconcileRequest(
            mapping=CUSTOMER_MAPPING, warehouse=Warehouse(dirty.warehouse), client=dirty.client, ledger=ledger,
            store=dirty.store, run_id="reconcile-1", chunk_rows=10_000))
    assert result.chunks == 5 and result.balanced(), result.counts()
    c = result.counts()
    assert (c["rows_read"], c["rows_quarantined"]) == (TOTAL, EXPECTED_QUARANTINED)
    assert (c["rows_merged"], c["records_merged"]) == (EXPECTED_MERGED, EXPECTED_MERGED)  # an email's rows meet in one chunk
    assert c["rows_read"] == c["rows_delivered"] + c["rows_quarantined"] + c["rows_superseded"]
    assert result.merges.height == 10  # the largest kept as examples, not every merge of the source
    # All merges are of one size here: the examples are the first identities in text order, the same every run.
    assert result.merges["identity"].to_list() == sorted(f"email:shared{g}@example.com" for g in range(MERGE_GROUPS))[:10]
    q = dirty.store.query("SELECT record_id FROM quarantine WHERE run_id = 'reconcile-1'")
    assert q.height == EXPECTED_QUARANTINED and q["record_id"].n_unique() == EXPECTED_QUARANTINED
    stored = dirty.stored()
    assert all(stored[f"email:shared{g}@example.com"]["CustomerId"] == f"m{g}-2" for g in range(MERGE_GROUPS))


def test_a_reconciliation_in_chunks_supersedes_a_customers_older_email(dirty):
    with dirty.ledger() as ledger:
        result = reconcile(ReconcileRequest(
            mapping=CUSTOMER_MAPPING, warehouse=Warehouse(dirty.warehouse), client=dirty.client, ledger=ledger,
            store=None, run_id="reconcile-1", dry_run=True, chunk_rows=10_000))
    assert result.counts()["rows_superseded"] == EXPECTED_SUPERSEDED


def test_the_cli_prints_the_merge_counts_and_warns_with_masked_examples(sandbox, push_env, tmp_path, capsys, monkeypatch):
    from replenit_pipelines.cli import main

    push_env(sandbox)
    warehouse = tmp_path / "wh.duckdb"
    write_table(warehouse, "customers", dirty_warehouse())
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("customers:\n  source: {table: customers, window_column: updated_at, lookback_hours: 0}\n"
                       "  fields: {CustomerId: id, Email: email, Name: name, Language: locale}\n")
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("REPLENIT_MAPPING", str(mapping))
    assert main(["sync", "customers", "--partition", "2026-11-26", "--dry-run", "--json"]) == 0  # a dry run that planned
    out = capsys.readouterr()
    counts = json.loads(out.out)
    assert (counts["rows_merged"], counts["records_merged"], counts["rows_quarantined"]) == \
        (EXPECTED_MERGED, EXPECTED_MERGED, EXPECTED_QUARANTINED)
    assert counts["rows_read"] == counts["rows_planned"] + counts["rows_quarantined"] + counts["rows_superseded"]
    assert f"{EXPECTED_MERGED} customers ({EXPECTED_MERGED} rows) share an email" in out.err
    assert "email:s***@example.com: sent m***, merged m***, m***" in out.err
    assert "shared1@example.com" not in out.err and "m1-2" not in out.err
    assert main(["sync", "customers", "--all", "--dry-run", "--json", "--chunk-rows", "20000"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["records_merged"] == EXPECTED_MERGED and "share an email" in out.err
