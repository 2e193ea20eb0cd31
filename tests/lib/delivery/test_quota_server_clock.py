"""A server whose clock is not ours: its fixed windows start seconds before or after ours, so a
limiter that counts by its own clock meets the previous window's full count at every edge (a 429
per window, for good). The limiter learns the skew from two 429s that agree and sends by the
server's windows after that. The server here is the sandbox's own quota (lib/sandbox/ratelimit.py)
on a clock offset from the test's injected one; Retry-After as the API sends it: whole seconds,
rounded up."""

import math
import random
from datetime import datetime

import pytest
from helpers import FakeClock

from replenit_pipelines.lib.delivery.quota import QuotaLimiter
from replenit_pipelines.lib.plan.quota import quota_snapshot
from replenit_pipelines.lib.sandbox.ratelimit import KeyQuota, whole_seconds_up

WINDOWS = [(100, 60.0), (5000, 3600.0)]
# A request takes 0.05 s here, so a window's 100 go out in its first 5 s: a server whose edge falls
# within those (a clock up to 5 s behind) refuses some at every edge unless the limiter learns it.


@pytest.fixture(autouse=True)
def backend(state_backend):
    """Every test here on both quota ledgers: the JSON file and Postgres (REPLENIT_STATE_URL)."""
    return state_backend


def limiter(tmp_path, clock, name="ledger.json"):
    q = QuotaLimiter(WINDOWS, tmp_path / name, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        q.record_latency(0.05)
    return q


def run(q: QuotaLimiter, clock: FakeClock, offset: float, requests: int, exact: bool = False) -> tuple[list[float], list[float]]:
    """`requests` requests through `q` to a server whose clock is ours + `offset`: (the times of the
    accepted ones, the times of the 429s)."""
    server = KeyQuota(WINDOWS)
    accepted: list[float] = []
    refused: list[float] = []
    while len(accepted) < requests:
        q.acquire("fresh")
        decision = server.hit(clock.now + offset)
        clock.now += 0.05  # the request's own time: the answer comes back after it
        q.answered()
        if decision.allowed:
            accepted.append(clock.now)
        else:
            refused.append(clock.now)
            q.rate_limited(decision.retry_after if exact else whole_seconds_up(decision.retry_after), whole_seconds=not exact)
    return accepted, refused


@pytest.mark.parametrize("offset", [-2.5, -0.4, -4.0, 3.0])
def test_a_server_clock_behind_or_ahead_costs_two_429s_then_none(tmp_path, offset):
    clock = FakeClock(36000.0 + 0.3)
    q = limiter(tmp_path, clock)
    accepted, refused = run(q, clock, offset, 1500)
    assert len(refused) <= 2, f"429s at {[round(t - 36000, 2) for t in refused]}"
    if refused:  # learned: the windows are the server's, to the second its whole-second figure gives
        assert q.server_skew() == pytest.approx(-offset, abs=1.0)
    # The quota is still used: 1,500 requests in 15 of the server's minutes and a part of a 16th.
    assert accepted[-1] - 36000.0 <= 16 * 60


def test_exact_retry_after_learns_the_skew_to_the_answers_latency(tmp_path):
    clock = FakeClock(36000.0 + 0.3)
    q = limiter(tmp_path, clock)
    accepted, refused = run(q, clock, -2.5, 1500, exact=True)
    assert len(refused) == 2 and q.server_skew() == pytest.approx(2.5, abs=0.1)


def test_the_skew_is_the_keys_every_limiter_of_the_ledger_sends_by_it(tmp_path):
    clock = FakeClock(36000.0 + 0.3)
    first = limiter(tmp_path, clock)
    run(first, clock, -2.5, 300)
    later = limiter(tmp_path, clock)  # another run of the key, after the first learned it
    accepted, refused = run(later, clock, -2.5, 500)
    assert refused == [] and later.server_skew() == pytest.approx(first.server_skew())
    # `replenit quota` shows it (and the view's time is ours, not the server's)
    view = quota_snapshot(later).as_dict()
    assert view["server_clock_behind_s"] == pytest.approx(first.server_skew(), abs=1e-3) and view["server_clock_behind_s"] > 2
    assert abs(datetime.fromisoformat(view["at"]).timestamp() - clock.now) < 1e-3


def test_429s_of_clients_elsewhere_teach_nothing(tmp_path):
    """Another client spends the key's windows: 429s anywhere in a window, their Retry-After the
    time to the server's (= our) edge, or a whole or half window as some servers send. No skew is
    learned."""
    clock = FakeClock(36000.0)
    q = limiter(tmp_path, clock)
    rng = random.Random(5)
    for window in range(200):
        clock.now = 36000.0 + 60 * window + rng.uniform(0, 60)
        q.acquire("fresh")
        q.answered()
        to_edge = 60 * (window + 1) - (clock.now - 36000.0)
        q.rate_limited(rng.choice([whole_seconds_up(to_edge), 30.0, 60.0]))
    assert q.server_skew() == 0.0


def test_a_skew_kept_after_the_servers_clock_is_set_right_costs_nothing(tmp_path):
    clock = FakeClock(36000.0 + 0.3)
    q = limiter(tmp_path, clock)
    run(q, clock, -3.0, 400)
    assert q.server_skew() == pytest.approx(3.0, abs=1.0)
    start = clock.now
    accepted, refused = run(q, clock, 0.0, 800)  # the server's clock is set right (NTP)
    assert refused == [] and accepted[-1] - start <= 9 * 60  # our windows begin later than the server's: no 429


def test_a_limiter_new_to_the_ledger_counts_by_the_learned_skew_at_its_first_look(tmp_path):
    """`replenit quota`, plans and ETAs build a limiter of the key's ledger and look once: that first
    look is on the server's clock already (the skew is the ledger's), as a limiter that has sent is."""
    clock = FakeClock(36000.0 + 0.3)
    sender = limiter(tmp_path, clock)
    run(sender, clock, -2.5, 300)
    skew = sender.server_skew()
    assert skew > 2
    # A second after our edge: the server (and the ledger, by its windows) is still in the previous window.
    clock.now = (math.floor(clock.now / 60) + 1) * 60 + 1.0
    warm = quota_snapshot(sender)
    view = quota_snapshot(QuotaLimiter(WINDOWS, tmp_path / "ledger.json", clock=clock, sleep=clock.sleep))
    assert view.at == warm.at == pytest.approx(clock.now - skew)
    assert view.windows == warm.windows and view.blocked_until == warm.blocked_until
    assert datetime.fromisoformat(view.as_dict()["at"]).timestamp() == pytest.approx(clock.now, abs=1e-3)
    assert view.as_dict()["blocked_for_s"] == warm.as_dict()["blocked_for_s"]
    fresh = QuotaLimiter(WINDOWS, tmp_path / "ledger.json", clock=clock, sleep=clock.sleep)
    assert fresh.eta_seconds(150) == pytest.approx(sender.eta_seconds(150))
    assert QuotaLimiter(WINDOWS, tmp_path / "ledger.json", clock=clock).used() == sender.used()


def bursts(q: QuotaLimiter, clock: FakeClock, server: KeyQuota, offset: float, until: float, rng: random.Random) -> list[float]:
    """Bursts of 30 requests every 5-25 s (more than the key's 100 a minute: windows fill, their last
    seconds are used) to `server` on a clock ours + `offset`, until `until`: the times of the 429s."""
    refused = []
    while clock.now < until:
        for _ in range(30):
            q.acquire("fresh")
            decision = server.hit(clock.now + offset)
            clock.now += 0.05
            q.answered()
            if not decision.allowed:
                refused.append(clock.now)
                q.rate_limited(whole_seconds_up(decision.retry_after))
        clock.now += rng.uniform(5, 25)
    return refused


def test_a_skew_learned_is_forgotten_once_the_servers_clock_is_set_right(tmp_path):
    """Learned from a server 3 s behind; then its clock is set right (NTP). A kept skew begins our
    windows 3 s after the server's, and a window whose last seconds are used meets a 429 (3-4 an
    hour, for good): two 429s that end at our own clock's edge forget it."""
    clock, rng = FakeClock(36000.0 + 0.3), random.Random(7)
    q, server = limiter(tmp_path, clock), KeyQuota(WINDOWS)
    bursts(q, clock, server, -3.0, 36000.0 + 3600, rng)
    assert q.server_skew() == pytest.approx(3.0, abs=1.0)
    fixed_at = clock.now
    refused = bursts(q, clock, server, 0.0, fixed_at + 2 * 3600, rng)
    assert q.server_skew() == 0.0
    assert len(refused) <= 3, [round(t - fixed_at) for t in refused]  # kept, 8-15 in these two hours
