"""The reconciliation jobs through the code location (issue 12): one job per entity with run
config, schedules off by default, batch size from run config. A real Dagster instance, the
sandbox over HTTP, the demo warehouse."""

from datetime import UTC, datetime

import dagster as dg
import httpx
import pytest
from helpers import point_at_sandbox

from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("reconcile-wh") / "warehouse.duckdb"
    build_demo_warehouse(path, customers=1500, seed=12, days=2, end=datetime(2026, 11, 27, tzinfo=UTC))
    return path


def requests_of(url: str, tenant_id: str) -> list[dict]:
    return [r for r in httpx.get(f"{url}/_sandbox/requests").json() if tenant_id in r["path"]]


def test_each_entity_has_a_reconcile_job_and_a_schedule_that_is_off():
    from replenit_pipelines.definitions import defs

    d = defs()
    for entity in ("customers", "orders", "products"):
        assert d.resolve_job_def(f"reconcile_{entity}") is not None
        schedule = d.resolve_schedule_def(f"reconcile_{entity}_weekly")
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_the_customers_reconcile_job_loads_everything_then_sends_nothing(sandbox, warehouse_file, tmp_path, monkeypatch):
    from replenit_pipelines.definitions import defs

    env = point_at_sandbox(monkeypatch, sandbox, warehouse_file, tmp_path / "state")
    tenant = env["REPLENIT_TENANT_ID"]
    job = defs().resolve_job_def("reconcile_customers")
    config = {"ops": {"customers_reconcile": {"config": {"batch_size": 300, "chunk_rows": 500, "mirror": True}}}}
    with dg.instance_for_test() as instance:
        first = job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
        sent = requests_of(sandbox.url, tenant)
        assert sent and max(r["records"] for r in sent) == 300  # the run config's batch size
        observed = instance.fetch_observations(dg.AssetKey(["replenit", "customers"]), limit=1).records[0]
        counts = observed.asset_observation.metadata["reconcile"].value  # every count, as JSON (not plotted)
        import duckdb

        with duckdb.connect(str(warehouse_file), read_only=True) as con:
            in_table = con.execute("SELECT count(*) FROM customers").fetchone()[0]
        assert counts["rows_read"] == in_table and counts["chunks"] >= 3  # every row, NULL windows too
        assert counts["rows_delivered"] == sum(r["records"] for r in sent if r["status"] == 200)
        # the demo's dirty rows trip no gate at 2% (the fixed gate's 5%)
        assert first.success, [e.message for e in first.all_events if e.is_failure]
        again = job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
        assert again.success
        assert len(requests_of(sandbox.url, tenant)) == len(sent)  # nothing more sent


def test_a_refused_mirror_run_fails_with_what_it_would_delete(sandbox, warehouse_file, tmp_path, monkeypatch):
    import duckdb

    from replenit_pipelines.definitions import defs

    wh = tmp_path / "wh.duckdb"
    wh.write_bytes(warehouse_file.read_bytes())
    env = point_at_sandbox(monkeypatch, sandbox, wh, tmp_path / "state")
    job = defs().resolve_job_def("reconcile_customers")
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, raise_on_error=False).success
        before = len(requests_of(sandbox.url, env["REPLENIT_TENANT_ID"]))
        with duckdb.connect(str(wh)) as con:
            con.execute("DELETE FROM customers WHERE hash(customer_id) % 2 = 0")
        refused = job.execute_in_process(instance=instance, raise_on_error=False,
                                         run_config={"ops": {"customers_reconcile": {"config": {"mirror": True}}}})
        assert not refused.success
        assert "max_delete_share" in str(refused.all_events) and "nothing was sent" in str(refused.all_events)
        assert len(requests_of(sandbox.url, env["REPLENIT_TENANT_ID"])) == before


def test_a_partition_syncs_batch_size_comes_from_run_config(sandbox, warehouse_file, tmp_path, monkeypatch):
    from replenit_pipelines.definitions import defs

    env = point_at_sandbox(monkeypatch, sandbox, warehouse_file, tmp_path / "state")
    with dg.instance_for_test() as instance:
        result = defs().resolve_job_def("Sync_customers_daily").execute_in_process(
            partition_key="2026-11-26", instance=instance, raise_on_error=False,
            run_config={"ops": {"replenit__customers": {"config": {"batch_size": 120}}}})
    sent = [r for r in requests_of(sandbox.url, env["REPLENIT_TENANT_ID"]) if r["method"] == "POST"]
    assert result.success and len(sent) > 1
    assert max(r["records"] for r in sent) == 120
