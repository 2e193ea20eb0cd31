"""The whole-ledger read (issue 21): `SqliteLedger.lookup_keys` of more than 20,000 identities (a
window's diff) and `all_key_hashes` (a reconciliation's lookup table) over a 1,000,000-entry
ledger, compacted, and with 100,000 acknowledgements still in the log (a killed run's). Each read
runs in a fresh process that imports the ledger and opens it first; printed: the read's time and
the peak RSS it adds (sampled every 2 ms), medians of --repeat runs. The CPU time (all threads)
is printed too: on a shared machine it moves less than the wall time.

Before/after: the same script against another checkout of the package (e.g. one with the ADBC
read), on the same ledger files:
    mkdir /tmp/before && git archive <commit> replenit_pipelines | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before .venv/bin/python bench/ledger_read.py --keep /tmp/ledger-1m
(--keep builds the ledgers once into that folder and reuses them. A checkout that reads through ADBC
needs `.venv/bin/python -m pip install adbc-driver-sqlite`, no longer a dependency.)
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ledger_diff import BASE_URL, TENANT, build_ledger, customers  # noqa: E402 - the bench folder's own module

OPS = ("lookup_keys", "all_key_hashes")


def child(state: str, op: str, n: int) -> None:
    import polars as pl
    import psutil
    import pyarrow  # noqa: F401 - loaded in every real run (DuckDB -> Polars): not the read's cost

    import replenit_pipelines.lib.ledger.store as store
    from replenit_pipelines.lib.ledger import SqliteLedger

    asked = pl.Series("identity", [f"x{i}" for i in range(20_001)])  # above the threshold: the whole ledger
    # A run has used Polars (and Arrow) before its diff: their first use's own memory is not the read's.
    warm = pl.DataFrame([(i, b"h" * 16) for i in range(50_000)], schema={"k": pl.Int64, "h": pl.Binary}, orient="row")
    warm = pl.concat([warm, pl.from_arrow(warm.to_arrow())]).filter(pl.col("k").is_in(pl.Series([1, 2]).implode()))  # type: ignore[list-item]
    del warm
    proc = psutil.Process()
    with SqliteLedger.open(state, BASE_URL, TENANT, "customers") as ledger:
        before = proc.memory_info().rss
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0, cpu0 = time.perf_counter(), time.process_time()
        frame = ledger.lookup_keys(asked) if op == "lookup_keys" else ledger.all_key_hashes()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        done.set()
        sampler.join()
        rows = frame.height
        del frame
    assert rows >= n, f"read {rows} entries of {n}"
    print(json.dumps({"s": seconds, "cpu_s": cpu, "rss_added_mb": (peak[0] - before) / 2**20, "rows": rows, "rss_before_mb": before / 2**20,
                      "module": store.__file__}))


def with_log(source: Path, target: Path, n: int, logged: int) -> None:
    """A copy of the ledger with `logged` of its identities acknowledged again (new content), not compacted."""
    from replenit_pipelines.lib.ledger import SqliteLedger

    shutil.copytree(source / "ledger", target / "ledger")
    records = customers(n, None)["__key"]
    with SqliteLedger.open(target, BASE_URL, TENANT, "customers") as ledger:
        step = max(1, n // logged)
        ids = records.gather(list(range(0, n, step))[:logged]).to_list()
        for start in range(0, len(ids), 5_000):
            chunk = ids[start:start + 5_000]
            ledger.acknowledge(chunk, [i.to_bytes(16, "little") for i in range(len(chunk))], "killed-run",
                               [bytes(16)] * len(chunk))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--logged", type=int, default=100_000, help="acknowledgements left in the log (a killed run's)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", metavar="DIR", help="build the ledgers into DIR once and reuse them")
    ap.add_argument("--child", nargs=2, metavar=("STATE_DIR", "OP"))
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.records)
        return
    import tempfile

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ledger-read-"))
    compacted, logged = root / "compacted", root / "logged"
    if not (compacted / "ledger").exists():
        t = time.perf_counter()
        build_ledger(str(compacted), args.records)
        with_log(compacted, logged, args.records, args.logged)
        print(f"ledgers of {args.records:,} entries built in {time.perf_counter() - t:.1f} s ({root})")
    try:
        for label, state in (("compacted", compacted), (f"{args.logged:,} in the log", logged)):
            for op in OPS:
                runs = []
                for _ in range(args.repeat):
                    out = subprocess.run([sys.executable, __file__, "--child", str(state), op, "--records", str(args.records)],
                                         capture_output=True, text=True, check=True)
                    runs.append(json.loads(out.stdout))
                s, cpu, rss = ([r[k] for r in runs] for k in ("s", "cpu_s", "rss_added_mb"))
                print(f"{op:>15} ({label}): {statistics.median(s):.3f} s (runs {', '.join(f'{x:.2f}' for x in s)}; "
                      f"CPU {statistics.median(cpu):.3f} s), "
                      f"peak RSS added {statistics.median(rss):.0f} MB (process held {runs[0]['rss_before_mb']:.0f} MB before)")
        print(f"ledger module: {runs[0]['module']}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
