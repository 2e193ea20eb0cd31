"""Lanes on one key's quota (issue 24, lib/delivery/quota.py): fresh goes first, bulk takes what
fresh leaves and yields within one request when fresh waits, never over the windows, and a fresh
process that died does not hold bulk back. Every test on both ledgers (JSON file and Postgres)."""

import math
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from helpers import FakeClock, fast_link_limiter

from replenit_pipelines.lib.delivery import ClientConfig
from replenit_pipelines.lib.delivery.errors import DeliveryConfigError
from replenit_pipelines.lib.delivery.quota import QuotaLimiter
from replenit_pipelines.lib.plan import Schedule, eta, expected_load, quota_snapshot, quota_text, quota_view

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture(autouse=True)
def backend(state_backend):
    return state_backend


limiter = fast_link_limiter  # a known fast link: the edge guard is its floor


def test_bulk_leaves_the_fresh_share_of_a_window_until_its_last_part(tmp_path):
    # The API's quota: 3 of a minute's 100 until its last 24 s; of the hour's 5,000 no more than bulk can
    # still take in the hour's last 24 s at the minute's rate (40, not 150: nothing left over is lost).
    documented = QuotaLimiter([(100, 60.0), (5000, 3600.0)], tmp_path / "d.json")
    assert documented.reserve == {60.0: 3, 3600.0: 40} and documented.release_s == 24.0
    clock = FakeClock(1000.0)
    q = limiter(tmp_path / "k.json", [(10, 1.0)], clock, clock.sleep)
    assert q.reserve == {1.0: 1} and q.release_s == 0.4
    assert [q.acquire("bulk") for _ in range(9)] == [0.0] * 9
    assert q.acquire("fresh") == 0.0  # the 10th slot was kept for fresh: no wait
    clock.now = 1001.1
    for _ in range(9):
        q.acquire("bulk")
    # Bulk's 10th of the window waits for the window's last part, then takes the slot fresh left.
    assert q.acquire("bulk") == pytest.approx(0.501)
    assert q.used() == {1.0: 10}
    lanes = q.lane_counts()
    assert lanes["fresh"][1.0] == {1000: 1}
    assert lanes["bulk"][1.0] == {1000: 9, 1001: 10}


def test_a_lane_is_required_and_checked():
    with pytest.raises(DeliveryConfigError, match="quota lane 'urgent'"):
        ClientConfig(base_url="http://127.0.0.1:1", tenant_id=TENANT, api_key="k", lane="urgent")  # type: ignore[arg-type]
    assert ClientConfig(base_url="http://127.0.0.1:1", tenant_id=TENANT, api_key="k").lane == "bulk"


LATE_S = 0.05  # a thread that ran this much later than the limiter asked was paused by the machine


class LimiterClock:
    """The wall clock and sleep, as a limiter uses them: a limiter reads its clock once per look at the
    key's ledger, under the ledger's lock (quota.py acquire), so each read is where that look stands in
    the ledger's one order. The test judges by these moments, not by stamps taken around acquire() in
    threads that a loaded machine may pause for 100 ms between the stamp and the look. It also knows
    when the machine woke a sleeping limiter late (`late`: the operating system's overshoot past the
    wake-up asked for; a fresh waiter that sleeps past its entry's grace is, by design, taken for dead),
    and when a look came late after a wake-up (`slow_looks`: the thread, or the ledger's lock, kept it
    waiting). Only the first excuses a request or a window: a limiter whose own lock held a lane back
    is still judged."""

    def __init__(self) -> None:
        self.reads: list[float] = []
        self.late: list[tuple[float, float]] = []
        self.slow_looks: list[tuple[float, float]] = []
        self._woke: float | None = None

    def __call__(self) -> float:
        now = time.time()
        self.reads.append(now)
        if self._woke is not None and now - self._woke > LATE_S:
            self.slow_looks.append((self._woke, now))
        self._woke = None
        return now

    def sleep(self, seconds: float) -> None:
        due = time.time() + seconds
        time.sleep(seconds)
        self._woke = woke = time.time()
        if woke - due > LATE_S:
            self.late.append((due, woke))

    def late_within(self, start: float, end: float, by: float = LATE_S, looks: bool = False) -> bool:
        spans = self.late + (self.slow_looks if looks else [])
        return any(due < end and woke > start and woke - due > by for due, woke in spans)


def test_fresh_requests_go_first_and_bulk_yields_within_one_request(tmp_path):
    """Two real threads on a time-scaled key (10 per 0.5 s): bulk asks for slots without pause, fresh
    for one now and then. Every fresh request gets the next slot (no bulk request is granted between
    fresh's first look, when it announces its wait, and its grant), no window is ever over its limit,
    and bulk fills what fresh leaves. Judged where the machine ran the threads when the limiter asked
    (a loaded machine pauses them for 100-300 ms): a fresh request whose sleep ended past its entry's
    grace, and a window in which bulk was paused, say nothing of the limiter."""
    limits = [(10, 0.5)]
    bulk_clock, fresh_clock = LimiterClock(), LimiterClock()
    bulk_q = limiter(tmp_path / "k.json", limits, bulk_clock, bulk_clock.sleep)
    fresh_q = limiter(tmp_path / "k.json", limits, fresh_clock, fresh_clock.sleep)  # its own limiter, as another run's would be
    bulk_grants: list[float] = []  # when the limiter counted each bulk request (its last look)
    fresh_waits: list[tuple[float, float]] = []  # (first look: its wait announced, last look: granted)
    stop = threading.Event()

    def bulk() -> None:
        returned = None
        while not stop.is_set():
            asking = time.time()
            if returned is not None and asking - returned > LATE_S:  # the machine paused it between two asks
                bulk_clock.late.append((returned, asking))
            bulk_q.acquire("bulk")
            returned = time.time()
            bulk_grants.append(bulk_clock.reads[-1])

    def fresh() -> None:
        time.sleep(0.6)  # bulk has filled a window by now
        for _ in range(8):
            first = len(fresh_clock.reads)
            fresh_q.acquire("fresh")
            fresh_waits.append((fresh_clock.reads[first], fresh_clock.reads[-1]))
            time.sleep(0.37)  # about one a window (its share), at every phase of the window
        stop.set()

    threads = [threading.Thread(target=bulk), threading.Thread(target=fresh)]
    [t.start() for t in threads]
    [t.join(timeout=30) for t in threads]
    assert not any(t.is_alive() for t in threads)
    judged = [(asked, got) for asked, got in fresh_waits if not fresh_clock.late_within(asked, got, 0.8 * fresh_q.waiter_grace)]
    for asked, got in judged:
        # A bulk lane that ignores a waiting fresh request takes the window's next slots before it.
        overtaken = [g for g in bulk_grants if asked < g < got]
        assert not overtaken, (asked, got, overtaken)
        if not fresh_clock.late_within(asked, got, looks=True):
            assert got - asked <= bulk_q.release_s + 0.1  # never more than the window's last part (plus a late wake-up)
    per_window: dict[int, int] = {}
    for at in bulk_grants + [got for _, got in fresh_waits]:
        per_window[math.floor(at / 0.5)] = per_window.get(math.floor(at / 0.5), 0) + 1
    assert max(per_window.values()) <= 10, per_window
    # Whole windows between the first and the last, in which the machine ran bulk when it asked.
    full = [w for w in sorted(per_window)[1:-1] if not bulk_clock.late_within(w * 0.5, (w + 1) * 0.5)]
    if len(judged) < 3 or len(full) < 3:
        pytest.skip(f"the machine paused the threads too often to judge the limiter ({len(judged)} of 8 fresh requests, "
                    f"{len(full)} windows)")
    used = sum(per_window[w] for w in full)
    assert used >= 0.97 * 10 * len(full), per_window  # bulk takes what fresh leaves


WAIT_AS_FRESH = """
import sys, time
from pathlib import Path
from replenit_pipelines.lib.delivery.quota import QuotaLimiter
q = QuotaLimiter([(20, 4.0)], Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
q.acquire("fresh")
print("granted", flush=True)
time.sleep(60)
"""


def test_a_fresh_process_that_died_while_waiting_does_not_block_bulk(tmp_path):
    path = tmp_path / "k.json"
    q = limiter(path, [(20, 4.0)])
    proc = subprocess.Popen(
        [sys.executable, "-c", WAIT_AS_FRESH, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"  # imported: it asks at once when told
        now = time.time()
        if now % 4.0 > 2.5:  # too near the window's end: start in the next one
            time.sleep(4.0 - now % 4.0 + 0.01)
        for _ in range(20):  # the window's every request: the process has to wait for the next one
            q.acquire("fresh")
        window_end = (math.floor(time.time() / 4.0) + 1) * 4.0
        proc.stdin.write("go\n")
        proc.stdin.flush()
        deadline = time.time() + 10
        while q.fresh_waiting() == 0 and time.time() < deadline:
            time.sleep(0.02)
        assert q.fresh_waiting() == 1 and time.time() < window_end  # waiting, its entry in the key's ledger
    finally:
        proc.send_signal(signal.SIGKILL)  # dies waiting: its entry stays, nobody removes it
        proc.wait()
    result: list[float] = []
    t = threading.Thread(target=lambda: result.append(q.acquire("bulk")), daemon=True)
    t.start()
    t.join(timeout=15)
    assert result, "bulk is still held back by a dead fresh waiter"
    granted = time.time()
    # Bulk waited for the window (full) and then at most the dead entry's grace, not forever.
    assert granted <= window_end + q.waiter_grace + 1.0
    assert q.fresh_waiting() == 0


# --- plans know the lanes ----------------------------------------------------------------------------


def test_the_quota_view_shows_the_spend_per_lane(tmp_path):
    clock = FakeClock(1000.25)
    q = limiter(tmp_path / "quota" / "k.json", [(10, 1.0), (25, 10.0)], clock, clock.sleep)
    for lane in ("fresh", "fresh", "bulk", "bulk", "bulk"):
        q.acquire(lane)
    snapshot = quota_snapshot(q)
    assert [w.spent_by_lane for w in snapshot.windows] == [{"fresh": 2, "bulk": 3}] * 2
    view = quota_view([snapshot], None, None, [(10, 1.0), (25, 10.0)])
    assert view["keys"][0]["windows"][0]["spent_by_lane"] == {"fresh": 2, "bulk": 3}
    assert "5/10 spent in the 1 s window (fresh 2, bulk 3; 5 left" in quota_text(view)


def test_a_bulk_plans_eta_counts_the_fresh_lanes_expected_load(tmp_path):
    now = datetime(2026, 11, 28, 10, 20, tzinfo=UTC)
    clock = FakeClock(now.timestamp())
    q = QuotaLimiter([(100, 60.0), (5000, 3600.0)], tmp_path / "k.json", clock=clock, sleep=clock.sleep)
    recent = pl.DataFrame(
        {"entity": ["orders"] * 3, "requests": [400, 900, 500], "finished_at": [now - timedelta(hours=h) for h in (1, 2, 3)]}
    )
    load = expected_load([Schedule("hourly", "5 * * * *", ("orders",))], recent, now)
    fresh = eta(9000, quota_snapshot(q), expected_load=load, entity="customers")
    bulk = eta(9000, quota_snapshot(q), expected_load=load, entity="customers", lane="bulk")
    assert fresh.expected_s == fresh.alone_s and fresh.late  # fresh work alone, late past the next run
    # Bulk work waits for the fresh lane's scheduled load (it goes first) and is never late: it holds up no run.
    assert bulk.with_load_s is not None and bulk.expected_s == bulk.with_load_s > bulk.alone_s
    assert not bulk.late and bulk.load_requests == 500  # 11:05's orders run goes before its last request
    assert bulk.as_dict()["lane"] == "bulk" and "in the bulk lane, after the fresh lane's expected load" in bulk.text()
