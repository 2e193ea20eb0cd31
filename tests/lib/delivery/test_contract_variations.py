"""The client against contract-valid answers the sandbox does not give (issue 22: an independent
emulator written from shared/replenit-api.md). Each test runs a tiny HTTP server on loopback
that answers as the contract allows, and checks what the client sends and reports."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
KEY = "ZW11bGF0b3Ita2V5LTE="
SAVED = {"success": True, "message": "Customers saved.", "data": {"count": 1, "processedAt": "2026-12-07T21:00:00Z"}}


class ScriptedServer(ThreadingHTTPServer):
    """Answers request n with script[n] (status, headers, body), then 200 Customers saved.;
    records when each request arrived (wall clock)."""

    daemon_threads = True

    def __init__(self, script: list[tuple[int, dict[str, str], dict | None]], delay_ok_s: float = 0.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.delay_ok_s = delay_ok_s  # a slow 200 (contract-valid): the other workers' answers come later
        self.arrivals: list[float] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ScriptedServer

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.arrivals.append(time.time())
            status, headers, body = self.server.script.pop(0) if self.server.script else (200, {}, SAVED)
            self.server.statuses.append(status)
        if status == 200:
            time.sleep(self.server.delay_ok_s)
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8" if body is not None else "text/plain")
        self.send_header("content-length", str(len(raw)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def serve():
    servers: list[ScriptedServer] = []

    def start(script, **kw):
        server = ScriptedServer(script, **kw)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def client_for(server: ScriptedServer, tmp_path, **kw) -> ReplenitClient:
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_cap_s", 0.02)
    return ReplenitClient(ClientConfig(base_url=server.url, tenant_id=TENANT, api_key=KEY, limits=((10_000, 60.0),),
                                       quota_dir=str(tmp_path / "quota"), seed=1, **kw))


@pytest.mark.parametrize("status", [503, 500])
def test_a_5xx_with_retry_after_is_retried_no_sooner_than_it_says(serve, tmp_path, status):
    # The contract: retry 5xx "with exponential backoff and jitter ..., honouring Retry-After when
    # present". A backoff of 10-20 ms must not resend before the server's 1 s.
    server = serve([(status, {"retry-after": "1"}, None)])
    with client_for(server, tmp_path) as client:
        report = client.deliver("customers", [{"CustomerId": "c1", "Email": "c1@example.com"}])
    assert report.accepted == [0] and report.counters.retries == 1 and report.counters.server_errors == 1
    assert len(server.arrivals) == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.95


def test_a_5xx_retry_after_holds_back_the_other_workers_of_the_key(serve, tmp_path):
    # A 503 with Retry-After while another batch is in flight: the server is unavailable, so the
    # other worker spends no request of the key's quota before the time it gave either (each would
    # meet another 503). The first batch goes alone; the 200s take 0.1 s, the 503 comes at once.
    server = serve([(200, {}, SAVED), (503, {"retry-after": "1"}, None)], delay_ok_s=0.1)
    records = [{"CustomerId": f"c{i}", "Email": f"c{i}@example.com"} for i in range(8)]
    with client_for(server, tmp_path, batch_sizes={"customers": 1}, max_in_flight=2) as client:
        report = client.deliver("customers", records)
    assert sorted(report.accepted) == list(range(8))
    unavailable = server.arrivals[server.statuses.index(503)]
    too_soon = [round(t - unavailable, 3) for t in server.arrivals if unavailable + 0.05 < t < unavailable + 0.95]
    assert too_soon == []


def test_a_5xx_without_retry_after_keeps_the_short_backoff(serve, tmp_path):
    server = serve([(502, {}, None)])
    with client_for(server, tmp_path) as client:
        report = client.deliver("customers", [{"CustomerId": "c1", "Email": "c1@example.com"}])
    assert report.accepted == [0]
    assert server.arrivals[1] - server.arrivals[0] < 0.5


# --- a record no body can carry -----------------------------------------------------------------

def big_product(product_id: str, bytes_at_least: int) -> dict:
    # Taxonomy has no length limit in the contract: a product record can outgrow any request body.
    entries = bytes_at_least // 40 + 1
    return {"ProductId": product_id, "ProductVariants": [], "Taxonomy": [f"category-{i:08d}-xxxxxxxxxxxxxxxxxxx" for i in range(entries)]}


@pytest.mark.parametrize("gzip", [False, True])
def test_a_record_over_the_body_limit_is_rejected_without_a_request(sandbox, records_in_sandbox, tmp_path, gzip):
    # The contract: a body over 5,000,000 bytes (as sent) is answered 413. A record that alone is
    # larger can never be accepted: sending it spends a request of the quota (and 5 MB) on a 413.
    import httpx

    tenant_id, key = sandbox.add_tenant()
    huge = big_product("huge", 5_200_000)
    if gzip:  # gzipped, what is sent is small: the API reads it (the limit is on the body as sent)
        huge["Taxonomy"] = ["same-category-name-xxxxxxxxxxxxxxxxxxxx"] * 140_000
    records = [huge, {"ProductId": "small", "ProductVariants": []}]
    with ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), gzip=gzip,
                                     quota_dir=str(tmp_path / "quota"))) as client:
        report = client.deliver("products", records)
    sent = [r for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json() if tenant_id in r["path"]]
    if gzip:
        assert sorted(report.accepted) == [0, 1] and [r["status"] for r in sent] == [200, 200]
        return
    assert report.accepted == [1] and list(report.rejected) == [0]
    assert "over the API's body limit of 5,000,000 bytes" in report.rejected[0][0]
    assert [r["status"] for r in sent] == [200] and report.counters.requests == 1
    assert set(records_in_sandbox(sandbox, tenant_id, "products")) == {"small"}
