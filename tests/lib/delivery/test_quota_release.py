"""A quota slot given back (QuotaLimiter.release: the send-time check left nothing to send) and the
server's counts taken in (observe), on the JSON ledger and an injected clock: every count the
request took is returned, the tenant's fair share included, and nothing is invented."""

import threading

import pytest
from helpers import FakeClock, fast_link_limiter

from replenit_pipelines.lib.delivery.quota import MIN_LATENCY_SAMPLES, QuotaLimiter


@pytest.fixture(autouse=True)
def on_the_file_ledger(monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)


def test_a_released_request_is_given_back_to_the_window_its_lane_and_its_tenant(tmp_path):
    clock = FakeClock(1020.0)  # mid-window: nothing counted in the next one by the edge guard
    q = fast_link_limiter(tmp_path / "ledger.json", [(10, 60.0)], clock=clock, sleep=clock.sleep)
    q.acquire("bulk", "tenant-a")
    q.acquire("bulk", "tenant-b")
    q.acquire("bulk", "tenant-b")
    assert q.tenant_counts() == {60.0: {"tenant-a": {"bulk": 1}, "tenant-b": {"bulk": 2}}}
    q.release()  # this thread's last request: tenant-b's second
    assert q.used() == {60.0: 2}
    assert q.lane_counts()["bulk"] == {60.0: {17: 2}}
    assert q.tenant_counts() == {60.0: {"tenant-a": {"bulk": 1}, "tenant-b": {"bulk": 1}}}
    q.release()  # given back once only
    q.acquire("bulk", "tenant-c")
    q.release()  # a tenant's only grant: it has none left
    assert q.tenant_counts() == {60.0: {"tenant-a": {"bulk": 1}, "tenant-b": {"bulk": 1}}}
    assert q.used() == {60.0: 2}


def test_release_on_a_thread_that_acquired_nothing_gives_nothing_back(tmp_path):
    clock = FakeClock(1020.0)
    q = fast_link_limiter(tmp_path / "ledger.json", [(10, 60.0)], clock=clock, sleep=clock.sleep)
    q.release()  # nothing acquired yet
    q.acquire("fresh")
    errors: list[BaseException] = []

    def release_elsewhere() -> None:
        try:
            q.release()
        except BaseException as exc:  # noqa: BLE001 - the thread's failure is the test's
            errors.append(exc)

    other = threading.Thread(target=release_elsewhere)
    other.start()
    other.join()
    assert errors == [] and q.used() == {60.0: 1}


def test_a_released_request_records_no_latency_when_answered_is_called_after_it(tmp_path):
    clock = FakeClock(1020.0)
    q = QuotaLimiter([(10, 60.0)], tmp_path / "ledger.json", clock=clock, sleep=clock.sleep)
    q.acquire("fresh")
    q.release()
    q.answered()  # nothing in flight on this thread: nothing to measure
    assert q.guard_outlook()[1] == MIN_LATENCY_SAMPLES
    q.acquire("fresh")
    q.answered()
    assert q.guard_outlook()[1] == MIN_LATENCY_SAMPLES - 1


def test_release_after_the_ledger_was_removed_gives_back_nothing_and_does_not_fail(tmp_path):
    clock = FakeClock(1020.0)
    ledger = tmp_path / "ledger.json"
    q = fast_link_limiter(ledger, [(10, 60.0), (100, 3600.0)], clock=clock, sleep=clock.sleep)
    q.acquire("bulk", "tenant-a")
    ledger.unlink()  # the quota folder cleaned while a request was between its acquire and its send
    q.release()
    assert q.used() == {60.0: 0, 3600.0: 0} and q.tenant_counts() == {60.0: {}, 3600.0: {}}


def test_a_server_count_of_zero_for_a_window_we_never_counted_stays_zero(tmp_path):
    clock = FakeClock(1020.0)
    q = fast_link_limiter(tmp_path / "ledger.json", [(100, 60.0)], clock=clock, sleep=clock.sleep)
    q.observe(100, 100, 1080.0)  # the server has counted nothing in the window ending at 1080
    assert q.used() == {60.0: 0}
    assert q.eta_seconds(100) == 0.0  # the whole window is still free
