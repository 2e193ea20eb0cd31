"""The production Dagster instance (deploy/dagster.yaml) on a real Postgres, end to end: two run
workers in two processes, each with its own state folder (as two pods would have), sync one API key.
Their sync steps are in no pool (issue 24): they may run at once, and the quota ledger in Postgres keeps
them together under the sandbox's (time-scaled) limits with no 429, both in the fresh lane, and both deliver."""

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import psycopg
import pytest
from helpers import point_at_sandbox

from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 11, 27, tzinfo=UTC)
DAYS = ["2026-11-25", "2026-11-26"]
LIMITS = [(2, 0.5), (5, 2.0)]  # the key's quota, time-scaled: each sync needs several windows

RUN_WORKER = """
import sys, time
import dagster as dg
from replenit_pipelines.definitions import defs as load

job = load().resolve_job_def("Sync_customers_daily")
with dg.DagsterInstance.get() as instance:
    if sys.argv[2:] == ["second"]:  # arrive while the first run is syncing
        deadline = time.monotonic() + 120
        while not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            assert time.monotonic() < deadline, "the first run never started"
            time.sleep(0.02)
    result = job.execute_in_process(
        partition_key=sys.argv[1], instance=instance, raise_on_error=False)
print("RESULT", result.run_id, result.success)
"""


@pytest.fixture
def dagster_postgres_url(postgres_server):
    """A database of its own for the Dagster instance (the state store has postgres_url's)."""
    name = "dagster_" + __import__("uuid").uuid4().hex[:12]
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    # psycopg2, named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, on which dagster-postgres
    # 0.29.27's NOTIFY fails (deploy/dagster.yaml says so too).
    yield postgres_server.get_uri(name).replace("postgresql://", "postgresql+psycopg2://", 1)
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_two_run_workers_on_one_key_through_the_postgres_instance(tmp_path, monkeypatch, postgres_url, dagster_postgres_url):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")  # the production file, as shipped
    warehouse = tmp_path / "warehouse.duckdb"
    build_demo_warehouse(warehouse, customers=2400, seed=5, days=2, end=END)
    with Sandbox(limits=LIMITS) as sandbox:
        env = point_at_sandbox(monkeypatch, sandbox, warehouse, tmp_path / "unused")
        base = {**env, "DAGSTER_HOME": str(home), "DAGSTER_POSTGRES_URL": dagster_postgres_url,
                "REPLENIT_STATE_URL": postgres_url, "REPLENIT_LIMITS": ",".join(f"{n}/{s}" for n, s in LIMITS)}
        import os

        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_postgres_url)
        workers = [subprocess.Popen([sys.executable, "-c", RUN_WORKER, day, ["first", "second"][i]], cwd=tmp_path, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env={**os.environ, **base, "REPLENIT_STATE_DIR": str(tmp_path / f"pod-{i}")})
                   for i, day in enumerate(DAYS)]
        outputs = [w.communicate(timeout=240) for w in workers]
        for (out, err), w in zip(outputs, workers, strict=True):
            assert w.returncode == 0 and "RESULT" in out, err[-3000:]
        results = [line.split()[1:] for out, _ in outputs for line in out.splitlines() if line.startswith("RESULT")]
        assert [ok for _, ok in results] == ["True", "True"], [err[-3000:] for _, err in outputs]
        stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()
        stored = stats["records"][env["REPLENIT_TENANT_ID"]]["customers"]

    # The quota held: every request was accepted, none refused with a 429.
    assert set(stats["requests_by_status"]) == {"200"}, stats["requests_by_status"]
    # Both delivered, and their counts are in the one state store in Postgres.
    with psycopg.connect(postgres_url) as con:
        runs = con.execute("SELECT partition_key, outcome, rows_delivered, requests FROM sync_runs ORDER BY partition_key").fetchall()
        counted = con.execute("SELECT sum(requests) FROM quota_counts WHERE window_seconds = 2.0").fetchone()[0]
        lanes = dict(con.execute("SELECT lane, sum(requests) FROM quota_lane_counts WHERE window_seconds = 2.0 "
                                 "GROUP BY lane").fetchall())
        entries = con.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
    assert [(p, o) for p, o, _, _ in runs] == [(DAYS[0], "delivered"), (DAYS[1], "delivered")]
    assert all(delivered > 0 for _, _, delivered, _ in runs) and entries == stored
    # The quota ledger in Postgres counted the requests. It keeps only the key's current window (its
    # last may hold 0: a request given back when the send-time check left nothing to send; it failed
    # CI once so), and each lane's last two.
    assert counted is not None and sum(lanes.values()) >= 1
    assert set(lanes) == {"fresh"}  # a partition's sync (no backfill) spends in the fresh lane
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        spans = []
        for run_id, _ in results:
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
            events = {e.dagster_event.event_type_value: e.timestamp for e in instance.all_logs(run_id)
                      if e.dagster_event and e.step_key == "replenit__customers"}
            spans.append((events["STEP_START"], events["STEP_SUCCESS"]))
    # No pool (issue 24): the second sync step ran while the first was still sending.
    (a_start, a_end), (b_start, b_end) = sorted(spans)
    assert b_start < a_end, f"the sync steps did not overlap: {spans}"
