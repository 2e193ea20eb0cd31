"""kill -9 of a running sync, then a new run of the same key: the key is not stuck, nothing is lost.

A real Dagster instance on disk (DAGSTER_HOME in tmp, the shipped dagster.yaml), a real run
process killed with SIGKILL mid-delivery (its whole process group), a sandbox whose time-scaled
quota keeps the delivery slow enough to be caught in the middle.
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
from helpers import whole_read_of

from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = "2026-11-26"
POOL = "replenit-killtest"
# One run of the customers job, as `dagster asset materialize` would start it: a run no code
# server launched and no code server watches.
RUN_ONE = """
import sys
import dagster as dg
from replenit_pipelines.definitions import defs
with dg.DagsterInstance.get() as instance:
    result = defs().resolve_job_def("Sync_customers_daily").execute_in_process(
        partition_key=sys.argv[1], instance=instance, raise_on_error=False)
sys.exit(0 if result.success else 1)
"""


@pytest.fixture
def killable(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse = tmp_path / "warehouse.duckdb"
    build_demo_warehouse(warehouse, customers=3000, seed=5, days=2, end=END)  # 1,500 customers a day: 3 batches
    with Sandbox(limits=[(1, 1.5)]) as sb:  # one request per 1.5 s: slow enough to be killed mid-delivery
        tenant_id, key = sb.add_tenant()
        env = {"REPLENIT_BASE_URL": sb.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key,
               "REPLENIT_WAREHOUSE": str(warehouse), "REPLENIT_STATE_DIR": str(tmp_path / "state"),
               "REPLENIT_KEY_NAME": "killtest", "REPLENIT_LIMITS": "1/1.5", "DAGSTER_HOME": str(home)}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("REPLENIT_MAPPING", raising=False)
        yield sb, tenant_id, {**os.environ, **env}


def start_run(env: dict) -> subprocess.Popen:
    # Its own session: the run's process group is killed as a lost pod or an OOM kill would.
    return subprocess.Popen([sys.executable, "-c", RUN_ONE, DAY], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def accepted_requests(sb: Sandbox, tenant_id: str) -> int:
    return sum(1 for r in httpx.get(f"{sb.url}/_sandbox/requests").json() if tenant_id in r["path"] and r["status"] == 200)


def slots_claimed(instance: dg.DagsterInstance) -> int:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return len(info.claimed_slots)


def test_a_killed_run_is_failed_and_the_next_run_delivers(killable):
    from replenit_pipelines.component.monitoring import dead_run_workers, find_dead_runs

    sb, tenant_id, env = killable
    first = start_run(env)
    deadline = time.monotonic() + 40
    while accepted_requests(sb, tenant_id) < 1:  # mid-delivery: one batch accepted, two to go
        assert first.poll() is None, first.stdout.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the first run never delivered a batch"
        time.sleep(0.05)
    with dg.DagsterInstance.get() as instance:
        assert find_dead_runs(instance) == []  # alive and delivering: not to be touched
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)

    with dg.DagsterInstance.get() as instance:
        (killed,) = instance.get_runs()
        # The defect: the killed run stays STARTED (in a queued deployment it would hold its partition's
        # run slot, dagster.yaml). A sync is in no pool any more (issue 24): no slot of the key is held.
        assert killed.status == dg.DagsterRunStatus.STARTED
        assert slots_claimed(instance) == 0

        from replenit_pipelines.definitions import defs

        repo = defs().get_repository_def()
        assert find_dead_runs(instance, job_names={"another_location_job"}) == []  # not ours: left alone
        with dg.build_sensor_context(instance=instance, repository_def=repo) as context:
            outcome = dead_run_workers(context)
        assert killed.run_id in outcome.skip_message

        failed = instance.get_run_by_id(killed.run_id)
        assert failed.status == dg.DagsterRunStatus.FAILURE
        assert failed.tags.get("dagster/will_retry") == "true"  # run_retries takes it from here
        assert slots_claimed(instance) == 0
        failure = instance.get_records_for_run(killed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        assert "Run worker died" in failure[0].event_log_entry.dagster_event.message

    second = start_run(env)
    try:
        out, _ = second.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        pytest.fail("the next run of the key is stuck")
    assert second.returncode == 0, out.decode()[-3000:]

    with dg.DagsterInstance.get() as instance:
        latest = instance.get_runs(limit=1)[0]
        assert latest.status == dg.DagsterRunStatus.SUCCESS
        mat = instance.fetch_materializations(dg.AssetKey(["replenit", "customers"]), limit=1).records[0]
        md = whole_read_of(mat.asset_materialization)
    # Nothing lost: every valid record of the day is at Replenit, and the run accounts for every row.
    stored = httpx.get(f"{sb.url}/_sandbox/records/{tenant_id}/customers").json()
    # The batch accepted before the kill is in the ledger: the next run sends only the rest.
    assert md["records_accepted"] == md["records_sent"] and md["records_unchanged"] >= 500
    assert md["records_accepted"] + md["records_unchanged"] == md["records_valid"] > 1000
    assert len(stored) == md["records_valid"]
    assert md["rows_read"] == (md["rows_delivered"] + md["rows_quarantined"] + md["rows_superseded"]
                               + md["rows_unchanged"] + md["rows_dead_lettered"] + md["rows_held_back"])


@pytest.mark.parametrize("shipped", [True, False])
def test_the_demo_instance_monitors_runs_and_frees_slots(tmp_path, monkeypatch, shipped):
    """The demo's DAGSTER_HOME gets run monitoring (the shipped dagster.yaml, or the fallback)."""
    from replenit_pipelines import demo

    if not shipped:
        monkeypatch.setattr(demo, "REPO_DAGSTER_YAML", tmp_path / "absent.yaml")
    home = tmp_path / "home"
    demo._prepare_home(home, fresh=True)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert 0 < instance.run_monitoring_settings["free_slots_after_run_end_seconds"] <= 60
        assert instance.run_retries_max_retries >= 1


def test_the_dead_run_sensor_is_in_the_code_location_and_on_by_default(monkeypatch):
    monkeypatch.setenv("REPLENIT_KEY_NAME", "killtest")
    from replenit_pipelines.definitions import defs

    sensor = defs().get_repository_def().get_sensor_def("dead_run_workers")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds <= 60


def _started_run(instance: dg.DagsterInstance, tags: dict) -> str:
    import uuid

    run = dg.DagsterRun(job_name="Sync_customers_daily", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED, tags=tags)
    instance.add_run(run)
    return run.run_id


def test_runs_are_judged_by_the_host_and_process_their_step_recorded(tmp_path):
    import socket

    import psutil

    from replenit_pipelines.component.monitoring import WORKER_HOST_TAG, WORKER_PID_TAG, WORKER_STARTED_TAG, find_dead_runs

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone_started = psutil.Process(gone.pid).create_time()
    gone.wait()
    me = psutil.Process()
    host = socket.gethostname()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        dead_here = _started_run(instance, {WORKER_HOST_TAG: host, WORKER_PID_TAG: str(gone.pid), WORKER_STARTED_TAG: str(gone_started)})
        alive_here = _started_run(instance, {WORKER_HOST_TAG: host, WORKER_PID_TAG: str(me.pid), WORKER_STARTED_TAG: str(me.create_time())})
        # This process's pid, but recorded for a process started an hour earlier: the pid was reused.
        reused = _started_run(instance, {WORKER_HOST_TAG: host, WORKER_PID_TAG: str(me.pid),
                                         WORKER_STARTED_TAG: str(me.create_time() - 3600)})
        elsewhere = _started_run(instance, {WORKER_HOST_TAG: "another-host", WORKER_PID_TAG: str(gone.pid),
                                            WORKER_STARTED_TAG: str(gone_started)})
        found = {d.run_id for d in find_dead_runs(instance)}
    assert dead_here in found and reused in found
    assert alive_here not in found and elsewhere not in found
