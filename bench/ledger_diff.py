"""The ledger's cost (issue 11): diff 1,000,000 customers against a 1,000,000-entry ledger with
1% changed, and acknowledge 500-record batches.

Goals: the diff (exact hashes, ledger lookup, classification, content hashes of the changed)
adds at most 1 s and 300 MB of peak RSS to prepare; acknowledging a 500-record batch (one
fsync'd SQLite commit) costs at most 5 ms. The payloads are written by the pipeline's own
serializer (`payload_parts`). The diff runs in a fresh process that holds only the records and
their payloads; RSS is sampled every 2 ms during the diff, and "added" is its peak minus the RSS
just before. Also shown: the same diff after a serializer change (every record's bytes differ,
none of its content: the slow path, once).
"""

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_URL, TENANT = "https://api.replen.it", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def customers(n: int, changed_every: int | None, reorder: bool = False):
    import polars as pl

    i = pl.col("i")
    frame = pl.DataFrame({"i": pl.int_range(n, eager=True)}).select(
        CustomerId="c-" + i.cast(pl.String),
        Email="user" + i.cast(pl.String) + "@example.com",
        Name=pl.lit(pl.Series(["Ann", "Bo", "Chen", "Dana", None])).gather(i % 5),
        Surname=pl.lit(pl.Series(["Lee", "Berg", None, "Okafor"])).gather(i % 4),
        Phone=pl.when(i % 3 == 0).then("+4712" + (i % 1_000_000).cast(pl.String).str.zfill(6)),
        GdprOptin=i % 2 == 0, EmailOptin=i % 3 == 0, SmsOptin=pl.lit(None, pl.Boolean), WhatsappOptin=i % 7 == 0,
        Language=pl.lit(pl.Series(["en-GB", "nb-NO", "de-DE"])).gather(i % 3),
    )
    i = pl.int_range(n)
    if changed_every:
        frame = frame.with_columns(pl.when(i % changed_every == 0).then(pl.lit("Edited")).otherwise(pl.col("Name")).alias("Name"))
    if reorder:  # a serializer that writes keys in another order: the same content in other bytes
        frame = frame.select(sorted(frame.columns, reverse=True))
    key = "email:" + frame["Email"]
    return frame.with_columns(key.alias("__key"), pl.lit(1, pl.UInt32).alias("__rows"))


def build_ledger(state: str, n: int) -> None:
    from replenit_pipelines.lib.ledger import SqliteLedger, content_hashes, exact_hashes
    from replenit_pipelines.lib.validation import payload_parts

    records = customers(n, None)
    parts = payload_parts(records)
    keys, hashes, exact = records["__key"].to_list(), content_hashes(parts).to_list(), exact_hashes(parts).to_list()
    with SqliteLedger.open(state, BASE_URL, TENANT, "customers") as ledger:
        for start in range(0, n, 100_000):
            end = start + 100_000
            ledger.acknowledge(keys[start:end], hashes[start:end], "seed", exact[start:end])
        ledger.compact()


def child(state: str, n: int, reorder: bool) -> None:
    import psutil

    from replenit_pipelines.lib.ledger import SqliteLedger, diff, exact_hashes
    from replenit_pipelines.lib.validation import payload_parts

    records = customers(n, 100, reorder)
    parts = payload_parts(records)
    proc = psutil.Process()
    before = proc.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with SqliteLedger.open(state, BASE_URL, TENANT, "customers") as ledger:
        acked = ledger.lookup_keys(records["__key"])
        t1 = time.perf_counter()
        d = diff(records, parts, acked)
        t2 = time.perf_counter()
        done.set()
        sampler.join()
        t = time.perf_counter()
        exact_hashes(parts)
        exact_only = time.perf_counter() - t
        # Acknowledge: 200 batches of 500 changed-record identities, one fsync'd commit each.
        rng = random.Random(7)
        hashes, exact = d.send["hash"].to_list(), d.send["exact"].to_list()
        ack_ms = []
        for _ in range(200):
            pick = [rng.randrange(n) for _ in range(500)]
            batch_ids = [f"email:user{j}@example.com" for j in pick]
            start = time.perf_counter()
            ledger.acknowledge(batch_ids, [hashes[j % len(hashes)] if hashes else b"0" * 16 for j in pick], "bench",
                               [exact[j % len(exact)] if exact else b"0" * 16 for j in pick])
            ack_ms.append((time.perf_counter() - start) * 1000)
        t = time.perf_counter()
        ledger.compact()
        compact_s = time.perf_counter() - t
        size = ledger.size()
    ack_ms.sort()
    print(json.dumps({
        "records": n, "ledger_size": size, "new": d.records_new, "changed": d.records_changed, "unchanged": d.records_unchanged,
        "lookup_s": round(t1 - t0, 3), "classify_s": round(t2 - t1, 3), "diff_total_s": round(t2 - t0, 3),
        "exact_hashes_only_s": round(exact_only, 3),
        "rss_before_mb": round(before / 2**20), "rss_added_mb": round((peak[0] - before) / 2**20),
        "ack_p50_ms": round(statistics.median(ack_ms), 2), "ack_p95_ms": round(ack_ms[int(len(ack_ms) * 0.95) - 1], 2),
        "ack_max_ms": round(ack_ms[-1], 2), "compact_200x500_s": round(compact_s, 3),
    }))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--child", metavar="STATE_DIR")
    ap.add_argument("--reorder", action="store_true")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.records, args.reorder)
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        build_ledger(tmp, args.records)
        print(f"ledger of {args.records:,} customers built in {time.perf_counter() - t:.1f} s")
        for reorder in (False, True):
            # A fresh copy of the ledger each time, so one run's acknowledgements do not feed the next.
            run_dir = Path(tmp) / f"run-{int(reorder)}"
            shutil.copytree(Path(tmp) / "ledger", run_dir / "ledger")
            out = subprocess.run([sys.executable, __file__, "--child", str(run_dir), "--records", str(args.records),
                                  *(["--reorder"] if reorder else [])], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            label = "serializer changed (every record's bytes differ, content does not)" if reorder else "1% changed"
            print(f"\n{label}:")
            print(f"  diff {r['records']:,} records vs a {r['ledger_size']:,}-entry ledger: {r['diff_total_s']:.3f} s "
                  f"(lookup {r['lookup_s']:.3f} s, hash+classify {r['classify_s']:.3f} s; exact hashes alone "
                  f"{r['exact_hashes_only_s']:.3f} s)  goal <= 1 s")
            print(f"  new {r['new']:,}, changed {r['changed']:,}, unchanged {r['unchanged']:,}")
            print(f"  peak RSS added by the diff: {r['rss_added_mb']} MB (process held {r['rss_before_mb']} MB before)  goal <= 300 MB")
            print(f"  acknowledge 500 records, 200 batches: p50 {r['ack_p50_ms']} ms, p95 {r['ack_p95_ms']} ms, "
                  f"max {r['ack_max_ms']} ms  goal <= 5 ms; compact after: {r['compact_200x500_s']} s")


if __name__ == "__main__":
    main()
