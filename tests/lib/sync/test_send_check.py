"""The send-time check (issue 24's hazard): the newest warehouse READ wins, whatever order two runs'
requests land in. A reconciliation (bulk lane) and a window sync (fresh lane) of one entity run
interleaved deterministically: the run that read first is held in its quota wait (a real
QuotaLimiter whose window is full, on a clock the test moves) while the other reads, sends and
acknowledges; then the first one sends. Real sandbox over HTTP, real DuckDB warehouse, real
ledgers: SQLite files and Postgres."""

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from helpers import CUSTOMER_MAPPING
from test_ledger_sync import DAY, customers, write_table

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.quota import QuotaLimiter
from replenit_pipelines.lib.ledger import Ledger, failures_to_queue, open_ledger
from replenit_pipelines.lib.ledger.base import now_ms
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.stages.report import newer_elsewhere_note
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.sync.reconcile import ReconcileRequest, reconcile
from replenit_pipelines.lib.warehouse import Warehouse

CHANGED = "email:user3@example.com"


class HeldQuota:
    """A client's quota of one request a minute, already spent, on a clock the test moves: the
    run's first request waits for the window's end; that wait runs `meanwhile` (the other run),
    then the clock jumps past it and the request goes."""

    def __init__(self, path: Path, lane: str):
        self.now = 1_000_000.0
        self.meanwhile: Callable[[], None] | None = None
        self.waited = 0
        self.limiter = QuotaLimiter([(1, 60.0)], path, clock=lambda: self.now, sleep=self.sleep, state_url=None)
        self.limiter.acquire(lane)  # the window's one request: spent

    def sleep(self, pause: float) -> None:
        if self.waited == 0 and self.meanwhile is not None:
            self.meanwhile()
        self.waited += 1
        self.now += pause


class Rig:
    def __init__(self, sandbox: Sandbox, tmp_path: Path, state_url: str | None):
        self.sandbox, self.tmp, self.state_url = sandbox, tmp_path, state_url
        self.tenant_id, self.key = sandbox.add_tenant()
        self.warehouse = tmp_path / "wh.duckdb"
        self.runs = 0

    def client(self, lane: str, held: HeldQuota | None = None) -> ReplenitClient:
        self.runs += 1
        client = ReplenitClient(ClientConfig(base_url=self.sandbox.url, tenant_id=self.tenant_id, api_key=self.key, limits=(),
                                             quota_dir=str(self.tmp / f"quota-{self.runs}"), lane=lane))  # type: ignore[arg-type]
        if held is not None:
            client.quota = held.limiter
        return client

    def ledger(self) -> Ledger:
        """A ledger instance of its own for each run, as two processes have."""
        return open_ledger(self.tmp / "state", self.sandbox.url, self.tenant_id, "customers", state_url=self.state_url)

    def load(self, name_of_3: str) -> None:
        write_table(self.warehouse, "customers", customers(10, **{"c3": {"name": name_of_3}}))

    def window_sync(self, client: ReplenitClient, run_id: str = "window-1"):
        with self.ledger() as ledger:
            result = sync_window(SyncRequest(
                mapping=CUSTOMER_MAPPING, warehouse=Warehouse(self.warehouse), client=client, store=None, start=DAY,
                end=DAY + timedelta(hours=1), partition_key="2026-11-26T00", run_id=run_id, ledger=ledger))
        assert result.balanced(), result.counts()
        return result

    def reconcile(self, client: ReplenitClient, run_id: str = "reconcile-1"):
        with self.ledger() as ledger:
            result = reconcile(ReconcileRequest(mapping=CUSTOMER_MAPPING, warehouse=Warehouse(self.warehouse), client=client,
                                                ledger=ledger, store=None, run_id=run_id))
        assert result.balanced(), result.counts()
        return result

    def stored(self) -> dict:
        got = httpx.get(f"{self.sandbox.url}/_sandbox/records/{self.tenant_id}/customers").json()
        return {r["key"]: r["record"] for r in got}[CHANGED]

    def stored_name(self) -> str:
        return self.stored()["Name"]

    def acked(self, identity: str = CHANGED):
        with self.ledger() as ledger:
            return ledger.current_reads([identity])[identity]


@pytest.fixture(params=["sqlite", "postgres"])
def rig(request, sandbox, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return Rig(sandbox, tmp_path, url)


def test_a_reconciliation_held_in_the_bulk_lane_does_not_overwrite_a_newer_read_acknowledged_meanwhile(rig):
    rig.load("Old")
    held = HeldQuota(rig.tmp / "held.json", "bulk")
    fresh = rig.client("fresh")
    seen = {}

    def window_sync_reads_v2_and_acknowledges_it() -> None:
        rig.load("New")  # the record changes in the warehouse after the reconciliation read it
        seen["window"] = rig.window_sync(fresh)
        seen["v2"] = rig.acked()

    held.meanwhile = window_sync_reads_v2_and_acknowledges_it
    result = rig.reconcile(rig.client("bulk", held))
    assert held.waited, "the reconciliation never waited in its quota: the interleaving did not happen"
    assert seen["window"].counts()["records_accepted"] == 10
    assert rig.stored_name() == "New"  # the newest read won
    assert rig.acked().hash == seen["v2"].hash  # the ledger agrees with the tenant
    c = result.counts()
    # The changed record: a newer read was stored by the window sync (superseded); the 9 others:
    # the very same content was stored meanwhile (unchanged, a request saved: none was sent).
    assert (c["records_newer_elsewhere"], c["records_stored_elsewhere"], c["records_accepted"], c["requests"]) == (1, 9, 0, 0)
    assert c["records_sent"] == 0  # all ten taken out by the send-time check
    assert (c["rows_newer_elsewhere"], c["rows_stored_elsewhere"], c["rows_superseded"], c["rows_unchanged"]) == (1, 9, 1, 9)
    assert c["rows_read"] == c["rows_superseded"] + c["rows_unchanged"] + c["rows_delivered"] == 10
    note = newer_elsewhere_note(c)
    assert note is not None and "1 because another run stored a version read from the warehouse after this run's read" in note
    assert "9 because another run stored the same content since this run's diff (9 rows, counted as unchanged)" in note


def test_a_window_sync_that_read_first_does_not_overwrite_a_reconciliations_later_read(rig):
    rig.load("Old")
    held = HeldQuota(rig.tmp / "held.json", "fresh")
    seen = {}

    def reconciliation_reads_v2_and_acknowledges_it() -> None:
        rig.load("New")
        seen["reconcile"] = rig.reconcile(rig.client("bulk"))
        seen["v2"] = rig.acked()

    held.meanwhile = reconciliation_reads_v2_and_acknowledges_it
    result = rig.window_sync(rig.client("fresh", held))
    assert held.waited and seen["reconcile"].counts()["records_accepted"] == 10
    assert rig.stored_name() == "New"
    assert rig.acked().hash == seen["v2"].hash
    c = result.counts()
    assert (c["records_newer_elsewhere"], c["records_stored_elsewhere"], c["requests"]) == (1, 9, 0)
    assert c["rows_read"] == c["rows_superseded"] + c["rows_unchanged"] + c["rows_delivered"] == 10


def test_the_acknowledgement_records_when_the_read_began_not_when_the_request_was_accepted(rig):
    """Nothing stored meanwhile: every record is sent, and the ledger keeps the read's time."""
    rig.load("Old")
    held = HeldQuota(rig.tmp / "held.json", "bulk")
    times = {}

    def wait_a_little() -> None:
        times["waiting"] = now_ms()
        time.sleep(0.02)

    held.meanwhile = wait_a_little
    times["start"] = now_ms()
    result = rig.reconcile(rig.client("bulk", held))
    c = result.counts()
    assert (c["records_accepted"], c["records_newer_elsewhere"], c["records_stored_elsewhere"]) == (10, 0, 0)
    with rig.ledger() as ledger:
        entry = ledger.lookup([CHANGED]).row(0, named=True)
    assert times["start"] <= entry["read_at"] <= times["waiting"] < entry["acked_at"]
    assert rig.acked().run_id == "reconcile-1"


def test_a_queued_payload_read_before_a_stored_version_is_never_re_sent(rig):
    """A bulk run read v1, another run stored v2 (read later), then the bulk's request failed (5xx):
    v1 is queued AFTER v2's acknowledgement. The queue's old rule (acknowledged after the failure?)
    would re-send it; by read time it is stale."""
    rig.load("Old")
    rig.window_sync(rig.client("fresh"), "window-0")  # v1, to have its payload and hash
    v1, v1_payload = rig.acked(), json.dumps(rig.stored()).encode()
    rig.load("New")
    rig.window_sync(rig.client("fresh"))  # v2 stored and acknowledged
    v2 = rig.acked()
    assert v1.hash != v2.hash
    with rig.ledger() as ledger:
        ledger.queue_failures(failures_to_queue([CHANGED], [v1_payload], [v1.hash], ["failed"],
                                                ["HTTP 503; gave up after 5 attempts"], "reconcile-0", [v2.read_at - 60_000]))
    write_table(rig.warehouse, "customers", customers(2, at=DAY + timedelta(days=1)))  # a later window, without c3
    with rig.ledger() as ledger:
        result = sync_window(SyncRequest(
            mapping=CUSTOMER_MAPPING, warehouse=Warehouse(rig.warehouse), client=rig.client("fresh"), store=None,
            start=DAY + timedelta(days=1), end=DAY + timedelta(days=1, hours=1), partition_key="2026-11-27T00", run_id="window-2",
            ledger=ledger))
        assert ledger.queued().height == 0
    assert (result.retried.records_stale, result.retried.records_retried) == (1, 0)
    assert rig.stored_name() == "New"


def test_a_request_shared_by_two_chunks_checks_each_chunks_records_by_its_own_read(rig):
    """A chunk's partial last batch goes out filled with the next chunk's records (lib/sync/carry.py):
    both sides are checked right before the request, each against its own chunk's read."""
    write_table(rig.warehouse, "customers", customers(10))
    held = HeldQuota(rig.tmp / "held.json", "bulk")
    fresh = rig.client("fresh")

    def window_sync_stores_newer_reads_of_all() -> None:
        write_table(rig.warehouse, "customers", customers(10, **{f"c{i}": {"name": f"Renamed {i}"} for i in range(10)}))
        rig.window_sync(fresh)

    held.meanwhile = window_sync_stores_newer_reads_of_all
    with rig.ledger() as ledger:
        result = reconcile(ReconcileRequest(mapping=CUSTOMER_MAPPING, warehouse=Warehouse(rig.warehouse), client=rig.client("bulk", held),
                                            ledger=ledger, store=None, run_id="reconcile-1", chunk_rows=5))
    assert result.balanced(), result.counts()
    c = result.counts()
    assert held.waited and c["chunks"] == 2
    assert (c["records_newer_elsewhere"], c["requests"]) == (10, 0)
    assert all(chunk["records_newer_elsewhere"] > 0 for chunk in result.counts_by_chunk)  # the lender's and the borrower's
    got = httpx.get(f"{rig.sandbox.url}/_sandbox/records/{rig.tenant_id}/customers").json()
    assert sorted(r["record"]["Name"] for r in got) == sorted(f"Renamed {i}" for i in range(10))


def test_the_next_chunks_records_a_shared_request_carries_are_checked_by_that_chunks_own_read(rig):
    """Every record was acknowledged by an earlier window, then renamed at the source: the
    reconciliation read them later, so all are sent, the next chunk's in the first chunk's last
    request too (checked by their own chunk's read time, not taken for older than the ledger's)."""
    rig.load("Old")
    rig.window_sync(rig.client("fresh"), "window-0")
    write_table(rig.warehouse, "customers", customers(10, **{f"c{i}": {"name": f"Renamed {i}"} for i in range(10)}))
    with rig.ledger() as ledger:
        result = reconcile(ReconcileRequest(mapping=CUSTOMER_MAPPING, warehouse=Warehouse(rig.warehouse), client=rig.client("bulk"),
                                            ledger=ledger, store=None, run_id="reconcile-1", chunk_rows=5))
    assert result.balanced(), result.counts()
    c = result.counts()
    assert c["chunks"] == 2 and all(chunk["records_valid"] for chunk in result.counts_by_chunk)
    assert (c["records_accepted"], c["records_newer_elsewhere"], c["records_stored_elsewhere"], c["requests"]) == (10, 0, 0, 1)
    got = httpx.get(f"{rig.sandbox.url}/_sandbox/records/{rig.tenant_id}/customers").json()
    assert sorted(r["record"]["Name"] for r in got) == sorted(f"Renamed {i}" for i in range(10))
