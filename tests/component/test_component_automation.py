"""Syncs after the user's own assets (issue 25 item 3): with `deps` naming the upstream asset of each
entity and `automation: after_upstream`, each sync's latest partition is requested when its upstream
materializes, and the hour's orders after that hour's customers and products syncs. Evaluated by
Dagster's own automation evaluation (`evaluate_automation_conditions`) on a real instance."""

from datetime import UTC, datetime

import dagster as dg
import pytest
from component_helpers import defs_folder

from replenit_pipelines.lib.settings import DEMO_MAPPING

T = datetime(2026, 12, 6, 1, 30, tzinfo=UTC)  # the latest day is 2026-12-05, the latest hour 2026-12-06 00:00
DAY, HOUR = "2026-12-05", "2026-12-06-00:00"
UPSTREAM = {"customers": "analytics/dim_customers", "products": "analytics/dim_products", "orders": "analytics/fct_orders",
            "ProductVariants": "analytics/dim_variants", "OrderItems": "analytics/fct_order_lines"}


def component_yaml(automation: str, status: str = "stopped") -> str:
    deps = ", ".join(f"{e}: [{k}]" for e, k in UPSTREAM.items())
    return f"""
        attributes:
          tenant: {{id_env: SHOP_TENANT_ID, key_env: SHOP_API_KEY}}
          mapping: {DEMO_MAPPING}
          partitions_start: "2026-12-01"
          deps: {{{deps}}}
          automation: {automation}
          automation_status: {status}
        """


@pytest.fixture(autouse=True)
def state(monkeypatch, tmp_path):
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path))


def with_upstream(defs: dg.Definitions) -> dg.Definitions:
    """The user's upstream assets (here external: in a user's project, their dbt models)."""
    return dg.Definitions.merge(defs, dg.Definitions(assets=[dg.AssetSpec(dg.AssetKey.from_user_string(k))
                                                            for k in UPSTREAM.values()]))


def requested(result: dg.EvaluateAutomationConditionsResult) -> dict[str, set[str]]:
    out = {}
    for name in ("customers", "customers_intraday", "products", "orders"):
        parts = result.get_requested_partitions(dg.AssetKey(["replenit", name]))
        if parts:
            out[name] = set(parts)
    return out


def materialized(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=dg.AssetKey.from_user_string(key), partition=partition))


def test_each_sync_runs_after_its_upstream_and_orders_after_the_hours_customers_and_products():
    with defs_folder(shop=component_yaml("after_upstream")) as (_, loader), loader.load() as component_defs:
        defs = with_upstream(component_defs)
        instance = dg.DagsterInstance.ephemeral()
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=T)
        assert requested(result) == {}  # nothing upstream has materialized yet

        materialized(instance, UPSTREAM["customers"])
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=T, cursor=result.cursor)
        # The latest day, and the day so far before the latest hour's orders.
        assert requested(result) == {"customers": {DAY}, "customers_intraday": {HOUR}}

        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=T, cursor=result.cursor)
        assert requested(result) == {}  # once per update

        for name in ("products", "ProductVariants", "orders", "OrderItems"):
            materialized(instance, UPSTREAM[name])
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=T, cursor=result.cursor)
        # Orders wait for the hour's customers and products syncs (not yet materialized).
        assert requested(result) == {"products": {HOUR}}

        materialized(instance, "replenit/customers_intraday", HOUR)
        materialized(instance, "replenit/products", HOUR)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=T, cursor=result.cursor)
        assert requested(result) == {"orders": {HOUR}}


@pytest.mark.parametrize("automation,status,schedules,sensor", [
    ("schedules", "stopped", True, None),
    ("after_upstream", "stopped", False, dg.DefaultSensorStatus.STOPPED),
    ("schedules_and_upstream", "running", True, dg.DefaultSensorStatus.RUNNING),
    ("manual", "stopped", False, None),
])
def test_schedules_or_an_automation_sensor_of_its_own(automation, status, schedules, sensor):
    with defs_folder(shop=component_yaml(automation, status)) as (_, loader), loader.load() as defs:
        repo = defs.get_repository_def()
        sync_schedules = {s.name for s in repo.schedule_defs} & {"customers_daily_schedule", "products_and_orders_hourly_schedule"}
        assert bool(sync_schedules) is schedules
        sensors = {s.name: s for s in repo.sensor_defs}
        if sensor is None:
            assert "replenit_after_upstream" not in sensors
            assert repo.asset_graph.get(dg.AssetKey(["replenit", "orders"])).automation_condition is None
            return
        own = sensors["replenit_after_upstream"]
        assert own.default_status == sensor
        assert own.asset_selection.resolve(repo.asset_graph) == {
            dg.AssetKey(["replenit", n]) for n in ("customers", "customers_intraday", "products", "orders")}
