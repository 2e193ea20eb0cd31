"""Rate-limit windows, headers and Retry-After; seeded faults; the `replenit sandbox` command."""

import math
import signal
import time

import httpx
import pytest
from helpers import CUSTOMER

from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox


def wait_for_window_start(seconds: float, margin: float = 0.05) -> None:
    """Start just after a window boundary so a burst falls in one window."""
    now = time.time()
    time.sleep((math.floor(now / seconds) + 1) * seconds - now + margin)


def test_minute_window_limit_headers_and_retry_after(limited_sandbox):
    tenant_id, key = limited_sandbox.add_tenant()
    url = f"{limited_sandbox.url}/customers/{tenant_id}"
    with httpx.Client(headers={"x-replenit-auth-key": key}) as c:
        wait_for_window_start(2.0)
        statuses, remaining = [], []
        for _ in range(11):
            r = c.post(url, json=[CUSTOMER])
            statuses.append(r.status_code)
            remaining.append(int(r.headers["X-RateLimit-Remaining"]))
        assert statuses == [200] * 10 + [429]
        assert remaining[:10] == list(range(9, -1, -1))
        assert r.headers["X-RateLimit-Limit"] == "10"
        # HTTP's whole seconds, rounded up; the exact figures beside them (time-scaled windows).
        assert r.headers["Retry-After"] == "1"
        reset = float(r.headers["X-Sandbox-RateLimit-Reset-Exact"])
        retry_after = float(r.headers["X-Sandbox-Retry-After-Exact"])
        assert 0 < retry_after <= 0.5
        assert abs(reset - (time.time() + retry_after)) < 0.1
        assert r.headers["X-RateLimit-Reset"] == str(math.ceil(reset - 1e-6))
        assert r.json() == {"success": False, "message": "Rate limit exceeded.", "data": {}}
        time.sleep(retry_after + 0.02)
        assert c.post(url, json=[CUSTOMER]).status_code == 200


def test_hour_window_binds_across_minute_windows_and_429s_count(limited_sandbox):
    tenant_id, key = limited_sandbox.add_tenant()
    url = f"{limited_sandbox.url}/customers/{tenant_id}"
    with httpx.Client(headers={"x-replenit-auth-key": key}) as c:
        wait_for_window_start(2.0)
        statuses = [c.post(url, json=[CUSTOMER]).status_code for _ in range(25)]
        # The 0.5 s window takes 10; the other 15 are refused, and counted in the 2 s window too.
        assert statuses.count(200) == 10 and statuses.count(429) == 15
        assert time.time() % 2.0 < 1.4  # still in the first 2 s window's first 0.5 s windows
        wait_for_window_start(0.5)
        # A new 0.5 s window, but 25 per 2 s is spent by the accepted requests and the 429s.
        r = c.post(url, json=[CUSTOMER])
        assert r.status_code == 429 and r.headers["X-RateLimit-Limit"] == "25"
        assert r.headers["X-RateLimit-Remaining"] == "0"


def test_key_shared_by_two_tenants_shares_the_quota(limited_sandbox):
    t1, key = limited_sandbox.add_tenant()
    t2, _ = limited_sandbox.add_tenant(key=key)
    t3, other_key = limited_sandbox.add_tenant()
    with httpx.Client(base_url=limited_sandbox.url, headers={"x-replenit-auth-key": key}) as c:
        wait_for_window_start(2.0)
        statuses = [c.post(f"/customers/{t}", json=[CUSTOMER]).status_code for t in [t1, t2] * 6]
        assert statuses.count(200) == 10 and statuses[-2:] == [429, 429]
        # Another key has its own quota.
        assert httpx.post(f"{limited_sandbox.url}/customers/{t3}", json=[CUSTOMER],
                          headers={"x-replenit-auth-key": other_key}).status_code == 200


def test_every_request_counts_including_failures(limited_sandbox):
    tenant_id, key = limited_sandbox.add_tenant()
    with httpx.Client(base_url=limited_sandbox.url, headers={"x-replenit-auth-key": key}) as c:
        wait_for_window_start(2.0)
        for _ in range(5):
            assert c.post(f"/customers/{tenant_id}", json=[{"Name": "bad"}]).status_code == 400
        for _ in range(4):
            assert c.delete(f"/customers/{tenant_id}/nope").status_code == 404
        r = c.post(f"/customers/{tenant_id}", json=[CUSTOMER])
        assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "0"
        assert c.post(f"/customers/{tenant_id}", json=[CUSTOMER]).status_code == 429


def test_real_windows_report_whole_seconds(sandbox):
    with Sandbox() as sb:
        tenant_id, key = sb.add_tenant()
        r = httpx.post(f"{sb.url}/customers/{tenant_id}", json=[CUSTOMER], headers={"x-replenit-auth-key": key})
        assert r.headers["X-RateLimit-Limit"] == "100"
        assert r.headers["X-RateLimit-Remaining"] == "99"
        reset = int(r.headers["X-RateLimit-Reset"])
        assert reset % 60 == 0 and 0 < reset - time.time() <= 60


def test_retry_after_over_the_documented_window_is_whole_seconds():
    """RFC 9110: Retry-After is whole seconds; X-RateLimit-Reset a whole UNIX time; no sandbox extras."""
    with Sandbox() as sb:
        tenant_id, key = sb.add_tenant()
        now = time.time()
        if 60 - now % 60 < 3:  # 101 requests must fall in one minute window
            time.sleep(60 - now % 60 + 0.05)
        with httpx.Client(base_url=sb.url, headers={"x-replenit-auth-key": key}) as c:
            for _ in range(101):
                r = c.post(f"/customers/{tenant_id}", json=[CUSTOMER])
        assert r.status_code == 429
        left = 60 - time.time() % 60
        assert r.headers["Retry-After"].isdigit() and r.headers["X-RateLimit-Reset"].isdigit()
        assert int(r.headers["Retry-After"]) == math.ceil(left) or int(r.headers["Retry-After"]) == math.ceil(left) + 1
        assert int(r.headers["X-RateLimit-Reset"]) % 60 == 0
        assert not [h for h in r.headers if h.lower().startswith("x-sandbox-")]


def run_faulty(seed: int, n: int) -> list:
    faults = FaultConfig(seed=seed, p500=0.1, p503=0.1, p429=0.1, p_drop=0.1, p_hang=0.05, hang_seconds=1.0)
    with Sandbox(limits=[], faults=faults) as sb:
        tenant_id, key = sb.add_tenant()
        outcomes = []
        for _ in range(n):
            try:
                r = httpx.post(f"{sb.url}/customers/{tenant_id}", json=[CUSTOMER],
                               headers={"x-replenit-auth-key": key}, timeout=0.5)  # a hang outlasts it; a loaded machine's answer does not
                outcomes.append(r.status_code)
            except httpx.TimeoutException:
                outcomes.append("timeout")
            except httpx.TransportError:
                outcomes.append("dropped")
        return outcomes


def test_faults_are_reproducible_from_the_seed():
    a, b, c = run_faulty(7, 60), run_faulty(7, 60), run_faulty(8, 60)
    assert a == b
    assert a != c
    assert {200, 500, 503, 429, "dropped", "timeout"} <= set(a)


def test_spurious_429_has_retry_after_in_both_forms():
    with Sandbox(limits=[], faults=FaultConfig(p429=1.0)) as sb:
        tenant_id, key = sb.add_tenant()
        r = httpx.post(f"{sb.url}/customers/{tenant_id}", json=[CUSTOMER], headers={"x-replenit-auth-key": key})
        assert r.status_code == 429 and r.headers["Retry-After"] == "1" and r.json()["data"] == {"retryAfter": 1}


def test_store_file_survives_restart(tmp_path):
    path = tmp_path / "sandbox.sqlite"
    with Sandbox(limits=[], store_path=path) as sb:
        tenant_id, key = sb.add_tenant()
        httpx.post(f"{sb.url}/customers/{tenant_id}", json=[CUSTOMER], headers={"x-replenit-auth-key": key})
    with Sandbox(limits=[], store_path=path) as sb:
        stats = httpx.get(f"{sb.url}/_sandbox/stats").json()
        assert stats["records"] == {tenant_id: {"customers": 1}}
        assert stats["requests"] == 1
        httpx.post(f"{sb.url}/_sandbox/reset")
        assert httpx.get(f"{sb.url}/_sandbox/stats").json()["records"] == {}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_prints_demo_tenant_serves_and_stops_cleanly(sig, cli_sandbox):
    proc, url = cli_sandbox("--limits", "off")
    try:
        r = httpx.get(f"{url}/_sandbox/stats")
        assert r.status_code == 200
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Replenit sandbox stopped." in out


def test_cli_with_tenants_and_priorities(cli_sandbox):
    tenant = "0f8fad5b-d9cb-469f-a165-70867728950e"
    proc, url = cli_sandbox("--tenant", f"{tenant}:a2V5MQ==:customerid", "--limits", "100/0.6,5000/36")
    try:
        r = httpx.post(f"{url}/customers/{tenant}", json=[CUSTOMER], headers={"x-replenit-auth-key": "a2V5MQ=="})
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "100"
        keys = [rec["key"] for rec in httpx.get(f"{url}/_sandbox/records/{tenant}/customers").json()]
        assert keys == ["customerid:c1"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
