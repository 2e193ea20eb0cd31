"""The quota limiter, pacing, the window-edge guard and backoff on an injected clock: no test here
sleeps, so none can flake under load. The few end-to-end wall-clock tests live in
test_delivery_client.py and test_sandbox_quota_faults.py."""

import httpx
import pytest
from helpers import FakeClock

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.quota import QuotaLimiter

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture(autouse=True)
def backend(state_backend):
    """Every test here on both quota ledgers: the JSON file and Postgres (REPLENIT_STATE_URL)."""
    return state_backend


def limiter(tmp_path, windows, clock, name="ledger.json", latency=0.004):
    q = QuotaLimiter(windows, tmp_path / name, clock=clock, sleep=clock.sleep)
    for _ in range(50):  # a known fast link: the guard is its floor, not the cap
        q.record_latency(latency)
    return q


# --- the limiter ----------------------------------------------------------------------------------

def test_a_full_window_waits_exactly_until_the_next_one(tmp_path):
    clock = FakeClock(1000.2)
    q = limiter(tmp_path, [(3, 1.0)], clock)
    assert [q.acquire("fresh") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert q.used() == {1.0: 3}
    waited = q.acquire("fresh")  # the 4th of the window waits for 1001.0, a hair past it
    assert waited == pytest.approx(0.8 + 0.001)
    assert clock.now == pytest.approx(1001.001)
    assert q.used() == {1.0: 1}


def test_the_longer_window_binds_across_short_ones(tmp_path):
    clock = FakeClock(3600.0 * 10 + 0.1)  # just after an hour boundary (a 10 s window is within it)
    q = limiter(tmp_path, [(5, 1.0), (12, 10.0)], clock)
    sent_at = []
    for _ in range(13):
        q.acquire("fresh")
        sent_at.append(clock.now)
    # 5 a second would allow 50 in the 10 s window; 12 is the cap, so the 13th waits for the next.
    in_first = [t for t in sent_at if t < 36010.0]
    assert len(in_first) == 12
    assert sent_at[-1] >= 36010.0
    for second in range(36000, 36010):
        assert sum(second <= t < second + 1 for t in sent_at) <= 5


def test_sent_requests_never_exceed_any_window_over_a_long_run(tmp_path):
    clock = FakeClock(7200.0)
    q = limiter(tmp_path, [(100, 60.0), (1000, 3600.0)], clock)
    sent_at = []
    for _ in range(1200):
        q.acquire("fresh")
        sent_at.append(clock.now)
        clock.now += 0.05  # the request's own time
    per_minute: dict[int, int] = {}
    per_hour: dict[int, int] = {}
    for t in sent_at:
        per_minute[int(t // 60)] = per_minute.get(int(t // 60), 0) + 1
        per_hour[int(t // 3600)] = per_hour.get(int(t // 3600), 0) + 1
    assert max(per_minute.values()) <= 100 and max(per_hour.values()) <= 1000
    # ... and the quota is used, not wasted: full minutes but for the guard's double counts.
    assert sorted(per_minute.values())[len(per_minute) // 2] >= 95


@pytest.mark.parametrize("before_end,counted_next", [(0.5, False), (0.02, False), (0.004, True), (0.001, True)])
def test_a_request_within_the_guard_of_a_windows_end_counts_in_the_next_one(tmp_path, before_end, counted_next):
    clock = FakeClock(1001.0 - before_end)
    q = limiter(tmp_path, [(30, 1.0)], clock)  # floor guard: 1% of 1 s = 0.01 s
    assert q.boundary_guard == pytest.approx(0.01)
    q.acquire("fresh")
    clock.now = 1001.5
    assert q.used() == {1.0: 1 if counted_next else 0}


def test_without_latency_samples_the_guard_is_the_cap(tmp_path):
    clock = FakeClock(1000.0)
    q = QuotaLimiter([(30, 1.0), (200, 10.0)], tmp_path / "l.json", clock=clock, sleep=clock.sleep)
    assert q.boundary_guard == pytest.approx(0.5)
    clock.now = 1000.6  # 0.4 s before the end: within the cap
    q.acquire("fresh")
    clock.now = 1001.2
    assert q.used()[1.0] == 1


def test_block_for_holds_every_request_until_retry_after(tmp_path):
    clock = FakeClock(1000.0)
    q = limiter(tmp_path, [(100, 60.0)], clock)
    q.block_for(2.5)
    assert q.acquire("fresh") == pytest.approx(2.501)
    assert clock.now == pytest.approx(1002.501)
    q.block_for(1.0)
    q.block_for(0.2)  # a shorter block never shortens a longer one
    assert q.acquire("fresh") == pytest.approx(1.001)


def test_the_servers_higher_count_replaces_ours_and_a_lower_one_does_not(tmp_path):
    clock = FakeClock(1020.0)
    q = limiter(tmp_path, [(100, 60.0)], clock)
    q.acquire("fresh")
    q.observe(100, 40, 1080.0)  # the server has seen 60 in the window ending at 1080
    assert q.used() == {60.0: 60}
    q.observe(100, 90, 1080.0)  # lower than ours: ours stands
    assert q.used() == {60.0: 60}
    q.observe(100, 0, 1140.0)  # a later window: not this one
    q.observe(5000, 0, 1080.0)  # another window's limit: ignored
    q.observe(100, 0, 1050.0)  # a reset that is no window's end: ignored
    assert q.used() == {60.0: 60}


def test_eta_counts_the_windows_still_needed(tmp_path):
    clock = FakeClock(1030.0)
    q = limiter(tmp_path, [(100, 60.0)], clock)
    for _ in range(40):
        q.acquire("fresh")
    assert q.eta_seconds(0) == 0.0
    assert q.eta_seconds(60) == 0.0  # fits this window
    assert q.eta_seconds(61) == pytest.approx(50.0)  # the next window starts at 1080
    assert q.eta_seconds(261) == pytest.approx(50.0 + 120.0)  # and two more after it
    q.block_for(70.0)
    assert q.eta_seconds(1) == pytest.approx(70.0)


def test_two_limiters_of_one_ledger_share_one_budget(tmp_path):
    clock = FakeClock(1000.0)
    a = limiter(tmp_path, [(4, 1.0)], clock)
    b = limiter(tmp_path, [(4, 1.0)], clock)
    for _ in range(2):
        a.acquire("fresh")
        b.acquire("fresh")
    assert b.acquire("fresh") == pytest.approx(1.001)
    with b._state(write=False) as state:  # the ledger both share: file or Postgres rows
        assert state["counts"]["1.0"] == {"1001": 1}


# --- the client's pacing and backoff through the limiter ----------------------------------------

def paced_client(tmp_path, handler, clock, **kw) -> ReplenitClient:
    kw.setdefault("limits", ((3, 1.0),))
    kw.setdefault("seed", 7)
    config = ClientConfig(base_url="http://127.0.0.1:9", tenant_id=TENANT, api_key="a2V5",
                          quota_dir=str(tmp_path / "quota"), **kw)
    client = ReplenitClient(config, transport=httpx.MockTransport(handler), sleep=clock.sleep)
    # The client's own limiter reads the wall clock; on the fake one, pacing is exact and instant.
    client.quota = limiter(tmp_path, list(config.limits), clock, name="paced.json")
    return client


def test_the_client_paces_its_batches_to_the_window(tmp_path):
    clock = FakeClock(1000.0)
    sent_at = []

    def handler(request):
        sent_at.append(clock.now)
        clock.now += 0.01
        return httpx.Response(200, json={"success": True})

    client = paced_client(tmp_path, handler, clock, batch_sizes={"customers": 1}, max_in_flight=1)
    report = client.deliver("customers", [{"CustomerId": f"c{i}"} for i in range(10)])
    assert len(report.accepted) == 10 and report.counters.rate_limited == 0
    assert [int(t) for t in sent_at] == [1000] * 3 + [1001] * 3 + [1002] * 3 + [1003]
    assert report.counters.quota_wait_s > 0


def test_backoff_is_exponential_with_full_jitter_and_capped(tmp_path):
    """Over many seeds, the pause before retry k lies in [0, min(cap, base * 2**(k-1))] and
    reaches near both ends: full jitter on an exponential step, not a constant or fixed one."""
    base, cap, attempts = 0.1, 0.5, 6
    by_retry: dict[int, list[float]] = {k: [] for k in range(1, attempts)}
    for seed in range(60):
        clock = FakeClock(1000.0)
        calls = []

        def handler(request, calls=calls, clock=clock):  # this seed's list and clock, bound now
            calls.append(clock.now)
            return httpx.Response(503, json={"message": "busy"})

        client = paced_client(tmp_path, handler, clock, limits=((10_000, 60.0),), max_attempts=attempts,
                              backoff_base_s=base, backoff_cap_s=cap, seed=seed)
        report = client.deliver("customers", [{"CustomerId": "c1"}])
        assert report.failed and "HTTP 503; gave up after 6 attempts" in report.failed[0]
        assert len(calls) == attempts
        assert report.counters.retries == attempts - 1
        assert report.counters.backoff_wait_s == pytest.approx(sum(clock.sleeps))
        for k, pause in enumerate(clock.sleeps, start=1):
            by_retry[k].append(pause)
    for k, pauses in by_retry.items():
        bound = min(cap, base * 2 ** (k - 1))
        assert all(0 <= p <= bound for p in pauses), k
        assert max(pauses) > 0.8 * bound, k  # the step grows: 0.1, 0.2, 0.4, then the cap 0.5
        assert min(pauses) < 0.2 * bound, k  # full jitter: from zero, not from half the step


# --- the sandbox's quota on an injected clock ----------------------------------------------------

def test_the_sandbox_counts_refused_requests_in_every_window():
    from replenit_pipelines.lib.sandbox.ratelimit import KeyQuota

    quota = KeyQuota([(2, 1.0), (3, 10.0)])
    assert [quota.hit(100.1).allowed for _ in range(3)] == [True, True, False]  # the 3rd is a 429 ...
    # ... and counts: the 10 s window is full at the next second, though only 2 were accepted.
    decision = quota.hit(101.1)
    assert not decision.allowed and decision.limit == 3 and decision.remaining == 0
    assert decision.retry_after == pytest.approx(110.0 - 101.1)
    assert quota.hit(110.0).allowed  # a new 10 s window
