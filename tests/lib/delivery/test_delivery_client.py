"""The delivery client against the real sandbox over HTTP."""

import io
import logging
import math
import time

import httpx
import polars as pl
import pytest

from replenit_pipelines.lib.delivery import (
    ClientConfig,
    DeliveryConfigError,
    ForbiddenError,
    ReplenitClient,
    TenantNotFoundError,
    UnauthorizedError,
)
from replenit_pipelines.lib.delivery.batching import plan_batches, serialize
from replenit_pipelines.lib.delivery.quota import QuotaLimiter
from replenit_pipelines.lib.delivery.session import Session
from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox
from replenit_pipelines.lib.validation import payload_column


def customers(n: int, start: int = 0) -> list[dict]:
    return [{"CustomerId": f"c{i}", "Email": f"user{i}@example.com", "Name": "Ada"} for i in range(start, start + n)]


def make_client(sb: Sandbox, tenant_id: str, key: str, tmp_path, **kw) -> ReplenitClient:
    kw.setdefault("limits", ())
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_cap_s", 0.05)
    kw.setdefault("read_timeout_s", 2.0)
    kw.setdefault("seed", 1)
    return ReplenitClient(ClientConfig(base_url=sb.url, tenant_id=tenant_id, api_key=key,
                                       quota_dir=str(tmp_path / "quota"), **kw))


def requests_seen(sb: Sandbox, tenant_id: str) -> list[dict]:
    return [r for r in httpx.get(f"{sb.url}/_sandbox/requests").json() if tenant_id in r["path"]]


def stored(sb: Sandbox, tenant_id: str, entity: str = "customers") -> set[str]:
    return {r["key"] for r in httpx.get(f"{sb.url}/_sandbox/records/{tenant_id}/{entity}").json()}


# --- batching ----------------------------------------------------------------------------------

def test_batches_are_full_but_the_last_and_keep_order():
    parts = serialize(customers(1234))
    batches = list(plan_batches(parts, 500, 5_000_000))
    assert [len(b) for b in batches] == [500, 500, 234]
    assert [i for b in batches for i in b] == list(range(1234))


def test_byte_cap_splits_a_batch_of_large_records(sandbox, tenant, tmp_path):
    big = [{"CustomerId": f"c{i:03d}", "Name": "n" * 100, "Surname": "s" * 100} for i in range(60)]
    size = len(serialize(big[:1])[0])
    client = make_client(sandbox, *tenant, tmp_path, max_body_bytes=size * 10 + 20)
    report = client.deliver("customers", big)
    assert len(report.accepted) == 60 and report.counters.requests == 6
    assert max(r["bytes"] for r in requests_seen(sandbox, tenant[0])) <= size * 10 + 20


def test_null_fields_are_written_as_null_by_push_and_pipeline_alike():
    # One serializer, one rule (lib/contract/payload.py): the dict path (push) and the frame path
    # (the pipeline) write the same bytes for the same record.
    records = [{"CustomerId": "c1", "Email": None}]
    assert serialize(records) == [b'{"CustomerId":"c1","Email":null}']
    assert serialize(records) == serialize(pl.DataFrame(records, schema={"CustomerId": pl.String, "Email": pl.String}))


def test_a_frames_payloads_are_its_rows_as_polars_ndjson_writes_them():
    # The exact bytes are hashed into the ledger (exact-bytes hash): a change of writer would
    # re-stamp every acknowledged record. Escapes, U+2028, floats, nested children, nulls; the
    # streaming engine's morsels, concatenated out of one frame of several chunks, keep the row order.
    floats = [0.0, -0.0, 1e16, 1e21, 1e-7, 0.1 + 0.2, 38.96, 2.0**53 + 1, 5e-324, None]
    texts = ["a\u2028b", "x\u0085y", "\x00\x1f\"\\/", "é😀", "", None, "\t\n\r"]
    n = 70
    frame = pl.DataFrame({
        "Price": [floats[i % len(floats)] for i in range(n)],
        "Name": [texts[i % len(texts)] for i in range(n)],
        "Quantity": [None if i % 9 == 0 else 2**62 - i for i in range(n)],
        "Optin": [None if i % 3 == 0 else i % 2 == 0 for i in range(n)],
        "Tags": [None if i % 4 == 0 else [] if i % 4 == 1 else ["a", None, "\u2028"] for i in range(n)],
        "OrderItems": [None if i % 5 == 0 else [] if i % 5 == 1 else [{"Price": floats[i % 10], "Sku": texts[i % 7]}]
                       for i in range(n)],
        "__key": [f"k{i}" for i in range(n)],
    }, schema_overrides={"Quantity": pl.Int64})
    buffer = io.BytesIO()
    frame.drop("__key").write_ndjson(buffer)
    expected = buffer.getvalue().split(b"\n")[:-1]
    assert serialize(frame) == expected
    several_chunks = pl.concat([frame.slice(0, 16), frame.slice(16, 30), frame.slice(46)], rechunk=False)
    assert several_chunks.n_chunks() == 3
    assert payload_column(several_chunks).to_list() == expected
    assert payload_column(frame.select("__key")).to_list() == [b"{}"] * n  # bookkeeping only: an empty object a row
    assert serialize(frame.head(0)) == []


# --- 400s cost one request, not a batch ------------------------------------------------------

@pytest.mark.parametrize("bad", [[137], [3, 250, 499]])
def test_bad_records_are_isolated_in_one_extra_request(sandbox, tenant, tmp_path, bad):
    records = customers(500)
    for i in bad:
        records[i]["Email"] = "not-an-email"
    client = make_client(sandbox, *tenant, tmp_path)
    report = client.deliver("customers", records)
    assert sorted(report.rejected) == bad
    assert all("Email" in reasons[0] for reasons in report.rejected.values())
    assert sorted(report.accepted) == [i for i in range(500) if i not in bad]
    assert report.counters.requests == 2 and report.counters.rejected_requests == 1
    assert stored(sandbox, tenant[0]) == {f"email:user{i}@example.com" for i in range(500) if i not in bad}


def test_unindexed_errors_are_isolated_by_halving(tmp_path):
    with Sandbox(limits=[], faults=FaultConfig(unindexed_object_errors=True)) as sb:
        tenant_id, key = sb.add_tenant()
        records = customers(64)
        records[5] = {"Name": "no id, no email"}
        report = make_client(sb, tenant_id, key, tmp_path).deliver("customers", records)
        assert list(report.rejected) == [5]
        # The API's key of an object-level error is "": the reason says it is the record's own.
        assert report.rejected[5] == ["(record): At least one of the following properties must have a value: CustomerId, Email"]
        assert len(report.accepted) == 63
        # One failing request per halving step down to the record, plus the good halves.
        assert report.counters.requests == 1 + 2 * int(math.log2(64))


# --- retries --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["p500", "p503", "p_drop", "p_hang"])
def test_transient_faults_are_retried_until_accepted(tmp_path, fault):
    faults = FaultConfig(seed=3, hang_seconds=1.0, **{fault: 0.4})
    with Sandbox(limits=[], faults=faults) as sb:
        tenant_id, key = sb.add_tenant()
        client = make_client(sb, tenant_id, key, tmp_path, batch_sizes={"customers": 10},
                             read_timeout_s=0.3, max_attempts=10)
        report = client.deliver("customers", customers(200))
        assert len(report.accepted) == 200 and not report.failed
        assert report.counters.retries > 0
        assert report.counters.requests == 20 + report.counters.retries
        assert len(stored(sb, tenant_id)) == 200


def test_retries_exhausted_fail_the_batch_without_crashing(tmp_path):
    with Sandbox(limits=[], faults=FaultConfig(p500=1.0)) as sb:
        tenant_id, key = sb.add_tenant()
        client = make_client(sb, tenant_id, key, tmp_path, max_attempts=3)
        report = client.deliver("customers", customers(10))
        assert len(report.failed) == 10 and not report.accepted
        assert "HTTP 500; gave up after 3 attempts" in report.failed[0]
        assert report.counters.requests == 3 and report.counters.retries == 2


def test_retry_after_is_honoured_and_429_is_not_a_failed_attempt(tmp_path):
    with Sandbox(limits=[(3, 1.0)]) as sb:
        tenant_id, key = sb.add_tenant()
        other = httpx.Client(base_url=sb.url, headers={"x-replenit-auth-key": key})
        now = time.time()
        time.sleep(math.ceil(now) - now + 0.02)
        for _ in range(3):  # another client spends the window
            assert other.post(f"/customers/{tenant_id}", json=customers(1)).status_code == 200
        client = make_client(sb, tenant_id, key, tmp_path, max_attempts=1)
        report = client.deliver("customers", customers(5))
        assert len(report.accepted) == 5
        assert report.counters.rate_limited == 1 and report.counters.retries == 0
        log = requests_seen(sb, tenant_id)
        assert [r["status"] for r in log] == [200, 200, 200, 429, 200]
        assert log[-1]["time"][:19] > log[-2]["time"][:19]  # sent in the next window


def test_quota_spent_by_another_client_is_respected_without_a_429(tmp_path):
    with Sandbox(limits=[(5, 1.0)]) as sb:
        tenant_id, key = sb.add_tenant()
        now = time.time()
        time.sleep(math.ceil(now) - now + 0.02)
        for _ in range(3):
            httpx.post(f"{sb.url}/customers/{tenant_id}", json=customers(1), headers={"x-replenit-auth-key": key})
        client = make_client(sb, tenant_id, key, tmp_path, limits=((5, 1.0),), max_in_flight=1,
                             batch_sizes={"customers": 1})
        report = client.deliver("customers", customers(4))
        assert len(report.accepted) == 4 and report.counters.rate_limited == 0
        assert report.counters.quota_wait_s > 0


def test_two_clients_of_one_key_share_one_quota(tmp_path):
    import threading

    with Sandbox(limits=[(10, 0.5), (30, 2.0)]) as sb:
        tenant_id, key = sb.add_tenant()
        reports = []

        def run(start):
            c = make_client(sb, tenant_id, key, tmp_path, limits=((10, 0.5), (30, 2.0)), batch_sizes={"customers": 1})
            reports.append(c.deliver("customers", customers(25, start)))

        threads = [threading.Thread(target=run, args=(s,)) for s in (0, 1000)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sum(len(r.accepted) for r in reports) == 50
        assert sum(r.counters.rate_limited for r in reports) == 0


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_edge_guard_is_sized_from_the_observed_latency(tmp_path):
    clock = FakeClock(1000.0)
    limiter = QuotaLimiter([(30, 1.0), (200, 10.0)], tmp_path / "ledger.json", clock=clock, sleep=clock.sleep)
    assert limiter.boundary_guard == pytest.approx(0.5)  # no latency seen yet: the cap, half of 1 s
    for _ in range(100):
        limiter.record_latency(0.004)
    assert limiter.boundary_guard == pytest.approx(0.01)  # fast loopback: the floor, 1% of the shortest window
    for latency in [0.012, 0.024] * 45 + [0.120] * 10:  # a loaded machine: median 12-24 ms, a tail to 120 ms
        limiter.record_latency(latency)
    assert limiter.boundary_guard == pytest.approx(0.120 * 1.5)  # the tail, with a margin
    # A request decided 150 ms before the edge is counted in the next window too: it may land there.
    clock.now = 1000.85
    limiter.acquire("fresh")
    clock.now = 1001.0
    assert limiter.used() == {1.0: 1, 10.0: 1}
    for _ in range(200):
        limiter.record_latency(5.0)  # a stall far past the window: bounded by the cap
    assert limiter.boundary_guard == pytest.approx(0.5)


def test_latency_is_measured_from_the_quota_decision_to_the_answer(tmp_path):
    clock = FakeClock(1000.0)
    limiter = QuotaLimiter([(30, 1.0)], tmp_path / "ledger.json", clock=clock, sleep=clock.sleep)
    limiter.answered()  # nothing acquired on this thread: nothing recorded
    for _ in range(20):
        limiter.acquire("fresh")
        time.sleep(0.03)
        limiter.answered()
    assert 0.045 <= limiter.boundary_guard <= 0.5


def test_no_429_when_requests_reach_the_server_late(tmp_path):
    """Requests decided just before a window's end arrive after it (a slow network, a loaded
    machine): the client's guard must follow that latency or the next window overflows."""
    faults = FaultConfig(seed=1, arrival_delay_ms=(0.0, 150.0))
    with Sandbox(limits=[(10, 0.5)], faults=faults) as sb:
        tenant_id, key = sb.add_tenant()
        client = make_client(sb, tenant_id, key, tmp_path, limits=((10, 0.5),), batch_sizes={"customers": 1},
                             max_in_flight=2)
        report = client.deliver("customers", customers(100))
        statuses = [r["status"] for r in requests_seen(sb, tenant_id)]
        assert len(report.accepted) == 100
        assert statuses.count(429) == 0 and report.counters.rate_limited == 0


def one_at_a_time(sb: Sandbox, tenant_id: str, key: str, tmp_path, window: tuple[int, float], latency: float) -> ReplenitClient:
    """A client of one record a request, one in flight, paced by `window`, on a link of known latency
    (the edge guard is its latency's, not the cold cap)."""
    client = make_client(sb, tenant_id, key, tmp_path, limits=(window,), batch_sizes={"customers": 1}, max_in_flight=1)
    for _ in range(20):
        client.quota.record_latency(latency)
    return client


def at_phase(period: float, start: float, end: float) -> None:
    """Wait until our clock is between `start` and `end` seconds into a window of `period` seconds."""
    while not start <= time.time() % period < end:
        time.sleep(0.001)


def test_a_server_whose_clock_is_behind_costs_two_429s_then_none(tmp_path):
    """The server's windows start 0.3 s (of 1 s) after ours. Sending begins mid-window, after the
    server's edge: the window's 10 fill the server's window, and our next window's first request
    meets it full. Without learning the skew from its 429s, that repeats at every edge (5 x 429 in
    these 60 requests); learned from two that agree, never again."""
    faults = FaultConfig(seed=1, clock_offset_s=-0.3, latency_ms=(10.0, 10.0))
    with Sandbox(limits=[(10, 1.0)], faults=faults) as sb:
        tenant_id, key = sb.add_tenant()
        client = one_at_a_time(sb, tenant_id, key, tmp_path, (10, 1.0), latency=0.015)
        at_phase(1.0, 0.5, 0.52)
        report = client.deliver("customers", customers(60))
        statuses = [r["status"] for r in requests_seen(sb, tenant_id)]
        assert len(report.accepted) == 60
        assert statuses.count(429) <= 2 and report.counters.rate_limited <= 2, statuses
        assert client.quota.server_skew() == pytest.approx(0.3, abs=0.05)


def test_a_retry_after_date_is_read_on_the_servers_clock(tmp_path):
    """Retry-After may be an HTTP date (RFC 9110), and it is the server's clock, as its Date is. A
    server 0.8 s behind ours says "retry at" a moment already past by our clock: read against our
    clock, every 429 waited nothing and the client asked again at once until the server's edge, a
    storm of 429s that each cost the key a request (84 in 0.9 s against an emulator 2.5 s behind on
    100/min; 29 here). Read against the answer's Date: one 429 an edge at most."""
    faults = FaultConfig(seed=1, clock_offset_s=-0.8, retry_after_date=True, latency_ms=(5.0, 5.0))
    with Sandbox(limits=[(30, 2.0)], faults=faults) as sb:
        tenant_id, key = sb.add_tenant()
        client = one_at_a_time(sb, tenant_id, key, tmp_path, (30, 2.0), latency=0.01)
        at_phase(2.0, 1.0, 1.05)  # after the server's edge: our next window meets it full
        report = client.deliver("customers", customers(75))
        statuses = [r["status"] for r in requests_seen(sb, tenant_id)]
        assert len(report.accepted) == 75 and not report.failed
        assert statuses.count(429) <= 3 and report.counters.rate_limited <= 3, statuses


# --- stop errors ----------------------------------------------------------------------------------

def test_401_stops_after_one_request(sandbox, tenant, tmp_path):
    client = make_client(sandbox, tenant[0], "d3Jvbmcta2V5", tmp_path)
    before = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["requests"]
    with pytest.raises(UnauthorizedError, match="check REPLENIT_API_KEY") as info:
        client.deliver("customers", customers(2000))
    assert httpx.get(f"{sandbox.url}/_sandbox/stats").json()["requests"] == before + 1
    assert len(info.value.report.failed) == 2000


def test_403_stops_after_one_request(sandbox, tenant, tmp_path):
    other, _ = sandbox.add_tenant()
    client = make_client(sandbox, other, tenant[1], tmp_path)
    with pytest.raises(ForbiddenError, match="REPLENIT_TENANT_ID"):
        client.deliver("customers", customers(2000))
    assert len(requests_seen(sandbox, other)) == 1


def test_unknown_tenant_stops_after_one_request(sandbox, tenant, tmp_path):
    import uuid

    missing = str(uuid.uuid4())
    client = make_client(sandbox, missing, tenant[1], tmp_path)
    with pytest.raises(TenantNotFoundError, match="no tenant"):
        client.deliver("customers", customers(2000))
    with pytest.raises(TenantNotFoundError):
        client.delete_customer("c1")
    assert len(requests_seen(sandbox, missing)) == 2


# --- deletes ----------------------------------------------------------------------------------------

def test_deletes_and_already_gone(sandbox, tenant, tmp_path):
    client = make_client(sandbox, *tenant, tmp_path)
    client.deliver("orders", [{"OrderId": "o/1", "Currency": "EUR", "OrderItems": [
        {"ProductId": "p1", "Quantity": 1}, {"ProductId": "p2", "Quantity": 1}]}])
    client.deliver("products", [{"ProductId": "p1", "ProductVariants": [{"VariantId": "v1"}, {"VariantId": "v2"}]}])
    client.deliver("customers", customers(1))
    assert client.delete_order_item("o/1", "p2").status == "deleted"
    assert client.delete_order("o/1").status == "deleted"
    assert client.delete_order("o/1").status == "already_gone"
    assert client.delete_variant("p1", "v2").status == "deleted"
    assert client.delete_product("p1").status == "deleted"
    assert client.delete_customer("c0").status == "deleted"
    assert client.delete_customer("c0").status == "already_gone"


def test_an_id_of_dots_is_deleted_at_its_own_path(sandbox, tenant, tmp_path):
    """`.` and `..` are strings the contract takes as ids; in a URL they are dot segments, which the
    HTTP client removes: `DELETE /customers/{tenant}/..` went to `/customers`, whose 404 read as
    already gone, so the ledger forgot a customer Replenit still held."""
    client = make_client(sandbox, *tenant, tmp_path)
    ids = [".", "..", "a.b"]
    client.deliver("customers", [{"CustomerId": i, "Email": None} for i in ids])
    client.deliver("products", [{"ProductId": "..", "ProductVariants": [{"VariantId": "."}, {"VariantId": "v"}]}])
    report = client.delete_records("customers", ids)
    assert sorted(report.deleted) == [0, 1, 2] and not report.already_gone
    assert client.delete_variant("..", ".").status == "deleted"
    assert client.delete_product("..").status == "deleted"
    assert not stored(sandbox, tenant[0]) and not stored(sandbox, tenant[0], "products")
    paths = [r["path"] for r in requests_seen(sandbox, tenant[0]) if r["method"] == "DELETE"]
    assert all(p.startswith(f"/customers/{tenant[0]}/") or p.startswith(f"/products/{tenant[0]}/") for p in paths), paths


def test_a_delete_whose_retries_run_out_is_failed_with_the_reason(tmp_path):
    with Sandbox(limits=[], faults=FaultConfig(p500=1.0)) as sb:
        tenant_id, key = sb.add_tenant()
        client = make_client(sb, tenant_id, key, tmp_path, max_attempts=2)
        outcome = client.delete_customer("c0")
        assert (outcome.status, outcome.reason) == ("failed", "HTTP 500; gave up after 2 attempts")


# --- configuration and secrecy --------------------------------------------------------------------

def test_config_is_checked_before_any_request(tmp_path):
    with pytest.raises(DeliveryConfigError, match="https"):
        ClientConfig(base_url="http://api.example.com", tenant_id="0f8fad5b-d9cb-469f-a165-70867728950e", api_key="k")
    with pytest.raises(DeliveryConfigError, match="not a GUID"):
        ClientConfig(base_url="https://api.replen.it", tenant_id="acme", api_key="k")
    with pytest.raises(DeliveryConfigError, match="REPLENIT_API_KEY"):
        ClientConfig(base_url="https://api.replen.it", tenant_id="0f8fad5b-d9cb-469f-a165-70867728950e", api_key=" ")
    cfg = ClientConfig(base_url="https://api.replen.it", tenant_id="0F8FAD5B-D9CB-469F-A165-70867728950E",
                       api_key="k", batch_sizes={"orders": 9999})
    assert cfg.batch_sizes == {"customers": 500, "orders": 500, "products": 100}
    assert cfg.tenant_id == "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_key_never_leaks(tmp_path, caplog):
    secret = "c3VwZXItc2VjcmV0LWtleQ=="
    caplog.set_level(logging.DEBUG)
    with Sandbox(limits=[(2, 0.5)], faults=FaultConfig(seed=1, p500=0.3, p_drop=0.2)) as sb:
        tenant_id, _ = sb.add_tenant(key=secret)
        client = make_client(sb, tenant_id, secret, tmp_path, limits=((2, 0.5),), batch_sizes={"customers": 5})
        report = client.deliver("customers", customers(30) + [{"Name": "bad"}])
        texts = [repr(client), repr(client.config), str(client.config), repr(report), str(report.summary())]
        with pytest.raises(UnauthorizedError) as info:
            make_client(sb, tenant_id, secret + "x", tmp_path).deliver("customers", customers(1))
        texts += [str(info.value), repr(info.value)]
        texts += [httpx.get(f"{sb.url}/_sandbox/requests").text]
    texts += [r.getMessage() for r in caplog.records]
    texts += [p.read_text() for p in (tmp_path / "quota").iterdir() if p.suffix == ".json"]
    texts += [p.name for p in (tmp_path / "quota").iterdir()]
    assert report.counters.retries > 0 and len(caplog.records) > 0
    assert not [t for t in texts if secret in t]


# --- replenit push --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "ndjson", "parquet"])
def test_push_command_sends_a_file(sandbox, tmp_path, fmt):
    import json
    import os
    import subprocess
    import sys

    import polars as pl

    tenant_id, key = sandbox.add_tenant()
    records = customers(30) + [{"CustomerId": "bad", "Email": "nope"}]
    path = tmp_path / f"customers.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(records))
    elif fmt == "ndjson":
        path.write_text("\n".join(json.dumps(r) for r in records))
    else:
        pl.DataFrame(records).write_parquet(path)
    env = {**os.environ, "REPLENIT_BASE_URL": sandbox.url, "REPLENIT_TENANT_ID": tenant_id,
           "REPLENIT_API_KEY": key, "REPLENIT_STATE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "replenit_pipelines.cli", "push", "customers", str(path), "--json",
                          "--limits", "100/0.6,5000/36"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr  # one record refused (quarantined, reported), every valid one accepted: docs/cli.md
    summary = json.loads(out.stdout)
    # The invalid record is refused before sending: it costs no request.
    assert (summary["accepted"], summary["refused"], summary["requests"]) == (30, 1, 1)
    [refused] = summary["not_accepted"]
    assert (refused["index"], refused["id"], refused["status"]) == (30, "bad", "refused")
    assert refused["reasons"][0].startswith("Email:")
    assert key not in out.stdout + out.stderr


def test_push_without_credentials_says_what_to_set(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "c.json"
    path.write_text("[]")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLENIT_")}
    out = subprocess.run([sys.executable, "-m", "replenit_pipelines.cli", "push", "customers", str(path)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2
    assert ("set REPLENIT_BASE_URL (the Replenit API address), REPLENIT_TENANT_ID (your tenant id), "
            "REPLENIT_API_KEY (your API key)") in out.stderr


# --- quota across runs and processes; progress; gzip ----------------------------------------------

def test_quota_spent_before_the_run_counts(tmp_path):
    with Sandbox(limits=[(5, 2.0)]) as sb:
        tenant_id, key = sb.add_tenant()
        now = time.time()
        time.sleep(math.ceil(now / 2) * 2 - now + 0.02)
        first = make_client(sb, tenant_id, key, tmp_path, limits=((5, 2.0),), batch_sizes={"customers": 1})
        assert len(first.deliver("customers", customers(5)).accepted) == 5
        # A new client (a new run) on the same key: the ledger tells it the window is spent.
        second = make_client(sb, tenant_id, key, tmp_path, limits=((5, 2.0),), batch_sizes={"customers": 1})
        report = second.deliver("customers", customers(3, 100))
        assert len(report.accepted) == 3 and report.counters.rate_limited == 0
        assert report.counters.quota_wait_s > 0.5


def test_another_process_on_the_key_shares_the_ledger(tmp_path, sandbox):
    import json
    import os
    import subprocess
    import sys

    with Sandbox(limits=[(10, 0.5), (40, 3.0)]) as sb:
        tenant_id, key = sb.add_tenant()
        path = tmp_path / "other.json"
        path.write_text(json.dumps(customers(30, 5000)))
        env = {**os.environ, "REPLENIT_BASE_URL": sb.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key,
               "REPLENIT_STATE_DIR": str(tmp_path)}
        other = subprocess.Popen([sys.executable, "-m", "replenit_pipelines.cli", "push", "customers", str(path), "--json",
                                  "--limits", "10/0.5,40/3", "--batch-size", "1"], env=env, stdout=subprocess.PIPE, text=True)
        client = ReplenitClient(ClientConfig(base_url=sb.url, tenant_id=tenant_id, api_key=key, limits=((10, 0.5), (40, 3.0)),
                                             batch_sizes={"customers": 1}, quota_dir=str(tmp_path / "quota")))
        mine = client.deliver("customers", customers(30))
        theirs = json.loads(other.communicate(timeout=60)[0])
        assert len(mine.accepted) + theirs["accepted"] == 60
        statuses = [r["status"] for r in requests_seen(sb, tenant_id)]
        assert statuses.count(429) == 0 and len(statuses) == 60


def test_progress_reports_growing_counts_and_an_eta(sandbox, tenant, tmp_path):
    events = []
    client = make_client(sandbox, *tenant, tmp_path, limits=((100, 60.0), (5000, 3600.0)))
    client.deliver("customers", customers(2600), events.append)
    done = [e.records_done for e in events]
    assert done == sorted(done) and done[-1] == 2600 and len(set(done)) == len(done)
    assert events[-1].batches_done == events[-1].batches_total == 6
    assert all(e.eta_s >= 0 for e in events)


def test_gzip_bodies(sandbox, tenant, tmp_path):
    client = make_client(sandbox, *tenant, tmp_path, gzip=True)
    report = client.deliver("customers", customers(300))
    assert len(report.accepted) == 300
    sent = requests_seen(sandbox, tenant[0])[-1]["bytes"]
    assert sent < len(b"".join(serialize(customers(300)))) / 3


def test_gzip_bodies_made_by_the_send_time_check(sandbox, tenant, tmp_path):
    # The send-time check makes each body right before it is sent: gzipped then, as any other.
    client = make_client(sandbox, *tenant, tmp_path, gzip=True)
    parts = serialize(customers(300))
    report = client.deliver_planned("customers", parts, client.plan("customers", parts),
                                    before_send=lambda batch: {i: "stored_elsewhere" for i in batch if i < 100})
    assert (len(report.accepted), sorted(report.skipped)) == (200, list(range(100)))
    sent = requests_seen(sandbox, tenant[0])[-1]["bytes"]
    assert sent < len(b"".join(parts[100:])) / 3


def test_quota_wait_is_wall_clock_not_the_sum_of_workers(tmp_path):
    with Sandbox(limits=[(8, 1.0)]) as sb:
        tenant_id, key = sb.add_tenant()
        now = time.time()
        time.sleep(math.ceil(now) - now + 0.02)
        client = make_client(sb, tenant_id, key, tmp_path, limits=((8, 1.0),), batch_sizes={"customers": 1}, max_in_flight=4)
        report = client.deliver("customers", customers(20))
        assert len(report.accepted) == 20 and report.counters.rate_limited == 0
        # 20 requests at 8 a second: two full waits of just under a second, whatever the worker count.
        assert 1.5 < report.counters.quota_wait_s < report.counters.wall_s <= 3.5


def test_resource_repr_hides_the_key():
    from replenit_pipelines.component.resources import ReplenitResource

    resource = ReplenitResource(tenant_id="0f8fad5b-d9cb-469f-a165-70867728950e", api_key="c2VjcmV0LWtleS14")
    assert "c2VjcmV0LWtleS14" not in repr(resource) + str(resource) + f"{resource!r}"


@pytest.mark.parametrize("headers,body,expected", [
    ({"Retry-After": "7"}, {}, 7.0),
    ({"Retry-After": "0.412"}, {}, 0.412),  # lenient: not HTTP, but unambiguous
    ({"Retry-After": "1", "X-Sandbox-Retry-After-Exact": "0.412"}, {}, 0.412),  # time-scaled sandbox windows
    ({}, {"success": False, "data": {"retryAfter": 60}}, 60.0),  # the v1 form: only in the body
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, {}, 0.0),  # an HTTP date in the past
])
def test_retry_after_forms(headers, body, expected):
    resp = httpx.Response(429, headers=headers, json=body)
    assert Session.retry_after(resp) == pytest.approx(expected)


def test_retry_after_as_a_future_http_date():
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=45)
    resp = httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)}, json={})
    assert 43 < Session.retry_after(resp) <= 45  # read as 0, the client would hammer the API


def test_retry_after_falls_back_to_the_window_reset():
    resp = httpx.Response(429, headers={"X-RateLimit-Reset": str(time.time() + 5)}, json={"data": {}})
    assert 4 < Session.retry_after(resp) <= 5
