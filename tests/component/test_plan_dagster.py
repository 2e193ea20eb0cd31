"""Plans before spending through the code location (issue 13): `dry_run: true` on a sync asset sends
nothing, writes nothing and records no materialization, only an observation with the plan; the
real run that follows spends what the plan said; `replenit quota` and the replenit/quota asset
show what the runs spent. A real Dagster instance, the sandbox over HTTP, the demo warehouse.
"""

import json
import re
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import pytest
from helpers import counts_of, point_at_sandbox

from replenit_pipelines.lib.ledger import open_ledger
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
DAY, DAY_BEFORE = "2026-11-26", "2026-11-25"
CUSTOMERS = dg.AssetKey(["replenit", "customers"])


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan-wh") / "warehouse.duckdb"
    build_demo_warehouse(path, customers=2400, seed=13, days=2, end=END)
    return path


@pytest.fixture
def env(sandbox, warehouse_file, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_RETRY_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("REPLENIT_LIMITS", raising=False)
    return point_at_sandbox(monkeypatch, sandbox, warehouse_file, tmp_path / "state")


def posts(sandbox_url: str, tenant_id: str) -> list[dict]:
    return [r for r in httpx.get(f"{sandbox_url}/_sandbox/requests").json() if tenant_id in r["path"] and r["method"] == "POST"]


def run_customers(instance, partition: str, config: dict | None = None):
    from replenit_pipelines.definitions import defs

    run_config = {"ops": {"replenit__customers": {"config": config}}} if config else None
    result = defs().resolve_job_def("Sync_customers_daily").execute_in_process(
        partition_key=partition, instance=instance, raise_on_error=False, run_config=run_config)
    assert result.success
    return result


def materializations(instance) -> list:
    return instance.fetch_materializations(CUSTOMERS, limit=100).records


def check_evaluations(instance) -> int:
    """Check evaluations (passed or failed) recorded on the customers asset, all checks. A run that
    selects a check and yields no result leaves it PLANNED (shown as skipped), not evaluated."""
    return sum(1 for name in ("quarantine_share", "delivery_complete", "row_count_in_range", "window_column_not_null")
               for h in instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(CUSTOMERS, name), limit=100)
               if h.event is not None and h.event.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION)


def observations(instance) -> list:
    return instance.fetch_observations(CUSTOMERS, limit=100).records


def state_of(env: dict) -> tuple:
    """What a dry run must leave as it is: the ledger, the state store's runs, the quota ledgers."""
    state_dir = Path(env["REPLENIT_STATE_DIR"])
    with closing(open_ledger(state_dir, env["REPLENIT_BASE_URL"], env["REPLENIT_TENANT_ID"], "customers")) as ledger:
        acked = (ledger.size(), ledger.newest_ack())
    runs = DuckDBStateStore(state_dir / "state.duckdb").query("SELECT * FROM sync_runs ORDER BY finished_at").rows()
    quota = {p.name: p.read_text() for p in sorted((state_dir / "quota").glob("*.json"))}
    return acked, runs, quota


def test_a_dry_run_sends_writes_and_materializes_nothing_and_the_real_run_spends_its_plan(env, sandbox):
    tenant = env["REPLENIT_TENANT_ID"]
    with dg.instance_for_test() as instance:
        run_customers(instance, DAY_BEFORE)  # a ledger, a run row and a quota ledger to leave alone
        sent_before = len(posts(sandbox.url, tenant))
        before, mats_before, checks_before = state_of(env), len(materializations(instance)), check_evaluations(instance)
        assert before[0][0] > 0 and len(before[1]) == 1 and before[2]

        dry = run_customers(instance, DAY, {"dry_run": True})
        assert len(posts(sandbox.url, tenant)) == sent_before  # not one request
        assert state_of(env) == before
        assert len(materializations(instance)) == mats_before
        assert check_evaluations(instance) == checks_before == 4  # none lands on the last real materialization
        assert not dry.get_asset_materialization_events()
        (observed,) = observations(instance)
        assert observed.partition_key == DAY
        plan = observed.asset_observation.metadata["plan"].value
        assert plan["dry_run"] is True and plan["requests_needed"] >= 2 and plan["records_to_send"] > 0
        assert plan["eta"]["requests"] == plan["requests_needed"] and plan["eta"]["alone_s"] >= 0
        assert plan["eta"]["next_run"]["schedule"] in ("customers_daily_schedule", "products_and_orders_hourly_schedule")
        assert any("Plan for customers 2026-11-26" in e.user_message for e in instance.all_logs(dry.run_id))

        run_customers(instance, DAY)
        mat = materializations(instance)[0].asset_materialization
        # The plan is the whole read's; the materialization counts the window and its lookback apart.
        own, lookback = counts_of(mat), counts_of(mat, "lookback")
        real = {k: v + lookback.get(k, 0) for k, v in own.items()}
        spent = len(posts(sandbox.url, tenant)) - sent_before
        assert abs(spent - plan["requests_needed"]) <= 1
        assert real["requests"] + real["retry_requests"] == spent == mat.metadata["requests"].value
        for name in ("rows_read", "rows_valid", "rows_quarantined", "rows_superseded", "rows_merged", "rows_unchanged",
                     "records_new", "records_changed", "records_unchanged", "records_merged"):
            assert real[name] == plan[name], name
        assert real["rows_delivered"] == plan["rows_to_send"]


def test_the_quota_view_after_two_runs_shows_what_they_spent(env, sandbox, capsys):
    from replenit_pipelines.cli import main
    from replenit_pipelines.definitions import defs

    tenant = env["REPLENIT_TENANT_ID"]
    with dg.instance_for_test() as instance:
        run_customers(instance, DAY_BEFORE)
        run_customers(instance, DAY)
        spent = len(posts(sandbox.url, tenant))
        assert spent >= 4
        hour = int(datetime.now(UTC).timestamp() // 3600)
        capsys.readouterr()
        assert main(["quota", "--json"]) == 0
        view = json.loads(capsys.readouterr().out)
        (key,) = view["keys"]
        assert key["name"] == "test"  # REPLENIT_KEY_NAME names the ledger of the key in use; the key never shows
        assert env["REPLENIT_API_KEY"] not in json.dumps(view)
        hourly = next(w for w in key["windows"] if w["seconds"] == 3600)
        if int(datetime.now(UTC).timestamp() // 3600) == hour:  # both runs in this hour's window
            assert hourly["spent"] == spent and hourly["remaining"] == 5000 - spent
        # The state folder's own store: the instance of the default key prefix (others': docs/planning.md).
        assert view["requests_last_24h"] == [{"instance": "replenit", "entity": "customers", "runs": 2, "requests": spent}]
        assert view["hours_over_limit_past_24h"] == []
        assert {r for r in view["expected_requests_per_run"]} == {"customers"}

        assert main(["quota", "--text"]) == 0
        text = capsys.readouterr().out
        assert f"customers: {spent:,} requests in 2 runs" in text and "(test)" in text
        assert main(["quota"]) == 0  # the table: entity, runs, requests
        assert re.search(rf"customers +2 +{spent:,} ", capsys.readouterr().out)

        result = dg.materialize([defs().get_assets_def(["replenit", "quota"])], instance=instance,
                                resources=defs().resources)
        assert result.success
        meta = instance.fetch_materializations(dg.AssetKey(["replenit", "quota"]), limit=1).records[0].asset_materialization.metadata
        assert meta["requests_last_24h"].value == spent


def test_the_quota_view_says_what_to_set_when_there_is_no_state(tmp_path, monkeypatch, capsys):
    from replenit_pipelines.cli import main

    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "nothing-here"))
    assert main(["quota", "--no-schedules"]) == 2
    err = capsys.readouterr().err
    assert "no quota ledger in" in err and "set REPLENIT_STATE_DIR" in err


def test_a_dry_run_plans_each_asset_of_the_hourly_job_selected_alone(env, sandbox):
    """A dry run of products skips the orders after it in the same run (Dagster skips the steps
    after an asset that did not materialize): each is planned with its own selection."""
    from replenit_pipelines.definitions import defs

    hour = "2026-11-26-10:00"
    job = defs().resolve_job_def("Sync_products_and_orders_hourly")
    with dg.instance_for_test() as instance:
        for entity in ("products", "orders"):
            key = dg.AssetKey(["replenit", entity])
            result = job.execute_in_process(partition_key=hour, instance=instance, raise_on_error=False, asset_selection=[key],
                                            run_config={"ops": {f"replenit__{entity}": {"config": {"dry_run": True}}}})
            assert result.success
            assert instance.fetch_materializations(key, limit=1).records == []
            (observed,) = instance.fetch_observations(key, limit=10).records
            assert observed.partition_key == hour and observed.asset_observation.metadata["plan"].value["entity"] == entity
        assert posts(sandbox.url, env["REPLENIT_TENANT_ID"]) == []
