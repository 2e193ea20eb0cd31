"""Two CustomerIds with one email (Magento lets a shopper register on two websites with one address)
are one customer to a tenant that matches by email: the newest row is sent, the other merged. A
window must see both: a partition that reads only the older customer (the newer one was updated
after it) would send it under the shared email and overwrite the newer one the tenant already holds,
e.g. when an older partition is re-run or backfilled after a newer one."""

import json
from datetime import UTC, datetime

import duckdb
import httpx
import polars as pl
import pytest

from replenit_pipelines import cli
from replenit_pipelines.lib.stages.extract import extract
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping

MAPPING = """
timezone: UTC
customers:
  source: {table: customer_entity, window_column: updated_at}
  fields: {CustomerId: entity_id, Email: email, Name: firstname}
"""


def customer_entity(tmp_path, monkeypatch, values: str) -> None:
    """A Magento-like customer_entity table holding `values` (SQL rows), mapped by MAPPING; the CLI pointed at both."""
    warehouse, mapping = tmp_path / "magento.duckdb", tmp_path / "mapping.yaml"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE TABLE customer_entity(entity_id INTEGER, website_id SMALLINT, email VARCHAR, firstname VARCHAR, "
                "updated_at TIMESTAMP)")
    con.execute("INSERT INTO customer_entity VALUES " + values)  # noqa: S608 - the test's own literal rows
    con.close()
    mapping.write_text(MAPPING)
    for name, value in {"REPLENIT_WAREHOUSE": warehouse, "REPLENIT_MAPPING": mapping, "REPLENIT_LIMITS": "off"}.items():
        monkeypatch.setenv(name, str(value))


def test_an_older_window_of_a_shared_email_never_overwrites_the_newer_customer(sandbox, push_env, tmp_path, monkeypatch, capsys):
    tenant_id = push_env(sandbox)
    customer_entity(tmp_path, monkeypatch, """
          (1, 1, 'ann@example.com', 'Ann', '2026-11-01 10:00'),
          (9, 1, 'two@example.com', 'Web One', '2026-11-01 10:00'),
          (10, 2, 'Two@Example.com ', 'Web Two', '2026-11-04 10:00')""")

    def sync(partition: str) -> dict:
        assert cli.main(["sync", "customers", "--partition", partition, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    newer = sync("2026-11-04")
    older = sync("2026-11-01")  # a re-run (or a backfill) of the day customer 9 changed, after customer 10's day
    stored = {r["key"]: r["record"] for r in httpx.get(f"{sandbox.url}/_sandbox/records/{tenant_id}/customers").json()}
    assert stored["email:two@example.com"] == {"CustomerId": "10", "Email": "Two@Example.com", "Name": "Web Two"}
    # Each window reads both customers of the address, sends the newest and counts the other merged.
    assert (newer["rows_read"], newer["rows_delivered"], newer["rows_merged"]) == (2, 1, 1)
    assert (older["rows_read"], older["rows_delivered"], older["rows_unchanged"], older["rows_merged"]) == (3, 1, 1, 1)
    for counts in (newer, older):
        assert counts["rows_read"] == (counts["rows_delivered"] + counts["rows_quarantined"] + counts["rows_superseded"]
                                       + counts["rows_unchanged"] + counts["rows_dead_lettered"] + counts["rows_held_back"])


def test_a_sample_of_an_older_customer_of_a_shared_email_never_overwrites_the_newer_one(sandbox, push_env, tmp_path, monkeypatch, capsys):
    tenant_id = push_env(sandbox)
    customer_entity(tmp_path, monkeypatch, """
          (9, 1, 'two@example.com', 'Web One', '2026-11-01 10:00'),
          (10, 2, 'two@example.com', 'Web Two', '2026-11-04 10:00')""")
    assert cli.main(["sync", "customers", "--all"]) == 0
    assert cli.main(["sync", "customers", "--identity", "9", "--json"]) == 0  # a try-out of the older customer
    capsys.readouterr()
    stored = {r["key"]: r["record"] for r in httpx.get(f"{sandbox.url}/_sandbox/records/{tenant_id}/customers").json()}
    assert stored["email:two@example.com"]["CustomerId"] == "10"


CHAIN_ROWS = """CREATE TABLE customer_entity AS SELECT * FROM (VALUES
    (9, 'a@example.com', 'Nine', TIMESTAMP '2026-11-01 10:00'),
    (10, 'a@example.com', 'Ten old', TIMESTAMP '2026-10-01 10:00'),
    (10, 'b@example.com', 'Ten', TIMESTAMP '2026-11-04 10:00'),
    (11, 'B@example.com', 'Eleven', TIMESTAMP '2026-11-05 10:00'),
    (12, 'c@example.com', 'Twelve', TIMESTAMP '2026-11-05 10:00')
) t(entity_id, email, firstname, updated_at)"""

@pytest.mark.parametrize("source", ["table", "parquet"])
def test_a_window_follows_the_addresses_of_the_customers_it_finds_and_reads_no_other(tmp_path, source):
    # Day 1 reads customer 9 (a@); 10 had a@ once and b@ now, 11 has b@: to the tenant one customer
    # with 9 and 10, so all three are read whole; 12 shares nothing and is not read.
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(CHAIN_ROWS)
    if source == "parquet":
        pl.read_database("SELECT * FROM customer_entity", con).write_parquet(tmp_path / "customers.parquet")
    con.close()
    src = "{table: customer_entity, window_column: updated_at}" if source == "table" else \
        "{path: " + str(tmp_path / "customers.parquet") + ", window_column: updated_at}"
    (tmp_path / "mapping.yaml").write_text(MAPPING.replace("{table: customer_entity, window_column: updated_at}", src))
    mapping = load_mapping(tmp_path / "mapping.yaml")["customers"]
    day1 = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    by_email = extract(mapping, Warehouse(tmp_path / "w.duckdb"), *day1, "email").rows
    assert sorted(by_email["entity_id"].to_list()) == [9, 10, 10, 11]
    by_id = extract(mapping, Warehouse(tmp_path / "w.duckdb"), *day1, "customerid").rows
    assert by_id["entity_id"].to_list() == [9]


@pytest.mark.parametrize("rows", [0, 3])
def test_the_identity_columns_pass_over_a_source_gives_its_columns_even_when_nothing_is_there(tmp_path, rows):
    # identity_rows streams the source's identity columns through `pick`; a source with no rows (a
    # first customers table, a filtered query) still gives a frame of those columns, which the
    # callers select from, not a frame without columns.
    from replenit_pipelines.lib.warehouse.customer_chunks import identity_rows

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE customer_entity (entity_id VARCHAR, email VARCHAR, firstname VARCHAR, updated_at TIMESTAMP)")
        con.execute("INSERT INTO customer_entity SELECT 'c' || i, 'u' || i || '@x.com', 'N', TIMESTAMP '2026-11-26 10:00' FROM range(?) t(i)",
                    [rows])
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    mapping = load_mapping(tmp_path / "mapping.yaml")["customers"]
    got = identity_rows(Warehouse(db), mapping, [], lambda frame: frame)
    assert got.columns == ["email", "entity_id"] and got.height == rows


@pytest.mark.parametrize("scope", [["--partition", "2026-11-01"], ["--all"]])
def test_one_customers_two_rows_of_one_time_are_counted_tied_and_warned_of(sandbox, push_env, tmp_path, monkeypatch, capsys, scope):
    # A join that fans out (a row per address): customer 1 twice at 10:00 with two names. One is sent,
    # chosen by content; the other is superseded though not older, and the run says so (masked).
    push_env(sandbox)
    customer_entity(tmp_path, monkeypatch, """
          (1, 1, 'ann@example.com', 'Ann', '2026-11-01 10:00'),
          (1, 1, 'ann@example.com', 'Ann Smith', '2026-11-01 10:00'),
          (2, 1, 'bob@example.com', 'Bob', '2026-11-01 11:00')""")
    assert cli.main(["sync", "customers", *scope, "--json"]) == 0
    captured = capsys.readouterr()
    counts = json.loads(captured.out)
    assert (counts["rows_read"], counts["rows_delivered"], counts["rows_superseded"], counts["rows_tied"]) == (3, 2, 1, 1)
    assert "warning: customers " in captured.err and "1 row was not sent because another row of the same record" in captured.err
    assert "ann@example.com" not in captured.err
