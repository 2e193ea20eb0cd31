"""The quota ledger's counts at a window's edge and its waiters, on an injected clock (no test here
sleeps): every request decided within the edge guard counts in the next window too, a latency of
0 s is a sample like any other, and a ledger written before tenants still holds bulk back for its
fresh waiter. JSON ledger files only: the logic is the limiter's, the same on Postgres."""

import json

import pytest
from helpers import FakeClock

from replenit_pipelines.lib.delivery.quota import MIN_LATENCY_SAMPLES, QuotaLimiter


def limiter(tmp_path, windows, clock) -> QuotaLimiter:
    q = QuotaLimiter(windows, tmp_path / "ledger.json", clock=clock, sleep=clock.sleep, state_url=None)
    for _ in range(50):  # a known fast link: the guard is its floor, 1% of the shortest window
        q.record_latency(0.004)
    return q


def test_every_request_within_the_guard_of_a_windows_end_counts_in_the_next_one(tmp_path):
    clock = FakeClock(1000.995)
    q = limiter(tmp_path, [(30, 1.0)], clock)
    assert q.boundary_guard == pytest.approx(0.01)
    for _ in range(3):
        q.acquire("fresh")
    assert q.used() == {1.0: 3}
    clock.now = 1001.5
    assert q.used() == {1.0: 3}  # all three may land in the next window: 27 left of its 30


def test_a_latency_of_zero_seconds_is_a_sample(tmp_path):
    # A coarse monotonic clock measures a fast answer as 0 s: it is a known fast link, not an unknown one.
    clock = FakeClock(1000.0)
    q = QuotaLimiter([(30, 1.0)], tmp_path / "ledger.json", clock=clock, sleep=clock.sleep, state_url=None)
    assert q.boundary_guard == pytest.approx(0.5)  # no samples: the cap
    for _ in range(MIN_LATENCY_SAMPLES - 1):
        q.record_latency(0.0)
    q.record_latency(-1.0)  # a clock that went back, or no measure at all, is no sample
    q.record_latency(float("nan"))
    assert q.boundary_guard == pytest.approx(0.5)  # one sample short: still the cap
    q.record_latency(0.0)
    assert q.boundary_guard == pytest.approx(0.01)  # enough samples, all fast: the floor


def test_a_fresh_waiter_in_a_ledger_written_before_tenants_holds_bulk_back_until_it_expires(tmp_path):
    # Before tenants, a waiter entry was only its expiry: it is read as a fresh waiter of no tenant.
    (tmp_path / "ledger.json").write_text(json.dumps({"waiters": {"old-process": 1000.5}}))
    clock = FakeClock(1000.0)
    q = limiter(tmp_path, [(100, 60.0)], clock)
    waited = q.acquire("bulk")
    assert 0.5 <= waited <= 0.5 + 2 * q.poll_s
    assert clock.now > 1000.5
    state = json.loads((tmp_path / "ledger.json").read_text())
    assert state["waiters"] == {}
    assert q.acquire("bulk") == 0.0
