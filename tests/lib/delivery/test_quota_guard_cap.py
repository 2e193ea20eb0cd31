"""The window-edge guard on the API's own quota (100 a minute, 5,000 an hour): before any latency is
known it is its cap, half the shortest window but at most 10 s. On a minute, half is 30 s; without
the 10 s bound a request sent 30 s before the minute's end would count in the next minute too, and
the key would spend a third of each minute's quota on double counts. On an injected clock."""

import pytest
from helpers import FakeClock

from replenit_pipelines.lib.delivery.quota import QuotaLimiter

API_LIMITS = [(100, 60.0), (5000, 3600.0)]


@pytest.mark.parametrize(("before_end", "counted_next"), [(10.5, False), (9.5, True)])
def test_on_the_apis_minute_the_guard_without_latency_samples_is_10_seconds(tmp_path, monkeypatch, before_end,
                                                                             counted_next):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    clock = FakeClock(3600.0 * 100 + 60.0 - before_end)  # the first minute of an hour, `before_end` s before its end
    q = QuotaLimiter(API_LIMITS, tmp_path / "ledger.json", clock=clock, sleep=clock.sleep)
    assert q.boundary_guard == 10.0
    assert q.acquire("fresh") == 0.0
    clock.now = 3600.0 * 100 + 61.0  # the next minute
    assert q.used()[60.0] == (1 if counted_next else 0)
