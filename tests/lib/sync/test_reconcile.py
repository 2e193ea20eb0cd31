"""Reconciliation, initial load and guarded deletes (issue 12), over the real sandbox (its request
log says what was sent), real DuckDB warehouses and real SQLite ledgers in tmp folders."""

import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from helpers import CUSTOMER_MAPPING, ORDER_MAPPING
from test_ledger_sync import customers, write_table

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import SqliteLedger
from replenit_pipelines.lib.ledger.base import now_ms
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.stages.delete import DeleteGuard, DeletesRefused
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.sync.reconcile import ReconcileRequest, reconcile
from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict

DAY = datetime(2026, 11, 26, tzinfo=UTC)
SOFT_MAPPING = entity_mapping_from_dict("customers", {
    "source": {"table": "customers", "window_column": "updated_at", "deleted_column": "deleted_at"},
    "fields": {"CustomerId": "id", "Email": "email", "Name": "name", "Phone": "phone", "Language": "locale",
               "GdprOptin": "gdpr"},
})


def requests_of(sandbox: Sandbox, tenant_id: str, since: int = 0) -> list[dict]:
    log = httpx.get(f"{sandbox.url}/_sandbox/requests", params={"since": since}).json()
    return [r for r in log if tenant_id in r["path"]]


def last_seq(sandbox: Sandbox) -> int:
    return max((r["seq"] for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json()), default=0)


class Rig:
    def __init__(self, sandbox: Sandbox, tmp_path: Path, mapping=CUSTOMER_MAPPING, table: str = "customers"):
        self.sandbox, self.mapping, self.table = sandbox, mapping, table
        self.tenant_id, self.key = sandbox.add_tenant()
        self.state_dir = tmp_path / "state"
        self.warehouse = tmp_path / "wh.duckdb"
        self.quota_dir = tmp_path / "quota"
        self.store = DuckDBStateStore(self.state_dir / "state.duckdb")
        self.client = ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=self.tenant_id, api_key=self.key, limits=(),
                                                  quota_dir=str(self.quota_dir)))
        self.runs = 0

    def load(self, rows: list[dict]) -> None:
        write_table(self.warehouse, self.table, rows)

    def ledger(self) -> SqliteLedger:
        return SqliteLedger.open(self.state_dir, self.sandbox.url, self.tenant_id, self.mapping.entity)

    def reconcile(self, mapping=None, **kw):
        self.runs += 1
        since = last_seq(self.sandbox)
        with self.ledger() as ledger:
            result = reconcile(ReconcileRequest(
                mapping=mapping or self.mapping, warehouse=Warehouse(self.warehouse), client=self.client, ledger=ledger,
                store=self.store, run_id=f"reconcile-{self.runs}", **{"chunk_rows": 100, **kw}))
        assert result.balanced(), result.counts()
        return result, requests_of(self.sandbox, self.tenant_id, since)

    def stored(self) -> dict[str, dict]:
        got = httpx.get(f"{self.sandbox.url}/_sandbox/records/{self.tenant_id}/{self.mapping.entity}").json()
        return {r["key"]: r["record"] for r in got}


@pytest.fixture
def rig(sandbox, tmp_path):
    r = Rig(sandbox, tmp_path)
    yield r
    r.client.close()


def population(n: int = 500) -> list[dict]:
    """n customers: a tenth with a NULL window column, a tenth dated years before the partitions,
    and three invalid ones (quarantined, never sent)."""
    rows = customers(n)
    for i, row in enumerate(rows):
        if i % 10 == 3:
            row["updated_at"] = None
        elif i % 10 == 7:
            row["updated_at"] = datetime(2019, 5, 1) + timedelta(hours=i)
    for i in (11, 22, 33):
        rows[i]["locale"] = "not a language tag at all"
    return rows


def test_the_initial_load_delivers_every_valid_record_including_null_windows_and_old_rows(rig):
    rig.load(population(500))
    result, sent = rig.reconcile()
    c = result.counts()
    assert c["chunks"] > 1  # the source was read in several chunks
    stored = rig.stored()
    assert len(stored) == 497 == c["rows_delivered"] and c["rows_quarantined"] == 3
    assert "email:user3@example.com" in stored and "email:user7@example.com" in stored  # NULL window, 2019
    assert "email:user11@example.com" not in stored
    assert sum(r["records"] for r in sent) == 497 and all(r["method"] == "POST" for r in sent)
    with rig.ledger() as ledger:
        assert ledger.size() == 497


def test_a_second_reconciliation_sends_nothing(rig):
    rig.load(population(500))
    rig.reconcile()
    again, sent = rig.reconcile(mirror=True)
    assert sent == []
    c = again.counts()
    assert (c["rows_unchanged"], c["requests_total"], c["records_to_delete"]) == (497, 0, 0)


# docs/operating.md ("The counts are a partitioned run's, summed over the chunks, plus ..."): the keys
# users chart from a reconciliation's metadata.
RECONCILE_KEYS = {"rows_deleted", "chunks", "records_absent", "records_flagged_deleted", "records_to_delete", "records_deleted",
                  "records_already_gone", "records_delete_failed", "records_not_deletable", "delete_requests", "requests_total",
                  "local_s", "duration_s"}


def test_a_reconciliations_counts_carry_every_documented_key(rig):
    rig.load(population(150))
    result, _ = rig.reconcile()
    c = result.counts()
    assert RECONCILE_KEYS <= set(c), RECONCILE_KEYS - set(c)
    assert (c["local_s"], c["duration_s"]) == (round(result.local_s, 3), round(result.duration_s, 3))
    assert c["local_s"] > 0 and c["chunks"] == 2


def test_a_table_read_in_one_scan_acknowledges_every_chunks_records_with_the_scans_read_time(rig):
    """A table in several chunks is scanned once and spilled by chunk: every record's read began
    with that scan, whichever chunk it is delivered in (the send-time check orders versions by it)."""
    rig.load(customers(10))
    before = now_ms()
    result, _ = rig.reconcile(chunk_rows=5)
    after = now_ms()
    assert result.counts()["chunks"] == 2 and result.counts()["records_accepted"] == 10
    with rig.ledger() as ledger:
        read_at = ledger.lookup([f"email:user{i}@example.com" for i in range(10)])["read_at"].to_list()
    assert len(read_at) == 10 and len(set(read_at)) == 1 and before <= read_at[0] <= after


@pytest.mark.parametrize("read_by_frames", [True, False])
def test_customers_known_by_exprs_alone_are_reconciled_in_one_chunk_with_each_customers_versions_together(sandbox, tmp_path,
                                                                                                          read_by_frames):
    """No plain CustomerId or Email column to find a customer's other identities by: the rows are
    not split into chunks, so a customer whose older row carries another email is one customer, its
    newest version sent, and the older email never becomes a customer of its own. Both reads: by
    frames (a text window column, converted) and in DuckDB (a timestamp column)."""
    window = {"column": "changed", "format": "iso8601"} if read_by_frames else "changed"
    mapping = entity_mapping_from_dict("customers", {
        "source": {"table": "customers", "window_column": window},
        "fields": {"CustomerId": {"expr": "id"}, "Email": {"expr": "lower(email)"}, "Name": "name"}})
    assert mapping.read_by_frames == read_by_frames
    rig = Rig(sandbox, tmp_path, mapping)
    try:
        rig.load([{"id": f"c{i}", "email": email, "name": name, "changed": changed if read_by_frames else datetime.fromisoformat(changed[:-1])}
                  for i in range(6) for email, name, changed in (
                      (f"OLD{i}@example.com", f"old {i}", "2026-11-26T00:00:00Z"), (f"new{i}@example.com", f"new {i}", "2026-11-26T01:00:00Z"))])
        result, sent = rig.reconcile(chunk_rows=4)
        c = result.counts()
        assert (c["chunks"], c["rows_read"], c["rows_superseded"], c["records_accepted"]) == (1, 12, 6, 6)
        assert {k: v["Name"] for k, v in rig.stored().items()} == {f"email:new{i}@example.com": f"new {i}" for i in range(6)}
    finally:
        rig.client.close()


def test_a_row_changed_without_its_timestamp_is_sent_by_reconciliation(rig):
    rows = population(300)
    rig.load(rows)
    rig.reconcile()
    rows[5]["name"] = "Renamed, same updated_at"
    rig.load(rows)
    result, sent = rig.reconcile()
    assert [r["records"] for r in sent] == [1]
    assert rig.stored()["email:user5@example.com"]["Name"] == "Renamed, same updated_at"


def test_a_mirror_run_deletes_the_2_percent_gone_from_the_warehouse(rig):
    rows = customers(500)
    rig.load(rows)
    rig.reconcile()
    gone = {f"c{i}" for i in range(0, 500, 50)}  # 10 of 500
    rig.load([r for r in rows if r["id"] not in gone])
    plain, sent = rig.reconcile()  # not mirror: nothing deleted, the absence is not acted on
    assert sent == [] and len(rig.stored()) == 500
    result, sent = rig.reconcile(mirror=True)
    deletes = [r for r in sent if r["method"] == "DELETE"]
    assert len(sent) == len(deletes) == 10 and all(r["status"] == 200 for r in deletes)
    assert {r["path"].rsplit("/", 1)[1] for r in deletes} == gone  # by CustomerId, the ledger's api_id
    assert len(rig.stored()) == 490 and not {f"email:user{i[1:]}@example.com" for i in gone} & set(rig.stored())
    c = result.counts()
    assert (c["records_deleted"], c["records_absent"], c["delete_requests"]) == (10, 10, 10)
    with rig.ledger() as ledger:
        assert ledger.size() == 490
    _, sent = rig.reconcile(mirror=True)
    assert sent == []


def test_deleting_what_is_already_gone_counts_as_done(rig):
    rows = customers(200)
    rig.load(rows)
    rig.reconcile()
    httpx.delete(f"{rig.sandbox.url}/customers/{rig.tenant_id}/c3", headers={"x-replenit-auth-key": rig.key})
    rig.load([r for r in rows if r["id"] != "c3"])
    result, sent = rig.reconcile(mirror=True)
    assert [r["status"] for r in sent] == [404]
    assert result.counts()["records_already_gone"] == 1
    with rig.ledger() as ledger:
        assert ledger.size() == 199


def test_a_soft_delete_column_deletes_in_reconciliation_and_in_a_partitioned_run(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path, mapping=SOFT_MAPPING)
    rows = [{**r, "deleted_at": None} for r in customers(500)]
    rig.load(rows)
    rig.reconcile()
    for i in range(0, 500, 50):  # 2%
        rows[i]["deleted_at"] = datetime(2026, 11, 26, 15)
    rig.load(rows)
    result, sent = rig.reconcile()  # not mirror: the column alone deletes
    assert sorted(r["path"].rsplit("/", 1)[1] for r in sent) == sorted(f"c{i}" for i in range(0, 500, 50))
    assert len(rig.stored()) == 490
    c = result.counts()
    assert (c["rows_deleted"], c["records_deleted"], c["rows_unchanged"]) == (10, 10, 490)

    # A partitioned run: a row of the window flagged deleted is deleted, not upserted.
    rows[7]["deleted_at"] = datetime(2026, 11, 26, 16)
    rig.load(rows)
    since = last_seq(sandbox)
    with rig.ledger() as ledger:
        window = sync_window(SyncRequest(
            mapping=SOFT_MAPPING, warehouse=Warehouse(rig.warehouse), client=rig.client, store=rig.store, start=DAY,
            end=DAY + timedelta(days=1), partition_key="2026-11-26", run_id="window", ledger=ledger))
    assert window.balanced(), window.counts()
    sent = requests_of(sandbox, rig.tenant_id, since)
    assert [(r["method"], r["path"].rsplit("/", 1)[1]) for r in sent] == [("DELETE", "c7")]
    w = window.counts()
    assert (w["rows_deleted"], w["records_deleted"], w["rows_read"]) == (11, 1, 500)  # 10 deleted before, already forgotten
    assert "email:user7@example.com" not in rig.stored()
    rig.client.close()


@pytest.mark.parametrize("survivors", [0, 250])
def test_an_empty_source_and_a_50_percent_drop_are_refused_with_nothing_sent(rig, survivors):
    rows = customers(500)
    rig.load(rows)
    rig.reconcile()
    kept = [dict(r) for r in rows[:survivors]]
    if kept:
        kept[0]["name"] = "changed too: not sent either"
    rig.load(kept or rows[:1])
    if not kept:  # an empty table with the same columns
        import duckdb

        with duckdb.connect(str(rig.warehouse)) as con:
            con.execute("DELETE FROM customers")
    since = last_seq(rig.sandbox)
    with pytest.raises(DeletesRefused) as refused, rig.ledger() as ledger:
        reconcile(ReconcileRequest(mapping=CUSTOMER_MAPPING, warehouse=Warehouse(rig.warehouse), client=rig.client,
                                   ledger=ledger, store=rig.store, run_id="refused", mirror=True, chunk_rows=100))
    assert requests_of(rig.sandbox, rig.tenant_id, since) == []
    message = str(refused.value)
    assert "nothing was sent" in message
    assert ("would delete 250" if survivors else "returned no rows") in message
    assert "email:u***@example.com" in message and "user0@" not in message  # names a few of them, masked
    if survivors:
        assert "max_delete_share" in message  # how to allow it
    with rig.ledger() as ledger:
        assert ledger.size() == 500
    assert len(rig.stored()) == 500


def test_a_drop_over_the_guard_goes_when_the_run_allows_it(rig):
    rows = customers(300)
    rig.load(rows)
    rig.reconcile()
    rig.load(rows[:150])
    result, sent = rig.reconcile(mirror=True, guard=DeleteGuard(max_share=0.5, max_count=1000))
    assert len(sent) == 150 and result.counts()["records_deleted"] == 150


def test_a_tripped_quarantine_gate_deletes_nothing(rig):
    from replenit_pipelines.lib.sync import GatePolicy

    rows = customers(300)
    rig.load(rows)
    rig.reconcile()
    broken = [dict(r) for r in rows[:295]]
    for r in broken[:100]:
        r["locale"] = "broken locale value"
    rig.load(broken)
    result, sent = rig.reconcile(mirror=True, chunk_rows=1000, gate=GatePolicy(mode="fixed", max_quarantine_share=0.05))
    assert sent == []
    assert result.gate_tripped and "gate" in result.deletes.skipped
    assert len(rig.stored()) == 300


def test_a_dry_run_sends_and_writes_nothing(rig):
    rows = customers(300)
    rig.load(rows)
    rig.reconcile()
    rows[1]["name"] = "changed"
    rig.load(rows[:-3])
    with rig.ledger() as ledger:
        before = ledger.lookup([f"email:user{i}@example.com" for i in range(300)]).sort("identity")
    result, sent = rig.reconcile(mirror=True, dry_run=True)
    assert sent == []
    c = result.counts()
    assert (c["records_planned"], c["records_to_delete"], c["rows_planned"]) == (1, 3, 1)
    with rig.ledger() as ledger:
        assert ledger.lookup([f"email:user{i}@example.com" for i in range(300)]).sort("identity").equals(before)


def test_orders_reconcile_and_delete_by_order_id(sandbox, tmp_path):
    from helpers import order_rows

    rig = Rig(sandbox, tmp_path, mapping=ORDER_MAPPING, table="order_lines")
    lines = [dict(r, updated_at=r["updated_at"].replace(tzinfo=None)) for i in range(60) for r in order_rows(3, order_id=f"o{i}")]
    rig.load(lines)
    result, sent = rig.reconcile(chunk_rows=50)
    assert len(rig.stored()) == 60 and result.counts()["rows_delivered"] == 180
    rig.load([r for r in lines if r["order_id"] != "o9"])
    result, sent = rig.reconcile(mirror=True, chunk_rows=50)
    assert [(r["method"], r["path"].rsplit("/", 1)[1]) for r in sent] == [("DELETE", "o9")]
    rig.client.close()


def test_an_old_ledger_file_gains_the_api_id_column(tmp_path, sandbox):
    path = tmp_path / "old.sqlite"
    with SqliteLedger(path, "http://x|t", "customers") as ledger:
        ledger.acknowledge(["email:a@example.com"], [b"h" * 16], "r1")
    con = sqlite3.connect(path)  # as issue 11 wrote it: no api_id
    con.execute("ALTER TABLE ledger DROP COLUMN api_id")
    con.execute("ALTER TABLE acks DROP COLUMN api_id")
    con.close()
    with SqliteLedger(path, "http://x|t", "customers") as ledger:
        assert ledger.api_ids(["email:a@example.com"]) == {"email:a@example.com": None}
        ledger.acknowledge(["email:a@example.com"], [b"h" * 16], "r2", api_ids=["c1"])
        ledger.compact()
        assert ledger.api_ids(["email:a@example.com"]) == {"email:a@example.com": "c1"}
        ledger.acknowledge(["email:a@example.com"], [b"h" * 16], "r3")  # a retry knows no api id: the old one stays
        ledger.compact()
        assert ledger.api_ids(["email:a@example.com"]) == {"email:a@example.com": "c1"}


CRASH_ON_THIRD_ACK = """
import os, signal, sys
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import SqliteLedger
from replenit_pipelines.lib.sync.reconcile import ReconcileRequest, reconcile
from replenit_pipelines.lib.warehouse import Warehouse
sys.path.insert(0, sys.argv[7])
from helpers import CUSTOMER_MAPPING

url, tenant, key, warehouse, state_dir, quota_dir = sys.argv[1:7]

class CrashOnThirdAck(SqliteLedger):
    # The process dies after the API's 200 for the third batch and before the ledger's write.
    calls = 0
    def acknowledge(self, *args, **kwargs):
        CrashOnThirdAck.calls += 1
        if CrashOnThirdAck.calls == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().acknowledge(*args, **kwargs)

client = ReplenitClient(ClientConfig(base_url=url, tenant_id=tenant, api_key=key, limits=(), quota_dir=quota_dir,
                                     max_in_flight=1, batch_sizes={"customers": 100}))
ledger = CrashOnThirdAck.open(state_dir, url, tenant, "customers")
reconcile(ReconcileRequest(mapping=CUSTOMER_MAPPING, warehouse=Warehouse(warehouse), client=client, ledger=ledger,
                           store=None, run_id="crashing", chunk_rows=1000))
"""


def test_a_killed_first_load_resumes_without_resending(rig, tmp_path):
    rig.load(customers(500))
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_ON_THIRD_ACK, rig.sandbox.url, rig.tenant_id, rig.key, str(rig.warehouse),
         str(rig.state_dir), str(rig.quota_dir), str(Path(__file__).resolve().parents[2])], capture_output=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    before = requests_of(rig.sandbox, rig.tenant_id)
    assert [r["status"] for r in before] == [200, 200, 200]  # the third accepted, never acknowledged
    with rig.ledger() as ledger:
        assert ledger.size() == 200
    result, sent = rig.reconcile(chunk_rows=1000)
    assert sum(r["records"] for r in sent) == 300  # the unacknowledged batch again, then the rest; not the first 200
    assert result.counts()["rows_unchanged"] == 200 and len(rig.stored()) == 500


def lane_spend() -> dict[str, int]:
    """Requests the key's quota ledger counted per lane (the longest window's, which holds them all)."""
    import os

    from replenit_pipelines.lib.delivery.quota import QuotaLimiter, ledger_name
    from replenit_pipelines.lib.settings import Settings

    settings = Settings.from_env()
    q = QuotaLimiter([(1, 1.0)], settings.quota_dir / ledger_name(settings.base_url, os.environ["REPLENIT_API_KEY"]))
    with q._state(write=False) as state:
        lanes = state["lanes"]
    longest = {lane: max(windows, key=float) for lane, windows in lanes.items() if windows}
    return {lane: sum(lanes[lane][longest[lane]].values()) if lane in longest else 0 for lane in ("fresh", "bulk")}


def test_the_cli_reconciles_with_json_counts(sandbox, push_env, tmp_path, capsys, monkeypatch):
    import json

    from replenit_pipelines.cli import main

    tenant_id = push_env(sandbox)
    warehouse = tmp_path / "wh.duckdb"
    write_table(warehouse, "customers", population(200))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("customers:\n  source: {table: customers, window_column: updated_at}\n  fields:\n"
                       "    CustomerId: id\n    Email: email\n    Name: name\n    Language: locale\n")
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("REPLENIT_MAPPING", str(mapping))
    since = last_seq(sandbox)
    code = main(["sync", "customers", "--all", "--json", "--batch-size", "50"])
    out = capsys.readouterr()
    counts = json.loads(out.out)
    assert counts["rows_read"] == 200 and counts["rows_delivered"] == 197 and counts["rows_quarantined"] == 3
    sent = requests_of(sandbox, tenant_id, since)
    assert sorted(r["records"] for r in sent) == [47, 50, 50, 50]  # --batch-size
    assert lane_spend() == {"fresh": 0, "bulk": 4}  # the whole source: bulk work (issue 24)
    assert code == 0  # some rows quarantined (reported, not failed: docs/cli.md)
    assert push_env and "REPLENIT_API_KEY" not in out.out
    code = main(["sync", "customers", "--all", "--mirror", "--dry-run", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert (code, again["requests_total"], again["rows_unchanged"], again["dry_run"]) == (0, 0, 197, 1)
    assert (again["requests_needed"], again["eta_late"]) == (0, False)
    # A dry run of new work: its requests and their ETA on the key's quota, nothing sent.
    write_table(warehouse, "customers", population(200) + [{**customers(1)[0], "id": f"n{i}", "email": f"new{i}@example.com"}
                                                          for i in range(120)])
    since = last_seq(sandbox)
    code = main(["sync", "customers", "--all", "--dry-run", "--json", "--batch-size", "25", "--limits", "2/1,1000/3600"])
    plan = json.loads(capsys.readouterr().out)
    assert requests_of(sandbox, tenant_id, since) == []
    assert (plan["records_planned"], plan["requests_needed"]) == (120, 5)
    # 5 requests at 2 a second in the bulk lane (--all): the second of a window only in its last 0.4 s (the
    # fresh share), so the last goes two window starts from now, or the last 0.4 s before that.
    assert plan["eta_lane"] == "bulk" and 1.0 <= plan["eta_s"] <= 4.0


def test_the_cli_syncs_one_partition_by_the_same_code(sandbox, push_env, tmp_path, capsys, monkeypatch):
    import json

    from replenit_pipelines.cli import main

    tenant_id = push_env(sandbox)
    warehouse = tmp_path / "wh.duckdb"
    write_table(warehouse, "customers", population(200))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("customers:\n  source: {table: customers, window_column: updated_at, lookback_hours: 0}\n  fields:\n"
                       "    CustomerId: id\n    Email: email\n    Name: name\n    Language: locale\n")
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("REPLENIT_MAPPING", str(mapping))
    assert main(["sync", "customers", "--partition", "2026-11-26", "--json"]) == 0  # two of the day's rows quarantined: reported
    counts = json.loads(capsys.readouterr().out)
    assert counts["rows_read"] == 160 and counts["rows_delivered"] == 158  # not the NULL-window and 2019 rows
    assert sum(r["records"] for r in requests_of(sandbox, tenant_id)) == 158
    assert lane_spend() == {"fresh": len(requests_of(sandbox, tenant_id)), "bulk": 0}  # a partition: fresh work
    assert main(["sync", "customers", "--partition", "2026-11-26T00"]) == 2  # a bad key: a clear error, nothing sent
    assert "2026-11-26 (daily)" in capsys.readouterr().err


def test_a_flagged_order_line_upserts_the_order_without_it_and_a_fully_flagged_order_is_deleted(sandbox, tmp_path):
    from helpers import order_rows

    mapping = entity_mapping_from_dict("orders", {
        "source": {"table": "order_lines", "window_column": "updated_at", "deleted_column": "is_deleted"},
        "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at",
                   "Status": "status"},
        "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
    })
    rig = Rig(sandbox, tmp_path, mapping=mapping, table="order_lines")
    lines = [dict(r, updated_at=r["updated_at"].replace(tzinfo=None), is_deleted=False)
             for i in range(40) for r in order_rows(3, order_id=f"o{i}")]
    rig.load(lines)
    rig.reconcile(chunk_rows=40)
    for r in lines:
        if r["order_id"] == "o5" and r["line_id"] == "o5-1":
            r["is_deleted"] = True
        if r["order_id"] == "o6":
            r["is_deleted"] = True
    rig.load(lines)
    result, sent = rig.reconcile(chunk_rows=40)
    assert sorted((r["method"], r["records"] if r["method"] == "POST" else r["path"].rsplit("/", 1)[1]) for r in sent) == [
        ("DELETE", "o6"), ("POST", 1)]
    stored = rig.stored()
    assert "o6" not in stored and [it["ProductId"] for it in stored["o5"]["OrderItems"]] == ["p0", "p2"]
    c = result.counts()
    assert (c["rows_deleted"], c["records_deleted"], c["rows_delivered"]) == (4, 1, 2)  # 3 lines of o6 and 1 of o5
    rig.client.close()


def test_a_normalized_warehouse_reconciles_each_product_whole_with_its_latest_variants(sandbox, tmp_path):
    """Products and variants in their own tables (issue 16): every product arrives with every
    variant, in its newest version, whatever the chunk; one without variants has an empty array;
    a variant with no time and a product dated before any partition are not missed."""
    from test_normalized import PRODUCTS, write

    from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

    old = datetime(2019, 3, 1)
    products = [{"product_id": f"p{i}", "name": f"Product {i}", "updated_at": old if i % 7 == 0 else datetime(2026, 11, 26, i % 24)}
                for i in range(120)]
    variants = [{"product_id": f"p{i}", "variant_id": f"p{i}-v{j}", "name": f"V{j}", "stock": 10 * j + version,
                 "updated_at": datetime(2026, 11, 26, 3) + timedelta(hours=version)}
                for i in range(120) if i % 11 for j in range(3) for version in range(2)]
    write(tmp_path / "wh.duckdb", products=products, variants=variants)
    rig = Rig(sandbox, tmp_path, mapping=entity_mapping_from_dict("products", PRODUCTS), table="products")
    result, sent = rig.reconcile(chunk_rows=60)  # several chunks
    stored = rig.stored()
    assert len(stored) == 120 and result.counts()["records_new"] == 120
    for i in range(120):
        record = next(r for k, r in stored.items() if r["ProductId"] == f"p{i}")
        got = sorted((v["VariantId"], v["StockQuantity"]) for v in record["ProductVariants"])
        assert got == ([] if i % 11 == 0 else [(f"p{i}-v{j}", 10 * j + 1) for j in range(3)]), i
    again, sent = rig.reconcile(chunk_rows=60)
    assert sent == [] and again.counts()["records_unchanged"] == 120


def test_a_held_back_chunk_keeps_its_queued_failures(rig):
    """A chunk held back by the quarantine gate sends nothing, so the queued failure of a record it
    carries must wait for a run that does send it (it was dropped as if this run had sent it)."""
    from replenit_pipelines.lib.ledger.retries import failures_to_queue
    from replenit_pipelines.lib.sync import GatePolicy

    rows = customers(300)
    rig.load(rows)
    rig.reconcile()
    with rig.ledger() as ledger:
        ledger.queue_failures(failures_to_queue(["email:user5@example.com"], [b'{"CustomerId":"c5"}'], [b"q" * 16],
                                                ["failed"], ["503"], "earlier"))
    broken = [dict(r) for r in rows]
    for r in broken[100:200]:
        r["locale"] = "broken locale value"
    broken[5]["name"] = "Changed while the queue waited"
    rig.load(broken)
    result, sent = rig.reconcile(chunk_rows=1000, gate=GatePolicy(mode="fixed", max_quarantine_share=0.05))
    assert sent == [] and result.gate_tripped
    with rig.ledger() as ledger:
        assert ledger.queued()["identity"].to_list() == ["email:user5@example.com"]


def test_the_cli_shows_what_a_stopped_reconciliation_did(sandbox, push_env, tmp_path, capsys, monkeypatch):
    """The API unreachable from the start: exit 3 with the message, and the counts still printed
    (nothing delivered, every valid row held back as never sent), not the message alone."""
    import json
    import socket

    from replenit_pipelines.cli import main

    push_env(sandbox)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("REPLENIT_BASE_URL", closed)
    warehouse = tmp_path / "wh.duckdb"
    write_table(warehouse, "customers", population(200))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("customers:\n  source: {table: customers, window_column: updated_at}\n  fields:\n"
                       "    CustomerId: id\n    Email: email\n    Name: name\n    Language: locale\n")
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("REPLENIT_MAPPING", str(mapping))
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "state"))
    code = main(["sync", "customers", "--all", "--json", "--batch-size", "50"])
    out = capsys.readouterr()
    counts = json.loads(out.out)
    assert code == 3 and f"cannot reach {closed}" in out.err
    assert (counts["rows_read"], counts["rows_delivered"], counts["rows_quarantined"]) == (200, 0, 3)
    assert counts["rows_dead_lettered"] + counts["rows_not_attempted"] == 197 and counts["rows_not_attempted"] >= 147
