"""Near-real-time orders (issue 24, item 4), on a real Dagster instance, a real DuckDB warehouse and the
sandbox: the sensor of a component with `near_real_time: on` looks at the current hour's orders (and
the hour before); new orders in the warehouse make one run request, whose run sends them (their new
customer first) in the fresh lane; a second look with nothing changed launches nothing; the hourly
partition of that hour then sends no order again (the ledger holds them)."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import httpx
import pytest
from component_helpers import defs_folder
from helpers import counts_of, point_at_sandbox

from replenit_pipelines.component.near_real_time import HOUR_FORMAT, HOUR_TAG, changed_hours
from replenit_pipelines.lib.delivery.quota import QuotaLimiter, ledger_name
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.settings import Settings
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

NRT_YAML = """
attributes:
  tenant: {id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY}
  near_real_time: {interval_seconds: 60}
"""


def insert_order(warehouse, order_id: str, customer_id: str | None, at: datetime) -> None:
    """A copy of an existing order (and its lines) as a new order updated at `at` (UTC, naive in the
    warehouse); with `customer_id`, a new customer updated at `at` too, whom the order refers to."""
    naive = at.astimezone(UTC).replace(tzinfo=None)
    with duckdb.connect(str(warehouse)) as con:
        source = con.sql("SELECT o.order_id FROM orders o JOIN order_lines l USING (order_id) ORDER BY 1 LIMIT 1").fetchall()[0][0]
        if customer_id:
            con.execute("INSERT INTO customers SELECT * REPLACE ($id AS customer_id, $id || '@example.com' AS email, "
                        "$at AS updated_at) FROM customers LIMIT 1", {"id": customer_id, "at": naive})
        con.execute("INSERT INTO orders SELECT * REPLACE ($id AS order_id, coalesce($cust, customer_id) AS customer_id, "
                    "$at AS updated_at) FROM orders WHERE order_id = $src",
                    {"id": order_id, "cust": customer_id, "at": naive, "src": source})
        con.execute("INSERT INTO order_lines SELECT * REPLACE ($id AS order_id, $id || '-' || line_id AS line_id) "
                    "FROM order_lines WHERE order_id = $src", {"id": order_id, "src": source})


def away_from_the_hour_boundary() -> datetime:
    """Now, at least 2 minutes before the next hour: the orders inserted below stay in the sensor's
    window (the current hour and the one before) for the whole test."""
    now = datetime.now(UTC)
    if now.minute >= 58:
        time.sleep((60 - now.minute) * 60 - now.second + 1)
        now = datetime.now(UTC)
    return now


def test_the_sensor_sends_new_orders_within_a_tick_and_nothing_when_nothing_changed(tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    now = away_from_the_hour_boundary()
    hour = now.replace(minute=0, second=0, microsecond=0)
    build_demo_warehouse(warehouse, customers=200, seed=24, days=2, end=hour - timedelta(days=2), dirty_share=0)
    with Sandbox() as sandbox, dg.instance_for_test() as instance, defs_folder(replenit=NRT_YAML) as (_, loader):
        env = point_at_sandbox(monkeypatch, sandbox, warehouse, tmp_path / "state")
        tenant = env["REPLENIT_TENANT_ID"]
        with loader.load() as defs:
            sensor = defs.get_sensor_def("orders_near_real_time")
            job = defs.resolve_job_def("Sync_orders_near_real_time")

            def tick(cursor: str | None):
                return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs))

            def logged() -> list[dict]:
                return [r for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json() if tenant in r["path"]]

            # Nothing in the window yet: no run, and its cursor stays empty.
            first = tick(None)
            assert first.run_requests == [] and first.skip_message and first.cursor is None

            # A new customer's order in this hour, and a late order of the hour before.
            insert_order(warehouse, "NRT-1", "CNRT-1", now)
            insert_order(warehouse, "NRT-LATE", None, hour - timedelta(minutes=30))
            second = tick(None)
            assert len(second.run_requests) == 1, second.skip_message
            request = second.run_requests[0]
            assert request.tags[HOUR_TAG] == hour.strftime(HOUR_FORMAT)
            run = job.execute_in_process(instance=instance, tags=request.tags)
            assert run.success

            stored = sandbox.state.store
            assert stored.get(tenant, "orders", "NRT-1") is not None and stored.get(tenant, "orders", "NRT-LATE") is not None
            requests = logged()
            order_seqs = [r["seq"] for r in requests if "/orders" in r["path"]]
            customer_seqs = [r["seq"] for r in requests if "/customers" in r["path"]]
            assert order_seqs and customer_seqs and max(customer_seqs) < min(order_seqs)  # the new customer first
            # ... by the asset graph, not by the names' order: the orders come after the customers.
            orders_key, customers_key = (dg.AssetKey(["replenit", f"{e}_near_real_time"]) for e in ("orders", "customers"))
            assert customers_key in defs.resolve_asset_graph().get(orders_key).parent_keys
            assert {r["status"] for r in requests} == {200}
            mat = instance.get_latest_materialization_event(dg.AssetKey(["replenit", "orders_near_real_time"]))
            # The window's own order and the late one (the lookback), each read and delivered whole (a row a line).
            own, late = counts_of(mat.asset_materialization), counts_of(mat.asset_materialization, "lookback")
            assert own["rows_read"] == own["rows_delivered"] > 0 and late["rows_read"] == late["rows_delivered"] > 0
            assert mat.asset_materialization.metadata["accounting"].value  # the same accounting metadata as a partition
            # In the quota's fresh lane: every request of the run.
            quota = QuotaLimiter([(100, 60.0), (5000, 3600.0)],
                                 Settings.from_env().quota_dir / ledger_name(sandbox.url, env["REPLENIT_API_KEY"]))
            with quota._state(write=False) as ledger:
                fresh = sum(ledger["lanes"].get("fresh", {}).get(repr(3600.0), {}).values())
                bulk = sum(ledger["lanes"].get("bulk", {}).get(repr(3600.0), {}).values())
            assert fresh == len(requests) and bulk == 0

            # Nothing changed since: no run request, no request.
            before = len(logged())
            third = tick(second.cursor)
            assert third.run_requests == [] and "changed" in (third.skip_message or "")
            assert len(logged()) == before

            # A changed order (its update time moves) is seen on the next tick.
            with duckdb.connect(str(warehouse)) as con:
                con.execute("UPDATE orders SET status = 'cancelled', updated_at = $at WHERE order_id = 'NRT-1'",
                            {"at": datetime.now(UTC).replace(tzinfo=None)})
            assert len(tick(second.cursor).run_requests) == 1

            # The hourly partition of the late order's hour finds it unchanged: no order request.
            before = len(logged())
            hourly = defs.resolve_job_def("Sync_products_and_orders_hourly").execute_in_process(
                instance=instance, partition_key=(hour - timedelta(hours=1)).strftime(HOUR_FORMAT))
            assert hourly.success
            assert [r for r in logged()[before:] if "/orders" in r["path"]] == []
            orders_mat = [m for m in hourly.asset_materializations_for_node("replenit__orders")]
            assert counts_of(orders_mat[0])["rows_unchanged"] >= 1


def test_the_sensor_waits_while_a_near_real_time_run_is_going(tmp_path, monkeypatch):
    """Two near-real-time runs at once would send the same orders twice: the sensor skips while one
    is queued or going, and keeps its cursor, so the next tick after it ends launches."""
    warehouse = tmp_path / "warehouse.duckdb"
    now = away_from_the_hour_boundary()
    build_demo_warehouse(warehouse, customers=50, seed=25, days=1, end=now - timedelta(days=2), dirty_share=0)
    insert_order(warehouse, "NRT-2", None, now)
    with Sandbox() as sandbox, dg.instance_for_test() as instance, defs_folder(replenit=NRT_YAML) as (_, loader):
        point_at_sandbox(monkeypatch, sandbox, warehouse, tmp_path / "state")
        with loader.load() as defs:
            sensor = defs.get_sensor_def("orders_near_real_time")
            going = instance.create_run_for_job(defs.resolve_job_def("Sync_orders_near_real_time"),
                                                status=dg.DagsterRunStatus.STARTED)
            waiting = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
            assert waiting.run_requests == [] and going.run_id[:8] in (waiting.skip_message or "")
            assert waiting.cursor is None
            instance.report_run_failed(going)
            assert len(sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs)).run_requests) == 1


@pytest.mark.parametrize(("seen", "now", "changed"), [
    ({}, {"h1": [0, "None"], "h2": [0, "None"]}, []),  # first look, nothing there
    ({}, {"h1": [3, "t"], "h2": [0, "None"]}, ["h1"]),  # first look: rows to send
    ({"h1": [3, "t"], "h2": [1, "u"]}, {"h2": [1, "u"], "h3": [0, "None"]}, []),  # the hour turned, nothing new
    ({"h1": [3, "t"], "h2": [1, "u"]}, {"h2": [1, "u"], "h3": [1, "v"]}, ["h3"]),  # the new hour's first order
    ({"h1": [3, "t"], "h2": [1, "u"]}, {"h1": [3, "t"], "h2": [1, "w"]}, ["h2"]),  # a changed order
    ({"h1": [3, "t"], "h2": [1, "u"]}, {"h1": [2, "t"], "h2": [1, "u"]}, ["h1"]),  # an order moved out (or deleted)
])
def test_changed_hours(seen, now, changed):
    assert changed_hours(seen, now) == changed


def test_near_real_time_is_off_by_default_and_checked(tmp_path, monkeypatch):
    plain = "attributes:\n  tenant: {id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY}\n"
    with defs_folder(replenit=plain) as (_, loader), loader.load() as defs:
        assert [s.name for s in defs.sensors or [] if "near_real_time" in s.name] == []
    bad = plain + "  near_real_time: {interval_seconds: 0}\n"
    with defs_folder(replenit=bad) as (_, loader), pytest.raises(Exception) as raised:
        with loader.load():
            pass
    from component_helpers import error_text

    assert "near_real_time.interval_seconds must be" in error_text(raised.value)
    running = plain + "  near_real_time: {interval_seconds: 30, status: running}\n"
    with defs_folder(replenit=running) as (_, loader), loader.load() as defs:
        sensor = defs.get_sensor_def("orders_near_real_time")
        assert sensor.minimum_interval_seconds == 30 and sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_dry_run_of_the_near_real_time_job_plans_without_sending(tmp_path, monkeypatch):
    """The run config of the near-real-time assets is a sync's: a dry run reads, diffs and plans the
    hour so far, observes the plan on the (unpartitioned) asset and sends nothing."""
    warehouse = tmp_path / "warehouse.duckdb"
    now = away_from_the_hour_boundary()
    build_demo_warehouse(warehouse, customers=50, seed=26, days=1, end=now - timedelta(days=2), dirty_share=0)
    insert_order(warehouse, "NRT-3", None, now)
    with Sandbox() as sandbox, dg.instance_for_test() as instance, defs_folder(replenit=NRT_YAML) as (_, loader):
        point_at_sandbox(monkeypatch, sandbox, warehouse, tmp_path / "state")
        with loader.load() as defs:
            dry = {"config": {"dry_run": True}}
            run = defs.resolve_job_def("Sync_orders_near_real_time").execute_in_process(instance=instance, run_config={
                "ops": {"replenit__orders_near_real_time": dry, "replenit__customers_near_real_time": dry}})
            assert run.success
            # The customers' plan (the orders after them are skipped: a dry run materializes nothing).
            observed = [e.event_specific_data.asset_observation for e in run.all_events if e.event_type_value == "ASSET_OBSERVATION"]
            assert [(o.asset_key.path[-1], o.partition) for o in observed] == [("customers_near_real_time", None)]
            assert "plan_requests" in observed[0].metadata
            assert httpx.get(f"{sandbox.url}/_sandbox/requests").json() == []
