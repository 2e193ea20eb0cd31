"""The ledger through the code location (issue 11): re-materializing a partition costs only what
changed, `full_refresh` in run config, a killed run resumes without re-sending acknowledged
batches. A real Dagster instance, the sandbox over HTTP, the demo warehouse.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import pytest
from helpers import point_at_sandbox, whole_read_of

from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = "2026-11-26"
CUSTOMERS = dg.AssetKey(["replenit", "customers"])


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ledger-wh") / "warehouse.duckdb"
    build_demo_warehouse(path, customers=2400, seed=11, days=2, end=END)
    return path


@pytest.fixture
def env(sandbox, warehouse_file, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_RETRY_MAX_ATTEMPTS", raising=False)
    return point_at_sandbox(monkeypatch, sandbox, warehouse_file, tmp_path / "state")


def posts(sandbox_url: str, tenant_id: str) -> list[dict]:
    return [r for r in httpx.get(f"{sandbox_url}/_sandbox/requests").json() if tenant_id in r["path"] and r["method"] == "POST"]


def materialize(instance, config: dict | None = None):
    from replenit_pipelines.definitions import defs

    run_config = {"ops": {"replenit__customers": {"config": config}}} if config else None
    result = defs().resolve_job_def("Sync_customers_daily").execute_in_process(
        partition_key=DAY, instance=instance, raise_on_error=False, run_config=run_config)
    assert result.success
    mat = instance.fetch_materializations(CUSTOMERS, limit=1).records[0].asset_materialization
    return {**whole_read_of(mat), **{k: v.value for k, v in mat.metadata.items() if k == "ledger_newest_ack"}}


def test_rematerializing_an_unchanged_partition_sends_nothing_and_full_refresh_sends_all(env, sandbox):
    tenant = env["REPLENIT_TENANT_ID"]
    with dg.instance_for_test() as instance:
        first = materialize(instance)
        sent_first = len(posts(sandbox.url, tenant))
        assert sent_first >= 2 and first["records_new"] == first["records_accepted"] > 0
        second = materialize(instance)
        assert len(posts(sandbox.url, tenant)) == sent_first  # not one request
        assert second["requests"] == 0 and second["records_unchanged"] == first["records_accepted"]
        assert second["rows_unchanged"] == first["rows_delivered"] and second["rows_delivered"] == 0
        assert second["ledger_size"] == first["records_accepted"] and "ledger_newest_ack" in second
        refreshed = materialize(instance, {"full_refresh": True})
        assert len(posts(sandbox.url, tenant)) == 2 * sent_first
        assert refreshed["records_refreshed"] == first["records_accepted"] == refreshed["records_accepted"]
        assert refreshed["full_refresh"] == 1 and refreshed["rows_unchanged"] == 0


def test_retry_max_attempts_in_run_config_is_checked(env):
    from replenit_pipelines.definitions import defs

    with dg.instance_for_test() as instance:
        result = defs().resolve_job_def("Sync_customers_daily").execute_in_process(
            partition_key=DAY, instance=instance, raise_on_error=False,
            run_config={"ops": {"replenit__customers": {"config": {"retry_max_attempts": -1}}}})
    assert not result.success
    assert "retry_max_attempts must be at least 1" in str(result.all_events)


RUN_ONE = """
import sys
import dagster as dg
from replenit_pipelines.definitions import defs
with dg.DagsterInstance.get() as instance:
    result = defs().resolve_job_def("Sync_customers_daily").execute_in_process(
        partition_key=sys.argv[1], instance=instance, raise_on_error=False)
sys.exit(0 if result.success else 1)
"""


def free_the_killed_runs_slot() -> None:
    """What the code location's dead-run sensor does on its next tick (tests/reliability/test_reliability_kill.py)."""
    from replenit_pipelines.component.monitoring import dead_run_workers
    from replenit_pipelines.definitions import defs

    with dg.DagsterInstance.get() as instance, dg.build_sensor_context(
            instance=instance, repository_def=defs().get_repository_def()) as context:
        dead_run_workers(context)


def test_a_killed_run_resumes_without_resending_acknowledged_batches(tmp_path, warehouse_file, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    with Sandbox(limits=[(1, 1.0)]) as sb:  # one request a second: the run is caught mid-delivery
        tenant_id, key = sb.add_tenant()
        env = {**os.environ, "REPLENIT_BASE_URL": sb.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key,
               "REPLENIT_WAREHOUSE": str(warehouse_file), "REPLENIT_STATE_DIR": str(tmp_path / "state"),
               "REPLENIT_KEY_NAME": "ledgerkill", "REPLENIT_LIMITS": "1/1.0", "DAGSTER_HOME": str(home)}
        env.pop("REPLENIT_MAPPING", None)
        for k in ("REPLENIT_BASE_URL", "REPLENIT_TENANT_ID", "REPLENIT_API_KEY", "REPLENIT_WAREHOUSE", "REPLENIT_STATE_DIR",
                  "REPLENIT_KEY_NAME", "REPLENIT_LIMITS", "DAGSTER_HOME"):
            monkeypatch.setenv(k, env[k])
        monkeypatch.delenv("REPLENIT_MAPPING", raising=False)

        def start() -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-c", RUN_ONE, DAY], env=env, start_new_session=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        first = start()
        deadline = time.monotonic() + 60
        while sum(r["status"] == 200 for r in posts(sb.url, tenant_id)) < 2:  # two batches accepted, more to go
            assert first.poll() is None, first.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the first run never delivered two batches"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        before = posts(sb.url, tenant_id)
        accepted_before = sum(r["records"] for r in before if r["status"] == 200)
        free_the_killed_runs_slot()

        second = start()
        out, _ = second.communicate(timeout=120)
        assert second.returncode == 0, out.decode()[-3000:]
        resumed = posts(sb.url, tenant_id)[len(before):]
        with dg.DagsterInstance.get() as instance:
            mat = instance.fetch_materializations(CUSTOMERS, limit=1).records[0].asset_materialization
            md = whole_read_of(mat)
        stored = httpx.get(f"{sb.url}/_sandbox/records/{tenant_id}/customers").json()
    valid = md["records_valid"]
    assert len(stored) == valid  # every valid record at Replenit
    # Acknowledged batches were not sent again: the resumed run sent the rest, plus at most the one
    # batch whose 200 arrived as the process died (its acknowledgement lost with it).
    resent = sum(r["records"] for r in resumed) - (valid - accepted_before)
    assert 0 <= resent <= 500, (accepted_before, [r["records"] for r in resumed])
    assert md["records_unchanged"] >= accepted_before - 500
    assert md["rows_read"] == (md["rows_delivered"] + md["rows_quarantined"] + md["rows_superseded"]
                               + md["rows_unchanged"] + md["rows_dead_lettered"] + md["rows_held_back"])
