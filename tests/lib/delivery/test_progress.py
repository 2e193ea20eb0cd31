"""Live progress of a delivery (issue 14): an event at least every progress_every_s while batches
are in flight, so a quota-bound delivery reports as it goes instead of going quiet; retries and
5xx answers counted in the events and logged as warnings; 5xx storms stop after a threshold."""

import logging
import time
from dataclasses import replace

import pytest

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient, UnreachableError
from replenit_pipelines.lib.delivery.report import BatchProgress, plural, progress_line
from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox

LIMITS = ((5, 0.5),)  # 10 requests a second: a time-scaled quota


def customers(n: int) -> list[dict]:
    return [{"CustomerId": f"c{i}", "Email": f"user{i}@example.com"} for i in range(n)]


def client_for(sb: Sandbox, tmp_path, **kw) -> ReplenitClient:
    tenant_id, key = sb.add_tenant()
    kw.setdefault("limits", LIMITS)
    kw.setdefault("max_in_flight", 2)
    return ReplenitClient(ClientConfig(base_url=sb.url, tenant_id=tenant_id, api_key=key, quota_dir=str(tmp_path / "q"),
                                       batch_sizes={"customers": 1}, backoff_base_s=0.01, backoff_cap_s=0.02,
                                       progress_every_s=0.2, seed=1, **kw))


def timed_delivery(sb: Sandbox, tmp_path, n: int) -> tuple[list[tuple[float, BatchProgress]], float]:
    events: list[tuple[float, BatchProgress]] = []
    with client_for(sb, tmp_path / str(n)) as client:
        started = time.monotonic()
        report = client.deliver("customers", customers(n), lambda p: events.append((time.monotonic(), p)))
        duration = time.monotonic() - started
    assert len(report.accepted) == n
    return events, duration


def test_progress_events_come_on_a_timer_so_their_number_grows_with_the_delivery(tmp_path):
    with Sandbox(limits=[(5, 0.5)]) as sb:
        short, short_s = timed_delivery(sb, tmp_path, 8)
        long, long_s = timed_delivery(sb, tmp_path, 30)
    assert long_s > 2 * short_s > 0.5  # the quota paces the deliveries
    # At least one event per progress_every_s (0.2 s) of the delivery, give or take the edges.
    assert len(long) >= long_s / 0.2 * 0.6
    assert len(long) > 2 * len(short)
    gaps = [b[0] - a[0] for a, b in zip(long, long[1:], strict=False)]
    # Never quiet much longer than the interval: nine gaps in ten within it (a loaded 2-core machine
    # may delay one tick by a scheduling slice, which is not what this checks), none over a second.
    assert sorted(gaps)[int(len(gaps) * 0.9)] < 0.2 + 0.15 and max(gaps) < 1.0
    # Counts move forward and the last event is the final one, with every request counted.
    done = [p.records_done for _, p in long]
    assert done == sorted(done) and long[-1][1].final and long[-1][1].records_done == 30
    assert long[-1][1].requests >= 30 and not any(p.final for _, p in long[:-1])


def test_retries_and_5xx_are_counted_in_the_events_and_logged_as_warnings(tmp_path, caplog):
    events: list[BatchProgress] = []
    # 10 attempts: the seeded 503s meet the two workers in thread order, and at 5 attempts a batch
    # failing all of them (0.3^5 per batch, 40 batches) failed this test about once in ten runs.
    with Sandbox(limits=[], faults=FaultConfig(seed=3, p503=0.3)) as sb, \
            client_for(sb, tmp_path, limits=(), max_attempts=10) as client:
        with caplog.at_level(logging.WARNING, logger="replenit_pipelines.delivery"):
            report = client.deliver("customers", customers(40), events.append)
    assert len(report.accepted) == 40
    last = events[-1]
    assert last.final and last.retries == report.counters.retries > 0
    assert last.server_errors >= last.retries  # every retry here followed a 503
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "HTTP 503" in r.getMessage()]
    assert len(warnings) == report.counters.retries
    assert "retry 1 of" in warnings[0].getMessage()


def test_a_5xx_storm_stops_the_delivery_after_the_threshold_of_batches(tmp_path):
    with Sandbox(limits=[], faults=FaultConfig(seed=1, p503=1.0)) as sb, \
            client_for(sb, tmp_path, limits=(), max_attempts=2, max_in_flight=1, max_unreachable_batches=3) as client:
        with pytest.raises(UnreachableError) as caught:
            client.deliver("customers", customers(50))
    report = caught.value.report
    assert report.counters.requests == 3 * 2  # three batches of two attempts, then nothing more
    assert "server errors on 3 batches in a row" in str(caught.value) and "REPLENIT_BASE_URL" in str(caught.value)
    assert len(report.failed) == 50 and not report.accepted


def test_progress_line_says_what_an_operator_asks_and_counts_in_good_english():
    p = BatchProgress("customers", 1, 3, 1, 3, 1, 0, 0, 12.4, requests=1, rate_limited=1, retries=1, server_errors=1)
    line = progress_line("customers 2026-01-01", p)
    assert "1/3 records done" in line and "1 request," in line and "1 answer 429 (rate limited)," in line and "1 retry" in line
    assert "ETA 12s by quota" in line and " 1 429" not in line
    assert plural(2, "request") == "2 requests" and plural(1, "retry", "retries") == "1 retry"


def test_progress_lines_are_pinned_whole_while_sending_at_the_end_and_when_stopped():
    p = BatchProgress("customers", 1500, 3000, 3, 6, 1400, 60, 40, 95.4, requests=12, rate_limited=2, retries=3,
                      server_errors=1)
    waits = "2 answers 429 (rate limited), 3 retries"
    assert progress_line("customers 2026-01-01", p) == (
        "customers 2026-01-01 sending: 1,500/3,000 records done (1,500 left, batch 3/6); accepted 1,400, rejected 60, "
        f"failed 40; 12 requests, {waits}; ETA 95s by quota")
    assert progress_line("customers", replace(p, records_done=3000, batches_done=6, final=True)) == (
        f"customers finished: 3,000/3,000 records done (batch 6/6); accepted 1,400, rejected 60, failed 40; 12 requests, {waits}")
    assert progress_line("customers", replace(p, final=True, stopped="HTTP 401: the API key was refused", not_sent=30)) == (
        "customers stopped after 12 requests: 1,400 of 3,000 records accepted, 60 rejected, 10 failed, 30 not sent; "
        f"{waits}. Why: HTTP 401: the API key was refused")


@pytest.mark.parametrize("batches", [1, 2, 3])
def test_only_the_last_event_of_a_delivery_is_final_however_few_its_batches(tmp_path, batches):
    # The first batch goes alone (a bad key costs one request): its event is the final one only when
    # it is the delivery's only batch.
    events: list[BatchProgress] = []
    with Sandbox(limits=[]) as sb, client_for(sb, tmp_path) as client:
        client.deliver("customers", customers(batches), events.append)
    assert [p.final for p in events][-1] is True and sum(p.final for p in events) == 1
    assert (events[0].batches_done, events[-1].batches_done) == (1, batches)
