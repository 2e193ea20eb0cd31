"""Chaos, long form: a day of customers, products and orders from the demo warehouse delivered
through a sandbox where a share of requests (20% by default) meets a fault: 500, 503, a spurious
429, a hang past the client's read timeout, a dropped connection. Several seeds.

Per seed and entity: valid records, requests, faults met, retries, 429s, records stored, records
missing, records extra, records stored more than once under different keys (never possible:
upserts), and records written more than once (a retry after a timeout whose request the server
had not yet refused; harmless under upserts, counted for the record). Goal: missing = extra = 0.
"""

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox
from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.validation import payload_parts, prepare
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
KEYS = {"orders": "OrderId", "products": "ProductId"}


def key_of(entity: str, r: dict) -> str:
    if entity == "customers":
        return f"email:{r['Email'].lower()}" if r.get("Email") else f"customerid:{r['CustomerId']}"
    return r[KEYS[entity]]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20000, help="demo warehouse size (over 2 days)")
    ap.add_argument("--fault-share", type=float, default=0.20)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=50, help="records per request: small, for many requests")
    args = ap.parse_args()
    f = args.fault_share
    print(f"faults: {f:.0%} of requests (500 {f / 4:.1%}, 503 {f / 4:.1%}, 429 {f / 5:.1%}, hang {f * 3 / 20:.1%}, "
          f"drop {f * 3 / 20:.1%}); batch {args.batch}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "warehouse.duckdb"
        build_demo_warehouse(warehouse, customers=args.customers, seed=11, days=2, end=END)
        start = datetime(2026, 11, 26, tzinfo=UTC)
        mappings = load_mapping(DEMO_MAPPING)
        payloads = {e: payload_parts(prepare(mappings[e], Warehouse(warehouse).read(mappings[e], start, start + timedelta(days=1))).records)
                    for e in ("customers", "products", "orders")}
        for seed in range(args.seeds):
            faults = FaultConfig(seed=seed, p500=f / 4, p503=f / 4, p429=f / 5, p_hang=f * 3 / 20, p_drop=f * 3 / 20,
                                 hang_seconds=1.0)
            with Sandbox(limits=[], faults=faults) as sb:
                tenant_id, key = sb.add_tenant()
                client = ReplenitClient(ClientConfig(
                    base_url=sb.url, tenant_id=tenant_id, api_key=key, limits=(),
                    batch_sizes={e: args.batch for e in payloads}, read_timeout_s=0.5, backoff_base_s=0.02,
                    backoff_cap_s=0.2, max_attempts=8, seed=seed, quota_dir=str(Path(tmp) / f"quota-{seed}")))
                for entity in ("customers", "products", "orders"):
                    parts = payloads[entity]
                    expected = {key_of(entity, orjson.loads(p)): orjson.loads(p) for p in parts}
                    t0 = time.monotonic()
                    report = client.deliver_serialized(entity, parts)
                    wall = time.monotonic() - t0
                    held = httpx.get(f"{sb.url}/_sandbox/records/{tenant_id}/{entity}").json()
                    got = {r["key"]: r["record"] for r in held}
                    log = [r for r in httpx.get(f"{sb.url}/_sandbox/requests").json() if f"/{entity}/" in r["path"]]
                    by_status: dict = {}
                    for r in log:
                        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
                    missing = len(set(expected) - set(got))
                    extra = len(set(got) - set(expected))
                    wrong = sum(got[k] != v for k, v in expected.items() if k in got)
                    rewritten = sum(r["writes"] > 1 for r in held)
                    c = report.counters
                    good = missing == extra == wrong == 0 and not report.failed and not report.rejected
                    ok &= good
                    print(f"seed {seed} {entity:<9} {len(parts):>6} valid records, {c.requests:>4} requests "
                          f"(answered by status {dict(sorted(by_status.items()))}), retries {c.retries}, 429s {c.rate_limited}; "
                          f"stored {len(got)}, missing {missing}, extra {extra}, differing {wrong}, written twice {rewritten}; "
                          f"{wall:.1f} s: {'PASS' if good else 'FAIL'}", flush=True)
                client.close()
    print("chaos:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
