"""The client's error paths through a fault-injecting httpx.MockTransport, on a fake clock.

The sandbox cannot produce every fault on cue (a 413 for one body, a 415, a reset on the third
request, a Retry-After as an HTTP date in the future), so these unit tests script the server's
answers; what the client does with them is checked on the requests it sent and on its report.
"""

import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from helpers import FakeClock

from replenit_pipelines.lib.delivery import BatchProgress, ClientConfig, ReplenitClient, UnreachableError
from replenit_pipelines.lib.delivery.quota import QuotaLimiter

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"
OK = {"success": True, "message": "Data received successfully", "data": {}}



class FaultServer:
    """Answers each request with the next scripted fault, then with `default(request, records)`.
    A scripted item is an httpx.Response, an exception to raise, or a callable of the records."""

    def __init__(self, clock: FakeClock, script=(), default=None):
        self.clock = clock
        self.script = list(script)
        self.default = default or (lambda request, records: httpx.Response(200, json=OK))
        self.seen: list[tuple[float, str, list]] = []  # (fake time, method, records in the body)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content) if request.content else []
        self.seen.append((self.clock.now, request.method, records))
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, Exception):
                raise item
            return item(request, records) if callable(item) else item
        return self.default(request, records)

    @property
    def sizes(self) -> list[int]:
        return [len(r) for _, _, r in self.seen]


def make_client(tmp_path, server: FaultServer, **kw) -> ReplenitClient:
    kw.setdefault("limits", ((10_000, 60.0),))
    kw.setdefault("backoff_base_s", 0.5)
    kw.setdefault("backoff_cap_s", 4.0)
    kw.setdefault("seed", 3)
    config = ClientConfig(base_url="http://127.0.0.1:9", tenant_id=TENANT, api_key="a2V5LWZvci10ZXN0cw",
                          quota_dir=str(tmp_path / "quota"), **kw)
    clock = server.clock
    client = ReplenitClient(config, transport=httpx.MockTransport(server), sleep=clock.sleep)
    client.quota = QuotaLimiter(list(config.limits), tmp_path / "ledger.json", clock=clock, sleep=clock.sleep)
    return client


def customers(n: int) -> list[dict]:
    return [{"CustomerId": f"c{i}", "Email": f"user{i}@example.com"} for i in range(n)]


@pytest.fixture
def clock():
    return FakeClock(time.time())  # wall time: an HTTP-date Retry-After is read against it


# --- 413 and other 4xx ----------------------------------------------------------------------------

def test_413_halves_the_body_until_it_fits(tmp_path, clock):
    def too_large_over_4(request, records):
        if len(records) > 4:
            return httpx.Response(413, json={"message": "Request body too large."})
        return httpx.Response(200, json=OK)

    server = FaultServer(clock, default=too_large_over_4)
    report = make_client(tmp_path, server).deliver("customers", customers(16))
    assert sorted(report.accepted) == list(range(16)) and not report.rejected and not report.failed
    assert server.sizes == [16, 8, 4, 4, 8, 4, 4]
    assert report.counters.rejected_requests == 3


def test_413_of_a_single_record_rejects_it_with_the_reason(tmp_path, clock):
    server = FaultServer(clock, default=lambda r, recs: httpx.Response(413, json={"message": "Request body too large."}))
    report = make_client(tmp_path, server).deliver("customers", customers(2))
    assert server.sizes == [2, 1, 1]
    assert report.rejected == {0: ["HTTP 413: Request body too large."], 1: ["HTTP 413: Request body too large."]}


def test_413_of_a_single_record_without_a_json_message_gives_the_first_200_characters_of_the_body(tmp_path, clock):
    # A proxy in front of the API answers with its own page, not the API's JSON.
    page = "<html><head><title>413 Request Entity Too Large</title></head><body>" + "x" * 300 + "</body></html>"
    server = FaultServer(clock, default=lambda r, recs: httpx.Response(413, text=page))
    report = make_client(tmp_path, server).deliver("customers", customers(1))
    assert report.rejected == {0: [f"HTTP 413: {page[:200]}"]}


@pytest.mark.parametrize("status,message", [
    (415, "Unsupported Media Type"), (404, "Not found."), (405, "Method not allowed"), (409, "Conflict"),
    (422, "Unprocessable"),
])
def test_other_4xx_rejects_the_batch_in_one_request_without_halving(tmp_path, clock, status, message):
    server = FaultServer(clock, default=lambda r, recs: httpx.Response(status, json={"message": message}))
    report = make_client(tmp_path, server).deliver("customers", customers(8))
    assert server.sizes == [8]
    assert report.rejected == {i: [f"HTTP {status}: {message}"] for i in range(8)}
    assert report.counters.retries == 0 and not report.accepted


def test_another_4xx_without_a_json_message_gives_the_first_200_characters_of_the_body(tmp_path, clock):
    # A proxy's own page for a wrong path: the batch is rejected whole with the page's start.
    page = "<html><head><title>404 Not Found</title></head><body>" + "y" * 300 + "</body></html>"
    server = FaultServer(clock, default=lambda r, recs: httpx.Response(404, text=page))
    report = make_client(tmp_path, server).deliver("customers", customers(2))
    assert server.sizes == [2]
    assert report.rejected == {0: [f"HTTP 404: {page[:200]}"], 1: [f"HTTP 404: {page[:200]}"]}


# --- 5xx, resets, timeouts ------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [
    httpx.Response(500), httpx.Response(502, text="Bad Gateway"), httpx.Response(503), httpx.Response(504, text="Gateway Timeout"),
    httpx.ConnectError("connection refused"), httpx.RemoteProtocolError("peer closed connection"),
    httpx.ReadError("connection reset by peer"), httpx.ReadTimeout("timed out"), httpx.ConnectTimeout("timed out"),
])
def test_transient_faults_are_retried_after_a_backoff(tmp_path, clock, fault):
    server = FaultServer(clock, script=[fault, fault])
    report = make_client(tmp_path, server, max_attempts=3).deliver("customers", customers(5))
    assert sorted(report.accepted) == list(range(5))
    assert server.sizes == [5, 5, 5]
    assert report.counters.retries == 2 and report.counters.requests == 3
    assert len(clock.sleeps) == 2 and 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0


@pytest.mark.parametrize("fault,reason", [
    (httpx.Response(502), "HTTP 502"), (httpx.Response(504), "HTTP 504"),
    (httpx.ReadTimeout("slow"), "timed out (ReadTimeout)"), (httpx.ConnectError("reset"), "connection failed (ConnectError)"),
])
def test_retries_run_out_into_failed_records_with_the_reason(tmp_path, clock, fault, reason):
    server = FaultServer(clock, script=[fault] * 4)
    client = make_client(tmp_path, server, max_attempts=4)
    if isinstance(fault, httpx.Response):
        report = client.deliver("customers", customers(3))
    else:  # no answer at all to a delivery's first batch: the API is unreachable and the delivery stops
        with pytest.raises(UnreachableError) as caught:
            client.deliver("customers", customers(3))
        assert caught.value.report is not None
        report = caught.value.report
    assert report.failed == {i: f"{reason}; gave up after 4 attempts" for i in range(3)}
    assert len(server.seen) == 4 and not report.accepted


# --- 429 and Retry-After in every form ------------------------------------------------------------

def retry_gap(tmp_path, clock, response: httpx.Response) -> float:
    """Fake seconds between a 429 and the request sent after it."""
    server = FaultServer(clock, script=[response])
    report = make_client(tmp_path, server, max_attempts=1).deliver("customers", customers(1))
    assert report.accepted == [0] and report.counters.rate_limited == 1 and report.counters.retries == 0
    assert len(server.seen) == 2
    return server.seen[1][0] - server.seen[0][0]


def rate_limited(headers=None, body=None) -> httpx.Response:
    return httpx.Response(429, headers=headers or {},
                          json=body if body is not None else {"success": False, "message": "Rate limit exceeded.", "data": {}})


def test_retry_after_whole_seconds(tmp_path, clock):
    assert retry_gap(tmp_path, clock, rate_limited({"Retry-After": "7"})) == pytest.approx(7.001, abs=1e-6)


def test_retry_after_fraction(tmp_path, clock):
    assert retry_gap(tmp_path, clock, rate_limited({"Retry-After": "0.25"})) == pytest.approx(0.251, abs=1e-6)


def test_retry_after_exact_sandbox_header_beats_the_whole_seconds(tmp_path, clock):
    gap = retry_gap(tmp_path, clock, rate_limited({"Retry-After": "1", "X-Sandbox-Retry-After-Exact": "0.412"}))
    assert gap == pytest.approx(0.413, abs=1e-6)


def test_retry_after_as_a_future_http_date_is_waited_for(tmp_path, clock):
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=90)
    gap = retry_gap(tmp_path, clock, rate_limited({"Retry-After": format_datetime(when, usegmt=True)}))
    assert 88.0 <= gap <= 90.1  # a date read as 0 (or as a number of seconds) fails here


def test_retry_after_in_the_v1_body(tmp_path, clock):
    body = {"success": False, "data": {"retryAfter": 12}}
    assert retry_gap(tmp_path, clock, rate_limited(body=body)) == pytest.approx(12.001, abs=1e-6)


def test_without_retry_after_the_window_reset_is_waited_for(tmp_path, clock):
    gap = retry_gap(tmp_path, clock, rate_limited({"X-RateLimit-Reset": str(time.time() + 20)}, body={}))
    assert 19.0 <= gap <= 20.1


def test_429s_are_capped_per_request(tmp_path, clock):
    # Ten 429s, then it would accept: a client without the cap sends until accepted.
    server = FaultServer(clock, script=[rate_limited({"Retry-After": "1"})] * 10)
    report = make_client(tmp_path, server, max_rate_limited=3).deliver("customers", customers(2))
    assert report.failed == {0: "rate limited 4 times in a row", 1: "rate limited 4 times in a row"}
    assert len(server.seen) == 4 and report.counters.rate_limited == 4


def test_a_429_is_not_a_failed_attempt(tmp_path, clock):
    server = FaultServer(clock, script=[rate_limited({"Retry-After": "1"})] * 3 + [httpx.Response(503)])
    report = make_client(tmp_path, server, max_attempts=2).deliver("customers", customers(2))
    assert sorted(report.accepted) == [0, 1]
    assert report.counters.rate_limited == 3 and report.counters.retries == 1


# --- 400: isolation by [i] keys, or by halving ------------------------------------------------------

def reject_bad(bad_ids: set[str], indexed: bool = True):
    def answer(request, records):
        errors = {}
        for i, record in enumerate(records):
            if record["CustomerId"] in bad_ids:
                errors[f"[{i}].Email" if indexed else "Email"] = ["The Email field is not a valid e-mail address."]
        if errors:
            return httpx.Response(400, json={"title": "One or more validation errors occurred.", "status": 400,
                                             "errors": errors})
        return httpx.Response(200, json=OK)
    return answer


def test_indexed_400_costs_one_extra_request(tmp_path, clock):
    server = FaultServer(clock, default=reject_bad({"c3", "c11", "c19"}))
    report = make_client(tmp_path, server).deliver("customers", customers(20))
    assert sorted(report.rejected) == [3, 11, 19]
    assert report.rejected[11] == ["Email: The Email field is not a valid e-mail address."]
    assert sorted(report.accepted) == [i for i in range(20) if i not in (3, 11, 19)]
    assert server.sizes == [20, 17]
    assert [r["CustomerId"] for r in server.seen[1][2]] == [f"c{i}" for i in range(20) if i not in (3, 11, 19)]


def test_indexed_400_in_a_later_batch_maps_to_that_batchs_records(tmp_path, clock):
    server = FaultServer(clock, default=reject_bad({"c7"}))
    report = make_client(tmp_path, server, batch_sizes={"customers": 5}, max_in_flight=1).deliver("customers", customers(10))
    assert list(report.rejected) == [7] and len(report.accepted) == 9


def test_unindexed_400_is_isolated_by_halving(tmp_path, clock):
    server = FaultServer(clock, default=reject_bad({"c5"}, indexed=False))
    report = make_client(tmp_path, server).deliver("customers", customers(16))
    assert list(report.rejected) == [5]
    assert report.rejected[5] == ["Email: The Email field is not a valid e-mail address."]
    assert len(report.accepted) == 15
    # 16 fails; 8 (0-7) fails, 8 passes; 4 (4-7) fails, 4 passes; 2 (4-5) fails, 2 passes; 1 fails, 1 passes.
    assert sorted(server.sizes) == [1, 1, 2, 2, 4, 4, 8, 8, 16]


def test_an_index_outside_the_body_falls_back_to_halving(tmp_path, clock):
    out_of_range = httpx.Response(400, json={"errors": {"[40].Email": ["bad"]}})
    server = FaultServer(clock, script=[out_of_range])
    report = make_client(tmp_path, server).deliver("customers", customers(4))
    assert sorted(report.accepted) == [0, 1, 2, 3] and server.sizes == [4, 2, 2]


def test_a_400_without_errors_is_isolated_by_halving(tmp_path, clock):
    def bad_request_with_c0(request, records):
        if any(r["CustomerId"] == "c0" for r in records):
            return httpx.Response(400, json={"message": "Bad request"})
        return httpx.Response(200, json=OK)

    server = FaultServer(clock, default=bad_request_with_c0)
    report = make_client(tmp_path, server).deliver("customers", customers(4))
    assert sorted(server.sizes) == [1, 1, 2, 2, 4]
    assert list(report.rejected) == [0] and report.rejected[0] == ["HTTP 400: Bad request"]


# --- deletes --------------------------------------------------------------------------------------

def test_delete_retries_a_504_and_reads_404_as_already_gone(tmp_path, clock):
    server = FaultServer(clock, script=[httpx.Response(504), httpx.Response(404, json={"message": "Customer not found."})])
    client = make_client(tmp_path, server)
    outcome = client.delete_customer("c 1/x")
    assert outcome.status == "already_gone" and outcome.reason == "Customer not found."
    assert [m for _, m, _ in server.seen] == ["DELETE", "DELETE"]


def test_a_delete_answered_neither_done_nor_gone_is_failed_with_the_status_and_the_apis_words(tmp_path, clock):
    def answer(request, records):
        customer = request.url.path.rsplit("/", 1)[1]
        if customer == "c1":
            return httpx.Response(409, json={"message": "Customer is being merged."})
        if customer == "c2":
            return httpx.Response(422, text="no JSON here")
        return httpx.Response(200, json=OK)

    report = make_client(tmp_path, FaultServer(clock, default=answer)).delete_records("customers", ["c0", "c1", "c2"])
    assert report.deleted == [0]
    assert report.failed == {1: "HTTP 409: Customer is being merged.", 2: "HTTP 422: no JSON here"}


def test_a_failed_delete_counts_as_done_in_the_progress(tmp_path, clock):
    # Progress of deletes: a failed delete is settled (done, counted failed), so the last event
    # says 3 of 3 done, not 1 of 3 with nothing left to send.
    def answer(request, records):
        customer = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(409, json={"message": "Customer is being merged."}) if customer != "c0" else httpx.Response(200, json=OK)

    events: list[BatchProgress] = []
    report = make_client(tmp_path, FaultServer(clock, default=answer)).delete_records("customers", ["c0", "c1", "c2"], events.append)
    assert (report.deleted, sorted(report.failed)) == ([0], [1, 2])
    last = events[-1]
    assert (last.records_done, last.records_total, last.batches_done, last.batches_total) == (3, 3, 3, 3)
    assert (last.accepted, last.rejected, last.failed) == (1, 0, 2)


def test_each_retry_is_a_warning_naming_the_method_the_entity_and_the_reason(tmp_path, clock, caplog):
    server = FaultServer(clock, script=[httpx.Response(503), httpx.ReadTimeout("slow")])
    client = make_client(tmp_path, server, max_attempts=3)
    with caplog.at_level(logging.WARNING, logger="replenit_pipelines.delivery"):
        report = client.deliver("customers", customers(2))
        server.script.append(httpx.Response(503))
        outcome = client.delete_order("o 1/x")
    assert sorted(report.accepted) == [0, 1] and outcome.status == "deleted"
    messages = [r.getMessage() for r in caplog.records if r.name == "replenit_pipelines.delivery"]
    assert len(messages) == 3, messages
    for message, expected in zip(messages, [r"POST customers: HTTP 503; retry 1 of 2", r"POST customers: timed out \(ReadTimeout\); retry 2 of 2",
                                            r"DELETE orders: HTTP 503; retry 1 of 2"], strict=True):
        assert re.fullmatch(expected + r" in \d\.\d\ds", message), message


def test_every_5xx_answer_is_counted_once_in_server_errors(tmp_path, clock):
    # DeliveryCounters.server_errors: 5xx answers, each retried or a request's last attempt.
    server = FaultServer(clock, script=[httpx.Response(503), httpx.Response(500), httpx.ConnectError("refused"),
                                       httpx.Response(502)])
    report = make_client(tmp_path, server, max_attempts=5).deliver("customers", customers(3))
    assert sorted(report.accepted) == [0, 1, 2]
    assert (report.counters.requests, report.counters.retries, report.counters.server_errors) == (5, 4, 3)


def test_an_index_just_past_the_bodys_last_record_falls_back_to_halving(tmp_path, clock):
    # "[4]" of a body of 4 (indices 0-3) names no record of it: halved, not read as a record.
    past_the_end = httpx.Response(400, json={"errors": {"[4].Email": ["bad"]}})
    server = FaultServer(clock, script=[past_the_end])
    report = make_client(tmp_path, server).deliver("customers", customers(4))
    assert sorted(report.accepted) == [0, 1, 2, 3] and not report.rejected and not report.failed
    assert server.sizes == [4, 2, 2]
