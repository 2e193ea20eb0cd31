"""kill -9 of `replenit sync` in a large window, then the same partition again (issue 21 item 1).

A DuckDB warehouse with --window customers in one daily partition (250,000 by default: the whole-
ledger read runs above 20,000), the real `replenit sandbox` in its own process with a time-scaled
quota (--pace requests/seconds, 50 a second in 1-s windows by default), and the real `replenit sync
customers --partition ... --json` in its own process: SIGKILLed --kills times at random accepted batches, then run to the end. After
each kill, from outside: records the tenant accepted, acknowledgements the ledger holds, and the
difference (accepted, unknown to the ledger: what the next run re-sends), which must stay within
the batches in flight (the client's max_in_flight x the batch size). The last run's requests are
compared with the minimum: the batches of what was not accepted yet, plus the batches in flight.
Also checked: PRAGMA integrity_check after every kill, every valid record stored, and the ledger
holding exactly the tenant's identities, and the 429s of every run (goal 0: the key's quota
ledger counts each request before it is sent, a killed run's included).

The pace's windows must be longer than twice the latency from the client's quota decision to the
sandbox's count, or a request that arrives a window late meets the next one's (the client's window-
edge guard is capped at half the shortest window). Measured here with the earlier default, 1/0.02
(windows of 20 ms, the guard at most 10 ms; latency p50 9.5 ms, p90 48 ms, p99 211 ms on this loaded
2-core machine): 29 of 531 requests answered 429 over three kills and the last run, every one a
collision inside one process of a late request with the next window's; none came from another
process or a killed one. At 50/1: 0 of 506. With the API's own windows (60 s: a guard of up to 10 s)
such latencies are covered.

    .venv/bin/python bench/ledger_kill.py                    # 250,000 identities, 3 kills
    .venv/bin/python bench/ledger_kill.py --window 25000 --kills 1 --pace 8/1

Before/after: run it from another folder with PYTHONPATH at another checkout of the package (the
runs are `python -m replenit_pipelines.cli`, which puts the working directory first on the path):
    cd /tmp && PYTHONPATH=/tmp/before /path/to/.venv/bin/python /path/to/bench/ledger_kill.py
"""

import argparse
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import polars as pl

DAY = datetime(2026, 11, 26, tzinfo=UTC)
TENANT, KEY = "0f8fad5b-d9cb-469f-a165-70867728950e", "bGVkZ2VyLWtpbGwtYmVuY2g="
MAPPING = """timezone: UTC
customers:
  source: {table: customers, window_column: updated_at, lookback_hours: 0}
  fields: {CustomerId: id, Email: email, Name: name, Language: locale, GdprOptin: gdpr}
"""
CURRENT = """SELECT identity FROM ledger WHERE identity NOT IN (SELECT identity FROM acks)
UNION SELECT identity FROM acks"""


def write_warehouse(path: Path, n: int) -> None:
    frame = pl.DataFrame({"i": pl.int_range(n, eager=True)}).select(
        id="c" + pl.col("i").cast(pl.String), email="user" + pl.col("i").cast(pl.String) + "@example.com",
        name=pl.lit("User"), locale=pl.lit("en-GB"), gdpr=pl.lit(True),
        updated_at=pl.lit(DAY.replace(tzinfo=None)) + pl.duration(seconds=pl.col("i") * 86_399 // n))
    with duckdb.connect(str(path)) as con:
        con.register("f", frame.to_arrow())
        con.execute("CREATE TABLE customers AS SELECT * FROM f")


class Bench:
    def __init__(self, work: Path, window: int, pace: str):
        from replenit_pipelines.lib.sandbox.process import start_sandbox_process

        write_warehouse(work / "warehouse.duckdb", window)
        (work / "mapping.yaml").write_text(MAPPING)
        self.state, self.pace = work / "state", pace
        self.sandbox, self.url = start_sandbox_process("--port", "0", "--tenant", f"{TENANT}:{KEY}", "--limits", pace)
        self.env = {**os.environ, "REPLENIT_BASE_URL": self.url, "REPLENIT_TENANT_ID": TENANT, "REPLENIT_API_KEY": KEY,
                    "REPLENIT_WAREHOUSE": str(work / "warehouse.duckdb"), "REPLENIT_MAPPING": str(work / "mapping.yaml"),
                    "REPLENIT_STATE_DIR": str(self.state), "REPLENIT_KEY_NAME": "ledger-kill-bench"}
        self.env.pop("REPLENIT_STATE_URL", None)

    def start(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "replenit_pipelines.cli", "sync", "customers", "--partition",
                                 DAY.date().isoformat(), "--limits", self.pace, "--json"], env=self.env,
                                start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def posts(self, since: int = 0) -> list[dict]:
        log = httpx.get(f"{self.url}/_sandbox/requests", params={"since": since}, timeout=60).json()
        return [r for r in log if TENANT in r["path"] and r["method"] == "POST"]

    def last_seq(self) -> int:
        return max((r["seq"] for r in httpx.get(f"{self.url}/_sandbox/requests", timeout=60).json()), default=0)

    def stored(self) -> set[str]:
        return {r["key"] for r in httpx.get(f"{self.url}/_sandbox/records/{TENANT}/customers", timeout=120).json()}

    def ledger(self) -> tuple[set[str], str]:
        (path,) = self.state.glob("ledger/*/customers.sqlite")
        con = sqlite3.connect(path)
        try:
            return {r[0] for r in con.execute(CURRENT)}, con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()

    def stop(self) -> None:
        from replenit_pipelines.lib.sandbox.process import stop_sandbox_process

        stop_sandbox_process(self.sandbox)


def main() -> int:
    from replenit_pipelines.lib.delivery.config import DEFAULT_BATCH_SIZES, ClientConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=int, default=250_000, help="customers in the partition")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--pace", default="50/1", help="the sandbox's and the client's quota (REQUESTS/SECONDS)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    batch = DEFAULT_BATCH_SIZES["customers"]
    in_flight = ClientConfig(base_url="http://127.0.0.1:1", tenant_id=TENANT, api_key=KEY).max_in_flight
    batches = math.ceil(args.window / batch)
    rng = random.Random(args.seed)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.window, args.pace)
        print(f"{args.window:,} customers in one partition ({batches} batches of {batch}), quota {args.pace}, "
              f"{in_flight} requests in flight at most: a kill may lose up to {in_flight} batches ({in_flight * batch:,} records)")
        try:
            for k in range(args.kills):
                stored_at_start = len(bench.stored())
                left = batches - stored_at_start // batch
                target = rng.randint(max(1, left // 10), max(1, left * 9 // 10))  # accepted batches of this run before the kill
                since = bench.last_seq()
                run, started = bench.start(), time.monotonic()
                while sum(r["status"] == 200 for r in bench.posts(since)) < target and run.poll() is None:
                    time.sleep(0.02)
                if run.poll() is not None:
                    print(f"kill {k + 1}: the run ended before {target} batches (exit {run.returncode})")
                    continue
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
                time.sleep(0.5)  # requests that reached the sandbox finish there
                stored, (acked, integrity) = bench.stored(), bench.ledger()
                lost = len(stored - acked)
                within = lost <= in_flight * batch and acked <= stored and integrity == "ok"
                ok &= within
                print(f"kill {k + 1} after {time.monotonic() - started:.1f} s: this run's accepted requests "
                      f"{sum(r['status'] == 200 for r in bench.posts(since))}; tenant holds {len(stored):,} records, the ledger "
                      f"{len(acked):,}; accepted but not acknowledged (re-sent by the next run): {lost:,} records = "
                      f"{math.ceil(lost / batch)} batch(es), bound {in_flight} ({in_flight * batch:,}); integrity_check {integrity}; "
                      f"{'OK' if within else 'FAIL'}")
            refused_before = sum(r["status"] == 429 for r in bench.posts())
            stored_before = len(bench.stored())
            acked_before = len(bench.ledger()[0])
            since = bench.last_seq()
            t0 = time.monotonic()
            out, _ = bench.start().communicate(timeout=3600)
            result = json.loads(out)
            sent = bench.posts(since)
            accepted = sum(r["status"] == 200 for r in sent)
            others = sorted({r["status"] for r in sent} - {200})
            minimum = math.ceil((args.window - stored_before) / batch)
            stored, (acked, integrity) = bench.stored(), bench.ledger()
            final_ok = (accepted <= minimum + in_flight and result["records_sent"] == args.window - acked_before
                        and len(stored) == args.window and acked == stored and integrity == "ok")
            ok &= final_ok
            refused_last = sum(r["status"] == 429 for r in sent)
            ok &= refused_before + refused_last == 0
            print(f"429s: {refused_before} during the killed runs, {refused_last} in the last (goal 0)")
            refused = f" (+{len(sent) - accepted} answered {others} and re-sent by the client)" if others else ""
            print(f"last run ({time.monotonic() - t0:.1f} s): {accepted} accepted requests{refused}, {result['records_sent']:,} records "
                  f"(unchanged {result['records_unchanged']:,}); not yet accepted before it: {args.window - stored_before:,} "
                  f"records = {minimum} requests minimum, + at most {in_flight} in flight = {minimum + in_flight}; re-sent "
                  f"{stored_before - acked_before:,} records already stored; tenant {len(stored):,} records, ledger equal: "
                  f"{acked == stored}, integrity_check {integrity}; {'PASS' if final_ok else 'FAIL'}")
        finally:
            bench.stop()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
