"""Backfills as one run (issue 24, item 3): a backfill of N hourly orders partitions, one run a
partition (the default) against one run over the range (component `backfills: single_run`), in
process on a real Dagster instance each, a demo warehouse and the sandbox at the API's real quota.

    ./dev bench backfill_single_run [--partitions 24] [--batch-size 500]

Prints, for each way, the requests it sent, the wall time of all its runs and whether every
partition was materialized with its own counts (the range run's rows read per partition equal
the per-partition runs'). In process, so Dagster's start-up per run (about 16 s a CLI run here:
bench/backfill_startup.py) is not in these times: a real backfill of one run a partition pays it
N times, a single run once.
"""

import argparse
import os
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
from dagster.components.testing import create_defs_folder_sandbox

from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
ORDERS = dg.AssetKey(["replenit", "orders"])


def rows_read(instance: dg.DagsterInstance, partition: str) -> int:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=ORDERS, asset_partitions=[partition]), limit=1).records
    return int(records[0].asset_materialization.metadata["rows_read"].value) if records and records[0].asset_materialization else -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=None, help="records a request (default: the entity's)")
    parser.add_argument("--customers", type=int, default=3000, help="the demo warehouse's size")
    args = parser.parse_args()
    hours = [(END - timedelta(hours=args.partitions - i)).strftime("%Y-%m-%d-%H:%M") for i in range(args.partitions)]
    config = {"lookback_hours": 0, **({"batch_size": args.batch_size} if args.batch_size else {})}
    run_config = {"ops": {ORDERS.to_python_identifier(): {"config": config}}}
    with tempfile.TemporaryDirectory() as tmp, Sandbox() as sandbox, create_defs_folder_sandbox() as project:
        warehouse = Path(tmp) / "warehouse.duckdb"
        build_demo_warehouse(warehouse, customers=args.customers, seed=24, days=2, end=END, dirty_share=0)
        folder = project.defs_folder_path / "replenit"
        folder.mkdir(parents=True)
        (folder / "defs.yaml").write_text("type: replenit_pipelines.ReplenitSyncComponent\n" + textwrap.dedent("""
            attributes:
              tenant: {id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY}
              backfills: single_run
            """).lstrip())
        os.environ.pop("REPLENIT_MAPPING", None)
        seen: dict[str, list[int]] = {}
        for way in ("one run a partition", "one run over the range"):
            tenant, key = sandbox.add_tenant()
            os.environ.update({"REPLENIT_BASE_URL": sandbox.url, "REPLENIT_TENANT_ID": tenant, "REPLENIT_API_KEY": key,
                               "REPLENIT_WAREHOUSE": str(warehouse), "REPLENIT_STATE_DIR": f"{tmp}/state-{len(seen)}",
                               "REPLENIT_LIMITS": "100/60,5000/3600"})
            with project.build_all_defs() as defs, dg.instance_for_test() as instance:
                job = defs.resolve_implicit_global_asset_job_def()
                started = time.perf_counter()
                if way == "one run a partition":
                    runs = [job.execute_in_process(instance=instance, partition_key=h, asset_selection=[ORDERS],
                                                   run_config=run_config) for h in hours]
                else:
                    tags = {"dagster/asset_partition_range_start": hours[0], "dagster/asset_partition_range_end": hours[-1]}
                    runs = [job.execute_in_process(instance=instance, tags=tags, asset_selection=[ORDERS], run_config=run_config)]
                wall = time.perf_counter() - started
                assert all(r.success for r in runs)
                requests = sum(1 for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json()
                               if tenant in r["path"] and "/orders" in r["path"])
                seen[way] = [rows_read(instance, h) for h in hours]
                print(f"{way}: {len(runs)} run(s), {requests} requests, {wall:.1f} s wall; "
                      f"{sum(n >= 0 for n in seen[way])}/{len(hours)} partitions materialized, {sum(seen[way]):,} rows read")
        same = seen["one run a partition"] == seen["one run over the range"]
        print(f"each partition's rows read the same both ways: {same}")


if __name__ == "__main__":
    main()
