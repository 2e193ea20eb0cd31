"""How close a plan's ETA is to the real run (issue 13): a dry run of a day of customers, its ETA on
the key's quota ledger, then the real run, timed. A time-scaled quota (--limits) on the sandbox and
the client, small batches so the run is many requests. Goal: the ETA within 10% of the wall time,
the real run's requests equal to the plan's.

    ./dev bench plan_eta [--requests 160 400] [--limits 10/0.5,5000/36] [--batch 5] [--repeat 3]
"""

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from replenit_pipelines.lib.contract.api import parse_limits
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.plan import eta, quota_snapshot
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict

DAY = datetime(2026, 11, 26, tzinfo=UTC)
MAPPING = entity_mapping_from_dict("customers", {
    "source": {"table": "customers", "window_column": "updated_at"},
    "fields": {"CustomerId": "id", "Email": "email", "Name": "name"},
})


def one(requests: int, limits, batch: int) -> tuple[int, int, float, float]:
    folder = Path(tempfile.mkdtemp(prefix="plan-eta-"))
    rows = pl.DataFrame({"id": [f"c{i}" for i in range(requests * batch)],
                         "email": [f"user{i}@example.com" for i in range(requests * batch)],
                         "name": [f"User {i}" for i in range(requests * batch)],
                         "updated_at": [DAY.replace(tzinfo=None) + timedelta(seconds=i) for i in range(requests * batch)]})
    with duckdb.connect(str(folder / "wh.duckdb")) as con:
        con.register("f", rows.to_arrow())
        con.execute("CREATE TABLE customers AS SELECT * FROM f")
    with Sandbox(limits=list(limits)) as sb:
        tenant_id, key = sb.add_tenant()
        store = DuckDBStateStore(folder / "state.duckdb")
        with ReplenitClient(ClientConfig(base_url=sb.url, tenant_id=tenant_id, api_key=key, limits=tuple(limits),
                                         batch_sizes={"customers": batch}, quota_dir=str(folder / "quota"))) as client:

            def sync(dry_run: bool):
                return sync_window(SyncRequest(mapping=MAPPING, warehouse=Warehouse(folder / "wh.duckdb"), client=client,
                                               store=store, start=DAY, end=DAY + timedelta(days=1), partition_key="d",
                                               run_id=f"bench-{dry_run}", dry_run=dry_run))

            sync(True)  # warm-up: the real run below is warm too
            plan = sync(True)
            estimate = eta(plan.requests_planned, quota_snapshot(client.quota), lead_s=plan.duration_s)
            started = time.monotonic()
            real = sync(False)
            wall = time.monotonic() - started
    c = real.counts()
    return plan.requests_planned, c["requests"] + c["retry_requests"], estimate.alone_s, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, nargs="+", default=[160, 400])
    ap.add_argument("--limits", default="10/0.5,5000/36")
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    limits = parse_limits(args.limits)
    print(f"limits {args.limits}, {args.batch} customers a request")
    print(f"{'planned':>8} {'spent':>6} {'ETA s':>8} {'wall s':>8} {'error':>7}")
    for n in args.requests:
        for _ in range(args.repeat):
            planned, spent, estimate, wall = one(n, limits, args.batch)
            print(f"{planned:>8} {spent:>6} {estimate:>8.2f} {wall:>8.2f} {(estimate - wall) / wall:>+7.1%}")


if __name__ == "__main__":
    main()
