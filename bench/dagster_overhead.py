"""What Dagster adds on top of the lib/ pipeline: 100,000 customers in one daily partition,
sandbox limits off, the same warehouse and sandbox for both (issue 5).

Goal: Dagster's overhead under 10% of the lib/ pipeline's time, plus a fixed start-up
(imports and loading the definitions), which is reported on its own. Median of 3 each.
"""

import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from _common import start_sandbox, stop_sandbox

END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = END - timedelta(days=1)


def main() -> None:
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_demo_warehouse(tmp / "wh.duckdb", customers=100_000, seed=3, days=1, orders=10, end=END)
        tenant, key = str(uuid.uuid4()), "b3ZlcmhlYWQta2V5"
        proc, url = start_sandbox("--tenant", f"{tenant}:{key}", "--limits", "off")
        os.environ.update(REPLENIT_BASE_URL=url, REPLENIT_TENANT_ID=tenant, REPLENIT_API_KEY=key,
                          REPLENIT_WAREHOUSE=str(tmp / "wh.duckdb"), REPLENIT_STATE_DIR=str(tmp / "state"),
                          REPLENIT_LIMITS="off", DAGSTER_HOME=str(tmp / "home"))
        (tmp / "home").mkdir()
        (tmp / "home" / "dagster.yaml").write_text((Path(__file__).resolve().parent.parent / "dagster.yaml").read_text())
        try:
            started = time.perf_counter()
            import dagster as dg

            from replenit_pipelines.definitions import defs as load_defs

            defs = load_defs()
            job = defs.resolve_job_def("Sync_customers_daily")
            instance = dg.DagsterInstance.get()
            startup = time.perf_counter() - started

            from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
            from replenit_pipelines.lib.settings import DEMO_MAPPING
            from replenit_pipelines.lib.state import DuckDBStateStore
            from replenit_pipelines.lib.sync import SyncRequest, sync_window
            from replenit_pipelines.lib.warehouse import Warehouse, load_mapping

            mapping = load_mapping(DEMO_MAPPING)["customers"]

            def lib_run(day: datetime = DAY) -> float:
                t = time.perf_counter()
                client = ReplenitClient(ClientConfig(base_url=url, tenant_id=tenant, api_key=key, limits=(),
                                                     quota_dir=str(tmp / "state" / "quota")))
                result = sync_window(SyncRequest(
                    mapping=mapping, warehouse=Warehouse(tmp / "wh.duckdb"), client=client,
                    store=DuckDBStateStore(tmp / "state" / "state.duckdb"), start=day, end=day + timedelta(days=1),
                    partition_key=day.strftime("%Y-%m-%d"), run_id=f"lib-{uuid.uuid4()}"))
                assert result.rows_delivered > 90_000 or day != DAY, result.counts()
                return time.perf_counter() - t

            def dagster_run(day: datetime = DAY) -> float:
                t = time.perf_counter()
                result = job.execute_in_process(partition_key=day.strftime("%Y-%m-%d"), instance=instance,
                                                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
                assert result.success
                return time.perf_counter() - t

            # The same on a day with no rows: what a run costs whatever its size.
            empty_day = DAY - timedelta(days=3)
            lib_empty = statistics.median(lib_run(empty_day) for _ in range(3))
            dagster_empty = statistics.median(dagster_run(empty_day) for _ in range(3))
            lib_times, dagster_times = [], []
            for _ in range(3):
                httpx.post(f"{url}/_sandbox/reset")
                lib_times.append(lib_run())
                httpx.post(f"{url}/_sandbox/reset")
                dagster_times.append(dagster_run())
        finally:
            stop_sandbox(proc)
    lib, dag = statistics.median(lib_times), statistics.median(dagster_times)
    per_run = dagster_empty - lib_empty
    overhead = (dag - lib - per_run) / lib
    print(f"100,000 customers, limits off: lib/ pipeline {lib:.2f} s, through Dagster materialize {dag:.2f} s "
          f"(runs lib {', '.join(f'{x:.2f}' for x in lib_times)}; dagster {', '.join(f'{x:.2f}' for x in dagster_times)}); "
          f"in all {dag - lib:+.2f} s ({(dag - lib) / lib:+.1%}), of which {per_run:.2f} s is fixed per run (an empty partition: "
          f"lib {lib_empty:.3f} s, Dagster {dagster_empty:.3f} s); size-proportional overhead {overhead:+.1%}; "
          f"process start-up {startup:.2f} s (imports, definitions, instance); "
          f"goal < 10%: {'PASS' if overhead < 0.10 else 'FAIL'}")


if __name__ == "__main__":
    main()
