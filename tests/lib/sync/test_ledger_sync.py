"""The acknowledged-state ledger in sync_window (issue 11): a run sends only what Replenit does not
hold yet, failed records retry themselves, rejected ones wait for new content.

Over the real sandbox (its request log says what was sent), real DuckDB warehouses and real
SQLite ledgers in tmp folders.
"""

from datetime import UTC, datetime, timedelta

import duckdb
import httpx
import polars as pl
import pytest
from helpers import CUSTOMER_MAPPING, ORDER_MAPPING

from replenit_pipelines.lib.contract.api import MAX_BODY_BYTES
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import Ledger, open_ledger
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.sync import SyncRequest, open_state_store, sync_window

DAY = datetime(2026, 11, 26, tzinfo=UTC)
NEXT = DAY + timedelta(days=1)


def customers(n: int, at: datetime = DAY, first: int = 0, **edits: dict) -> list[dict]:
    rows = [{"id": f"c{i}", "email": f"user{i}@example.com", "name": f"User {i}", "phone": None, "locale": "en-GB",
             "gdpr": True, "updated_at": (at + timedelta(minutes=i % 600)).replace(tzinfo=None)} for i in range(first, first + n)]
    for row in rows:
        row.update(edits.get(row["id"], {}))
    return rows


def write_table(path, table: str, rows: list[dict]) -> None:
    with duckdb.connect(str(path)) as con:
        con.register("f", pl.DataFrame(rows, infer_schema_length=None).to_arrow())
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM f")  # noqa: S608 - fixed test table names


def tenant_requests(sandbox: Sandbox, tenant_id: str, since: int = 0) -> list[dict]:
    log = httpx.get(f"{sandbox.url}/_sandbox/requests", params={"since": since}).json()
    return [r for r in log if tenant_id in r["path"] and r["method"] == "POST"]


def last_seq(sandbox: Sandbox) -> int:
    log = httpx.get(f"{sandbox.url}/_sandbox/requests").json()
    return max((r["seq"] for r in log), default=0)


class Rig:
    """One tenant's warehouse, client, state store and ledger folder; `sync()` runs one window."""

    def __init__(self, sandbox: Sandbox, tmp_path, mapping=CUSTOMER_MAPPING, table="customers", tenant=None, **client_kw):
        self.sandbox, self.mapping, self.table = sandbox, mapping, table
        self.tenant_id, key = tenant or sandbox.add_tenant()
        self.state_dir = tmp_path / "state"
        self.warehouse = tmp_path / "wh.duckdb"
        self.store = open_state_store(self.state_dir / "state.duckdb")  # DuckDB, or Postgres with REPLENIT_STATE_URL
        self.client = ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=self.tenant_id, api_key=key, limits=(),
                                                  quota_dir=str(tmp_path / "quota"), **client_kw))
        self.runs = 0

    def load(self, rows: list[dict]) -> None:
        write_table(self.warehouse, self.table, rows)

    def ledger(self) -> Ledger:
        return open_ledger(self.state_dir, self.sandbox.url, self.tenant_id, self.mapping.entity)

    def sync(self, start: datetime = DAY, full_refresh: bool = False, max_attempts: int = 5,
             lookback: timedelta = timedelta(0), dry_run: bool = False):
        from replenit_pipelines.lib.warehouse import Warehouse

        self.runs += 1
        since = last_seq(self.sandbox)
        with self.ledger() as ledger:
            result = sync_window(SyncRequest(
                mapping=self.mapping, warehouse=Warehouse(self.warehouse), client=self.client, store=self.store,
                start=start, end=start + timedelta(days=1), partition_key=start.date().isoformat(),
                run_id=f"run-{self.runs}", ledger=ledger, full_refresh=full_refresh, retry_max_attempts=max_attempts,
                lookback=lookback, dry_run=dry_run))
        assert result.balanced(), result.counts()
        return result, tenant_requests(self.sandbox, self.tenant_id, since)

    def stored(self) -> dict[str, dict]:
        got = httpx.get(f"{self.sandbox.url}/_sandbox/records/{self.tenant_id}/{self.mapping.entity}").json()
        return {r["key"]: r["record"] for r in got}


@pytest.fixture
def rig(sandbox, tmp_path, state_backend):  # every rig test on both backends: files, and Postgres (REPLENIT_STATE_URL)
    r = Rig(sandbox, tmp_path)
    yield r
    r.client.close()


def test_an_unchanged_rerun_sends_nothing(rig):
    rig.load(customers(1200))  # 3 batches of 500
    first, sent = rig.sync()
    assert len(sent) == 3 and first.counts()["records_new"] == 1200
    again, sent = rig.sync()
    assert sent == []
    c = again.counts()
    assert (c["rows_unchanged"], c["records_unchanged"], c["rows_delivered"], c["requests"]) == (1200, 1200, 0, 0)
    assert c["ledger_size"] == 1200


def test_an_edited_record_is_resent_alone(rig):
    rig.load(customers(1200))
    rig.sync()
    rig.load(customers(1200, c7={"name": "Renamed"}))
    result, sent = rig.sync()
    assert [r["records"] for r in sent] == [1]
    c = result.counts()
    assert (c["records_changed"], c["records_new"], c["rows_delivered"], c["rows_unchanged"]) == (1, 0, 1, 1199)
    assert rig.stored()["email:user7@example.com"]["Name"] == "Renamed"


def test_a_dry_run_sends_and_writes_nothing_and_its_plan_is_the_real_runs_counts(rig):
    rig.load(customers(1200))
    rig.sync()
    rig.load(customers(1200, c7={"name": "Renamed"}, c8={"email": "not an email"}) + customers(700, first=5000))
    with rig.ledger() as ledger:
        acked_before = ledger.lookup([f"email:user{i}@example.com" for i in range(1200)]).sort("identity")
    runs_before = rig.store.recent_runs("customers", 100, DAY.date().isoformat())
    planned, sent = rig.sync(dry_run=True)
    assert sent == []
    with rig.ledger() as ledger:
        assert ledger.lookup([f"email:user{i}@example.com" for i in range(1200)]).sort("identity").equals(acked_before)
    assert rig.store.recent_runs("customers", 100, DAY.date().isoformat()) == runs_before
    p = planned.counts()
    assert (p["dry_run"], p["records_planned"], p["rows_planned"], p["requests_planned"]) == (1, 701, 701, 2)
    real, sent = rig.sync()
    r = real.counts()
    assert len(sent) == p["requests_planned"] and r["rows_delivered"] == p["rows_planned"]
    for name in ("rows_read", "rows_quarantined", "rows_unchanged", "records_new", "records_changed", "records_unchanged"):
        assert r[name] == p[name], name


def test_full_refresh_sends_everything_and_reacknowledges(rig):
    rig.load(customers(600))
    rig.sync()
    with rig.ledger() as ledger:
        before = ledger.newest_ack()
    result, sent = rig.sync(full_refresh=True)
    assert sum(r["records"] for r in sent) == 600
    c = result.counts()
    assert (c["records_refreshed"], c["rows_unchanged"], c["rows_delivered"], c["full_refresh"]) == (600, 0, 600, 1)
    with rig.ledger() as ledger:
        acked = ledger.lookup([f"email:user{i}@example.com" for i in range(600)])
        assert acked.height == 600 and acked["acked_at"].min() > before


def test_a_late_row_is_delivered_by_the_next_partitions_lookback_and_the_rest_costs_nothing(rig):
    rig.load(customers(300))
    rig.sync(DAY)
    late = customers(1, first=900)  # lands after DAY's run, stamped inside DAY
    rig.load(customers(300) + late + customers(20, at=NEXT, first=1000))
    result, sent = rig.sync(NEXT, lookback=timedelta(hours=48))
    assert [r["records"] for r in sent] == [21]
    c = result.counts()
    assert (c["records_new"], c["records_unchanged"], c["rows_read"], c["lookback_hours"]) == (21, 300, 321, 48)
    assert "email:user900@example.com" in rig.stored()


def test_two_tenants_ledgers_stay_apart(sandbox, tmp_path):
    rows = customers(300)
    a, b = Rig(sandbox, tmp_path / "a"), Rig(sandbox, tmp_path / "b")
    b.state_dir = a.state_dir  # the same state folder: only the scope keeps them apart
    b.store = a.store
    a.load(rows)
    b.load(rows)
    a.sync()
    result, sent = b.sync()  # the same records for another tenant: all new there
    assert sum(r["records"] for r in sent) == 300 and result.counts()["records_new"] == 300
    assert len(b.stored()) == 300
    with a.ledger() as la, b.ledger() as lb:
        assert la.path != lb.path and la.size() == lb.size() == 300


def test_failed_records_are_delivered_by_the_next_run_after_the_api_recovers(tmp_path):
    with Sandbox(limits=[]) as sb:
        rig = Rig(sb, tmp_path, max_attempts=2, backoff_base_s=0.01, backoff_cap_s=0.02)
        rig.load(customers(700) + customers(50, at=NEXT, first=700))
        httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p503": 1.0}})
        failed, _ = rig.sync(DAY)
        assert failed.counts()["records_failed"] == 700 and failed.counts()["rows_dead_lettered"] == 700
        with rig.ledger() as ledger:
            assert ledger.queued()["status"].to_list() == ["failed"] * 700
        letters = rig.store.query("SELECT attempts, first_failure, last_reason FROM dead_letters")
        assert letters.height == 700 and letters["attempts"].to_list() == [1] * 700
        assert letters["first_failure"].null_count() == 0 and "503" in letters["last_reason"][0]
        httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p503": 0.0}})
        # The next run of the entity, another partition: the queue goes first, then its own window.
        result, sent = rig.sync(NEXT)
        c = result.counts()
        assert (c["records_retried"], c["records_retry_accepted"], c["rows_delivered"]) == (700, 700, 50)
        assert [r["records"] for r in sent] == [500, 200, 50]
        assert len(rig.stored()) == 750
        with rig.ledger() as ledger:
            assert ledger.queued().height == 0 and ledger.size() == 750
        rig.client.close()


def test_a_failed_record_stops_retrying_after_max_attempts(tmp_path):
    with Sandbox(limits=[]) as sb:
        rig = Rig(sb, tmp_path, max_attempts=1, backoff_base_s=0.01, backoff_cap_s=0.02)
        rig.load(customers(3))
        httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 1.0}})
        rig.sync(DAY)  # attempt 1 (its own window)
        retried, _ = rig.sync(NEXT, max_attempts=2)  # attempt 2, as a retry
        c = retried.counts()  # the metadata names operators chart (docs/operating.md); exit codes read them too
        assert (c["records_retried"], c["records_retry_failed"], c["records_retry_accepted"]) == (3, 3, 0)
        result, sent = rig.sync(NEXT, max_attempts=2)  # exhausted: needs a person, not sent
        assert sent == [] and result.counts()["records_needs_attention"] == 3
        with rig.ledger() as ledger:
            assert ledger.queued()["status"].unique().to_list() == ["needs_attention"]
        rig.client.close()


def big_order(order_id: str, lines: int, qty: int = 1) -> list[dict]:
    return [{"order_id": order_id, "customer_id": "c1", "currency": "EUR", "ordered_at": "2026-11-26T13:00:00+01:00",
             "status": "completed", "line_id": f"{order_id}-{i}", "product_id": f"product-with-a-long-name-{i:06d}",
             "qty": qty, "price": 10.25, "updated_at": DAY.replace(tzinfo=None) + timedelta(hours=1)}
            for i in range(lines)]


def test_a_rejected_record_is_not_resent_until_it_changes(sandbox, tmp_path):
    # An order too large for any request body: the API refuses it (413), whatever the batch.
    lines = MAX_BODY_BYTES // 60 + 1
    rig = Rig(sandbox, tmp_path, mapping=ORDER_MAPPING, table="order_lines")
    rig.load(big_order("o-huge", lines) + big_order("o-small", 2))
    first, sent = rig.sync()
    assert first.counts()["records_rejected"] == 1 and "o-small" in rig.stored()
    with rig.ledger() as ledger:
        assert ledger.queued()["status"].to_list() == ["rejected"]
    again, sent = rig.sync()  # the same content: held, not sent
    assert sent == []
    c = again.counts()
    assert (c["records_held"], c["rows_held"], c["rows_dead_lettered"], c["rows_unchanged"]) == (1, lines, lines, 2)
    rig.load(big_order("o-huge", 3, qty=2) + big_order("o-small", 2))  # fixed at the source: new content
    fixed, sent = rig.sync()
    assert [r["records"] for r in sent] == [1] and fixed.counts()["records_new"] == 1  # never acknowledged
    assert len(rig.stored()["o-huge"]["OrderItems"]) == 3
    with rig.ledger() as ledger:
        assert ledger.queued().height == 0
    rig.client.close()


def test_a_batch_acknowledged_before_a_stop_is_not_resent(sandbox, tmp_path):
    """A run that stops mid-delivery (here: the key is revoked after the first batch) keeps the
    acknowledgements of what was accepted; the next run sends only the rest."""
    rig = Rig(sandbox, tmp_path)
    rig.load(customers(1500))
    seen: list[int] = []

    def revoke_after_first(p) -> None:
        seen.append(p.batches_done)
        if p.batches_done == 1:
            sandbox.state.keys.pop(rig.client.config.api_key.reveal(), None)

    from replenit_pipelines.lib.delivery import ReplenitStopError
    from replenit_pipelines.lib.warehouse import Warehouse

    with rig.ledger() as ledger, pytest.raises(ReplenitStopError):
        sync_window(SyncRequest(mapping=rig.mapping, warehouse=Warehouse(rig.warehouse), client=rig.client,
                                store=rig.store, start=DAY, end=NEXT, partition_key="d", run_id="stopped",
                                ledger=ledger, progress=revoke_after_first))
    with rig.ledger() as ledger:
        assert ledger.size() == 500
    _tenant, key = sandbox.add_tenant(rig.tenant_id)
    rig.client.close()
    rig.client = ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=rig.tenant_id, api_key=key, limits=(),
                                             quota_dir=str(tmp_path / "quota")))
    result, sent = rig.sync()
    assert sum(r["records"] for r in sent) == 1000 and result.counts()["rows_unchanged"] == 500
    assert len(rig.stored()) == 1500
    rig.client.close()


def test_a_key_refused_while_retrying_the_queue_stops_the_run_and_queues_its_window(tmp_path):
    """The queue is retried before the window is sent; a 401 there stops the run: none of the
    window's records is sent, each is counted held back (not attempted) and queued for the next run."""
    from replenit_pipelines.lib.delivery import ReplenitStopError

    with Sandbox(limits=[]) as sb:
        rig = Rig(sb, tmp_path, max_attempts=1, backoff_base_s=0.01, backoff_cap_s=0.02)
        rig.load(customers(30) + customers(20, at=NEXT, first=30))
        httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p503": 1.0}})
        assert rig.sync(DAY)[0].counts()["records_failed"] == 30  # queued for retry
        httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p503": 0.0}})
        sb.state.keys.pop(rig.client.config.api_key.reveal(), None)  # the key revoked
        since = last_seq(sb)
        with pytest.raises(ReplenitStopError, match=r"^Replenit refused the API key \(401 Unauthorized\)") as info:
            rig.sync(NEXT)
        result = info.value.result
        c = result.counts()
        assert (c["records_retried"], c["records_retry_failed"], c["retry_requests"]) == (30, 30, 1)
        assert (c["rows_read"], c["rows_delivered"], c["rows_held_back"], c["rows_not_attempted"]) == (20, 0, 20, 20)
        # None of the window's records went out: not sent, not failed (the delivery check's words).
        assert (c["records_sent"], c["records_failed"], c["records_not_attempted"]) == (0, 0, 20)
        assert result.balanced(), c
        assert len(tenant_requests(sb, rig.tenant_id, since)) == 1  # the retry's request, refused; the window's none
        with rig.ledger() as ledger:
            assert ledger.queued()["status"].to_list() == ["failed"] * 50 and ledger.size() == 0
        rig.client.close()


def test_open_ledger_scopes_by_api_and_tenant(tmp_path):
    a = open_ledger(tmp_path, "http://127.0.0.1:1", "0f8fad5b-d9cb-469f-a165-70867728950e", "customers")
    b = open_ledger(tmp_path, "https://api.replen.it", "0f8fad5b-d9cb-469f-a165-70867728950e", "customers")
    a.acknowledge(["x"], [b"\x00" * 16], "r")
    assert b.lookup(["x"]).height == 0
    a.close()
    b.close()


CRASH_ON_SECOND_ACK = """
import os, signal, sys
from datetime import datetime, timedelta, UTC
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import SqliteLedger
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse
sys.path.insert(0, sys.argv[7])
from helpers import CUSTOMER_MAPPING

url, tenant, key, warehouse, state_dir, quota_dir = sys.argv[1:7]

class CrashOnSecondAck(SqliteLedger):
    # The process dies after the API's 200 for the second batch and before the ledger's write.
    calls = 0
    def acknowledge(self, *args, **kwargs):
        CrashOnSecondAck.calls += 1
        if CrashOnSecondAck.calls == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().acknowledge(*args, **kwargs)

client = ReplenitClient(ClientConfig(base_url=url, tenant_id=tenant, api_key=key, limits=(), quota_dir=quota_dir,
                                     max_in_flight=1))
day = datetime(2026, 11, 26, tzinfo=UTC)
ledger = CrashOnSecondAck.open(state_dir, url, tenant, "customers")
sync_window(SyncRequest(mapping=CUSTOMER_MAPPING, warehouse=Warehouse(warehouse), client=client,
                        store=DuckDBStateStore(state_dir + "/state.duckdb"), start=day, end=day + timedelta(days=1),
                        partition_key="d", run_id="crashing", ledger=ledger))
"""


def test_a_crash_between_a_200_and_its_ledger_write_resends_at_most_that_batch(sandbox, tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    rig = Rig(sandbox, tmp_path)
    rig.load(customers(1500))  # 3 batches
    key = rig.client.config.api_key.reveal()
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_ON_SECOND_ACK, sandbox.url, rig.tenant_id, key, str(rig.warehouse),
         str(rig.state_dir), str(tmp_path / "quota"), str(Path(__file__).resolve().parents[2])], capture_output=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    before = tenant_requests(sandbox, rig.tenant_id)
    assert [r["status"] for r in before] == [200, 200]  # two batches accepted; the second never acknowledged
    with rig.ledger() as ledger:
        assert ledger.size() == 500  # the first batch's acknowledgement survived the kill
    result, sent = rig.sync()
    assert [r["records"] for r in sent] == [500, 500]  # the unacknowledged batch again, then the third
    assert result.counts()["rows_unchanged"] == 500 and len(rig.stored()) == 1500
    rig.client.close()


def test_lookback_comes_from_the_mapping_or_the_entitys_default():
    from replenit_pipelines.lib.warehouse import MappingError, entity_mapping_from_dict

    fields = {"CustomerId": "id", "Email": "email"}
    assert entity_mapping_from_dict("customers", {"source": {"table": "t"}, "fields": fields}).lookback_hours == 48
    given = entity_mapping_from_dict("customers", {"source": {"table": "t", "lookback_hours": 3}, "fields": fields})
    assert given.lookback_hours == 3
    with pytest.raises(MappingError, match=r"customers\.source\.lookback_hours must be a number of hours"):
        entity_mapping_from_dict("customers", {"source": {"table": "t", "lookback_hours": "two days"}, "fields": fields})


def test_an_acknowledgement_that_cannot_be_written_stops_the_delivery(rig):
    """The ledger's disk is full (here: its write raises): not one more request is spent that could
    not be remembered, and the run stops as a stop error does, with its accounting closed."""
    from replenit_pipelines.lib.delivery import AcknowledgementError
    from replenit_pipelines.lib.warehouse import Warehouse

    class FullDisk:  # the rig's ledger (SQLite or Postgres), whose acknowledgements fail as on a full disk
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def acknowledge(self, *args, **kwargs):
            raise OSError(28, "database or disk is full")

    rig.load(customers(2000))  # 4 batches
    since = last_seq(rig.sandbox)
    with rig.ledger() as real, pytest.raises(AcknowledgementError, match="disk is full"):
        sync_window(SyncRequest(mapping=rig.mapping, warehouse=Warehouse(rig.warehouse), client=rig.client,
                                store=rig.store, start=DAY, end=NEXT, partition_key="d", run_id="full", ledger=FullDisk(real)))
    assert len(tenant_requests(rig.sandbox, rig.tenant_id, since)) == 1
    run = rig.store.query("SELECT outcome, rows_read, rows_delivered, rows_dead_lettered, rows_held_back FROM sync_runs")
    assert run.row(0) == ("stopped", 2000, 500, 0, 1500)  # the three batches never sent: not attempted, held back


def queue_a_failed_edit(sb: Sandbox, tmp_path, edit: dict) -> "Rig":
    """Five customers acknowledged ("User 0" among them), then c0 edited and its delivery failed
    (queued for retry); the sandbox healthy again."""
    rig = Rig(sb, tmp_path, max_attempts=1, backoff_base_s=0.01, backoff_cap_s=0.02)
    rig.load(customers(5))
    rig.sync(DAY)
    rig.load(customers(5, c0=edit))
    httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 1.0}})
    rig.sync(DAY)
    httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 0.0}})
    return rig


def test_a_failed_version_reverted_at_the_source_is_never_resent_over_the_current_one(tmp_path):
    with Sandbox(limits=[]) as sb:
        rig = queue_a_failed_edit(sb, tmp_path, {"name": "Typo"})
        rig.load(customers(5))  # reverted at the source before any retry
        rig.sync(DAY)  # unchanged against the ledger: nothing to send, and the queued "Typo" is obsolete
        result, sent = rig.sync(NEXT)  # another partition: the queue must not send "Typo"
        assert sent == [] and result.counts()["records_retried"] == 0
        assert rig.stored()["email:user0@example.com"]["Name"] == "User 0"
        with rig.ledger() as ledger:
            assert ledger.queued().height == 0
        rig.client.close()


def test_a_failed_version_whose_current_version_is_quarantined_is_never_resent(tmp_path):
    with Sandbox(limits=[]) as sb:
        rig = queue_a_failed_edit(sb, tmp_path, {"name": "Renamed"})
        rig.load(customers(5, c0={"name": "Renamed", "phone": "not a phone"}))  # the warehouse's newest is invalid
        result, sent = rig.sync(DAY)
        # The queued "Renamed" is older than what the warehouse says now (an invalid record): it is
        # not sent in its place, and leaves the queue; the invalid one is quarantined.
        assert result.counts()["records_retried"] == 0 and result.prepared.rows_quarantined == 1
        assert rig.stored()["email:user0@example.com"]["Name"] == "User 0"
        with rig.ledger() as ledger:
            assert ledger.queued().height == 0
        rig.client.close()


def test_a_range_of_partitions_in_one_run_counts_each_record_in_the_partition_of_its_newest_change(rig):
    """A run over three days at once (a single-run backfill): one read, one diff, one delivery; each
    day's counts are its own records' (a record changed on two days counts on the later, its older row
    superseded there), the lookback's apart, each account closes, and together they are the run's."""
    from replenit_pipelines.lib.stages.lookback import closes, lookback_counts, partition_counts, window_counts
    from replenit_pipelines.lib.warehouse import Warehouse

    d1, d2 = DAY + timedelta(days=1), DAY + timedelta(days=2)
    changed_again = customers(1, first=100)[0] | {"name": "Renamed", "updated_at": (d1 + timedelta(hours=10)).replace(tzinfo=None)}
    rig.load(customers(5, at=DAY - timedelta(days=1)) + customers(10, first=100) + customers(8, at=d1, first=200)
             + [changed_again] + customers(6, at=d2, first=300, c301={"email": "not an email"}))
    with rig.ledger() as ledger:
        result = sync_window(SyncRequest(
            mapping=rig.mapping, warehouse=Warehouse(rig.warehouse), client=rig.client, store=None, start=DAY,
            end=DAY + timedelta(days=3), partition_key="range", run_id="range-1", ledger=ledger,
            lookback=timedelta(days=1), partition_starts=(DAY, d1, d2)))
    parts, lookback, (own, _) = partition_counts(result, 3), lookback_counts(result), window_counts(result)
    shown = [(p["rows_read"], p["rows_delivered"], p["rows_superseded"], p["rows_quarantined"]) for p in parts]
    assert shown == [(9, 9, 0, 0), (10, 9, 1, 0), (6, 5, 0, 1)]
    assert (lookback["rows_read"], lookback["rows_delivered"]) == (5, 5)
    assert all(closes(p) for p in parts) and closes(lookback)
    assert {k: sum(p[k] for p in parts) for k in parts[0]} == {k: own[k] for k in parts[0]}
    assert [p["records_accepted"] for p in parts] == [9, 9, 5]
