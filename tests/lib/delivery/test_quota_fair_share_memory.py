"""Details of the quota limiter on an injected clock (no test here sleeps), JSON ledger files only
(the logic is the limiter's, the same on Postgres): a tenant whose bulk work waited in the previous
window still gets its part of this one, a dead process' fresh waiter entry lives at most 5 s past
its wait, `answered()` without a request is nothing, and an unknown lane is told the lanes."""

import json
import re

import pytest
from helpers import FakeClock

from replenit_pipelines.lib.delivery.quota import QuotaLimiter


def limiter(tmp_path, windows, clock) -> QuotaLimiter:
    q = QuotaLimiter(windows, tmp_path / "ledger.json", clock=clock, sleep=clock.sleep, state_url=None)
    for _ in range(50):  # a known fast link: the edge guard is its floor, 1% of the shortest window
        q.record_latency(0.001)
    return q


def test_a_tenant_whose_bulk_waited_last_window_still_holds_the_other_to_its_part(tmp_path):
    # (C): bulk's room is shared between the tenants whose bulk work waited in the current or the
    # previous window. b waited in window 1000, then got one request in window 1001: a keeps to
    # its part of 1001 (5 of the 9 bulk requests), its 6th waits for the window's last part.
    clock = FakeClock(1000.0)
    q = limiter(tmp_path, [(10, 1.0)], clock)
    assert q.reserve == {1.0: 1} and q.release_s == pytest.approx(0.4)
    for _ in range(9):
        assert q.acquire("bulk", "a") == 0.0
    clock.now = 1000.1
    assert q.acquire("bulk", "b") > 0  # the window's bulk room is used up: b waits for its last part
    clock.now = 1001.05
    assert q.acquire("bulk", "b") == 0.0
    assert [q.acquire("bulk", "a") for _ in range(5)] == [0.0] * 5
    assert q.acquire("bulk", "a") == pytest.approx(1001.6 - 1001.05, abs=0.01)


def test_a_fresh_waiter_entry_lives_at_most_five_seconds_past_its_wait(tmp_path):
    # A fresh process that dies while it waits holds bulk back for its wait plus a grace of 5% of
    # the shortest window, at most 5 s (an hour's window: 5 s, not 180).
    clock = FakeClock(3600.0 * 1000)
    entries = []

    def die_while_waiting(seconds: float) -> None:
        entries.extend(json.loads((tmp_path / "ledger.json").read_text())["waiters"].values())
        raise KeyboardInterrupt

    q = QuotaLimiter([(1, 3600.0)], tmp_path / "ledger.json", clock=clock, sleep=die_while_waiting, state_url=None)
    assert q.acquire("fresh") == 0.0
    with pytest.raises(KeyboardInterrupt):
        q.acquire("fresh")
    assert [e["until"] - (3600.0 * 1001) for e in entries] == [pytest.approx(5.0)]


def test_answered_without_a_request_records_no_latency(tmp_path):
    clock = FakeClock(1000.0)
    q = QuotaLimiter([(10, 60.0)], tmp_path / "ledger.json", clock=clock, sleep=clock.sleep, state_url=None)
    q.answered()  # this thread never acquired
    assert q.boundary_guard == q.guard_cap  # still no samples


def test_an_unknown_lane_is_told_the_lanes(tmp_path):
    clock = FakeClock(1000.0)
    q = QuotaLimiter([(10, 60.0)], tmp_path / "ledger.json", clock=clock, sleep=clock.sleep, state_url=None)
    with pytest.raises(ValueError, match="^" + re.escape("quota lane 'urgent': expected one of fresh, bulk") + "$"):
        q.acquire("urgent")  # type: ignore[arg-type]
