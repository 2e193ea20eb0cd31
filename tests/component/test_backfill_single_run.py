"""Backfills as one run (issue 24, item 3), on a real Dagster instance, a real DuckDB warehouse and the
sandbox: with the component's `backfills: single_run`, three hourly partitions of orders materialized
as one run over their range read, diff and send them at once (full batches: fewer requests than three
runs of one partition each), and every partition still shows its own materialization, with the counts
a run of that partition alone reports, an account that closes, and its own check evaluations."""

import math
from datetime import UTC, datetime

import dagster as dg
import httpx
from component_helpers import defs_folder
from helpers import point_at_sandbox

from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.stages.lookback import closes
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
HOURS = ["2026-11-26-12:00", "2026-11-26-13:00", "2026-11-26-14:00"]
ORDERS = dg.AssetKey(["replenit", "orders"])
BATCH = 8  # small, so that three runs' last batches are partly empty
# No lookback: a partition's run then reads exactly its hour, as the range run reads exactly the range.
RUN_CONFIG = {"ops": {ORDERS.to_python_identifier(): {"config": {"lookback_hours": 0, "batch_size": BATCH}}}}
YAML = """
attributes:
  tenant: {id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY}
  backfills: single_run
"""
SHOWN = ("rows_read", "rows_delivered", "rows_quarantined", "rows_unchanged", "rows_dead_lettered", "dagster/row_count")


def shown(instance: dg.DagsterInstance, partition: str) -> dict:
    metadata = latest(instance, partition).metadata
    return {k: metadata[k].value for k in SHOWN}


def latest(instance: dg.DagsterInstance, partition: str) -> dg.AssetMaterialization:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=ORDERS, asset_partitions=[partition]), limit=1).records
    assert records and records[0].asset_materialization, f"partition {partition} was not materialized"
    return records[0].asset_materialization


def test_a_range_runs_as_one_run_with_each_partitions_own_counts_and_checks(tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    build_demo_warehouse(warehouse, customers=1500, seed=24, days=1, end=END)
    with Sandbox() as sandbox, defs_folder(replenit=YAML) as (_, loader):
        def orders_requests(tenant: str) -> int:
            return sum(1 for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json()
                       if tenant in r["path"] and "/orders" in r["path"])

        # One run a partition (the default way): one tenant, its own state.
        env = point_at_sandbox(monkeypatch, sandbox, warehouse, tmp_path / "state_each")
        with dg.instance_for_test() as instance, loader.load() as defs:
            job = defs.resolve_implicit_global_asset_job_def()
            assert defs.resolve_assets_def(ORDERS).backfill_policy == dg.BackfillPolicy.single_run()
            for hour in HOURS:
                run = job.execute_in_process(instance=instance, partition_key=hour, asset_selection=[ORDERS],
                                             run_config=RUN_CONFIG)
                assert run.success
            each = {hour: shown(instance, hour) for hour in HOURS}
        each_requests = orders_requests(env["REPLENIT_TENANT_ID"])

        # The same range as one run: another tenant, its own state.
        env = point_at_sandbox(monkeypatch, sandbox, warehouse, tmp_path / "state_range")
        tags = {"dagster/asset_partition_range_start": HOURS[0], "dagster/asset_partition_range_end": HOURS[-1]}
        with dg.instance_for_test() as instance, loader.load() as defs:
            job = defs.resolve_implicit_global_asset_job_def()
            run = job.execute_in_process(instance=instance, tags=tags, asset_selection=[ORDERS], run_config=RUN_CONFIG)
            assert run.success
            assert len(run.get_step_success_events()) == 1  # one run, one step, over the three hours
            assert instance.get_materialized_partitions(ORDERS) == set(HOURS)
            once = {hour: shown(instance, hour) for hour in HOURS}
            # Each partition: what its own run reports (the hours' orders were each written once).
            assert once == each
            assert all(counts["rows_delivered"] > 0 for counts in once.values())
            assert len({counts["rows_read"] for counts in once.values()}) > 1  # not one number copied thrice
            for hour in HOURS:
                counts = latest(instance, hour).metadata["partition_counts"].value
                assert closes(counts), counts  # the account of each partition closes on its own
            # Every check of every partition evaluated, on that partition.
            evaluations = {(e.partition, e.check_name): e.passed for e in run.get_asset_check_evaluations()}
            names = ("quarantine_share", "delivery_complete", "row_count_in_range", "window_column_not_null")
            assert set(evaluations) == {(hour, name) for hour in HOURS for name in names}
            assert evaluations[(HOURS[0], "row_count_in_range")] is True
            # Full batches: ceil(records / batch) requests for the range, fewer than one run a partition.
            range_requests = orders_requests(env["REPLENIT_TENANT_ID"])
            records_sent = sum(counts["dagster/row_count"] for counts in once.values())
            assert range_requests == math.ceil(records_sent / BATCH) < each_requests

            # Run again: every partition's records are unchanged, nothing is sent, each partition says so.
            again = job.execute_in_process(instance=instance, tags=tags, asset_selection=[ORDERS], run_config=RUN_CONFIG)
            assert again.success and orders_requests(env["REPLENIT_TENANT_ID"]) == range_requests
            for hour in HOURS:
                now = shown(instance, hour)
                assert now["rows_unchanged"] == once[hour]["rows_delivered"] and now["rows_delivered"] == 0
                assert now["dagster/row_count"] == once[hour]["dagster/row_count"]
