"""The API key appears nowhere: not in stdout or stderr, the Dagster event log and run storage,
the state store, the quota ledger or any other file a run leaves, after a passing and a failing run."""

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import httpx

from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = "2026-11-26"
RUN_ONE = """
import sys
import dagster as dg
from replenit_pipelines.definitions import defs
with dg.DagsterInstance.get() as instance:
    result = defs().resolve_job_def("Sync_customers_daily").execute_in_process(
        partition_key=sys.argv[1], instance=instance, raise_on_error=False)
print("run", result.run_id, "success" if result.success else "failed")
sys.exit(0 if result.success else 1)
"""


def texts_of_duckdb(path: Path) -> str:
    """Every value of every table as text: DuckDB compresses strings on disk, so bytes alone could miss one."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = []
        for (table,) in con.sql("SELECT table_name FROM information_schema.tables").fetchall():
            out.append(str(con.sql(f'SELECT * FROM "{table}"').fetchall()))  # noqa: S608 - names from the catalog, not input
        return "\n".join(out)
    finally:
        con.close()


def test_the_key_appears_nowhere_after_a_passing_and_a_failing_run(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    state = tmp_path / "state"
    warehouse = tmp_path / "warehouse.duckdb"
    build_demo_warehouse(warehouse, customers=600, seed=3, days=2, end=END)
    good_key, bad_key = "c2VjcmV0LWdvb2Qta2V5LTdmM2E5", "c2VjcmV0LXJldm9rZWQta2V5LTQ0"
    outputs = []
    with Sandbox(limits=[]) as sb:
        tenant_id, _ = sb.add_tenant(key=good_key)
        base = {**os.environ, "REPLENIT_BASE_URL": sb.url, "REPLENIT_TENANT_ID": tenant_id,
                "REPLENIT_WAREHOUSE": str(warehouse), "REPLENIT_STATE_DIR": str(state),
                "REPLENIT_KEY_NAME": "secrets", "DAGSTER_HOME": str(home)}
        base.pop("REPLENIT_MAPPING", None)
        # The revoked key's run gets its own state folder: with the good run's ledger it would find the
        # day already acknowledged and send nothing, so it would never meet its 401.
        for key, should_pass, state_dir in ((good_key, True, state), (bad_key, False, tmp_path / "state-revoked")):
            run = subprocess.run([sys.executable, "-c", RUN_ONE, DAY],
                                 env={**base, "REPLENIT_API_KEY": key, "REPLENIT_STATE_DIR": str(state_dir)},
                                 capture_output=True, text=True, timeout=120)
            assert (run.returncode == 0) == should_pass, run.stdout[-2000:] + run.stderr[-2000:]
            outputs += [run.stdout, run.stderr]
        statuses = {r["status"] for r in httpx.get(f"{sb.url}/_sandbox/requests").json()}

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert sorted(r.status.value for r in runs) == ["FAILURE", "SUCCESS"]
        events = "\n".join(str(e) for r in runs for e in instance.all_logs(r.run_id))
        tags_and_config = "\n".join(f"{r.tags} {r.run_config}" for r in runs)
    assert "401" in events or "Unauthorized" in events  # the failing run's reason is there, the key is not
    # Both keys reached the API (the sandbox accepted one and refused the other), so the scans
    # below look for keys that really travelled. The sandbox's request log records method, path,
    # status and counts, never headers, so it is not scanned for the key: that could not fail.
    assert 401 in statuses and statuses & {200, 207}, statuses

    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != warehouse]
    assert any(p.suffix == ".json" for p in (state / "quota").iterdir())  # the quota ledger was written
    blobs = [p.read_bytes() for p in files]
    store_text = texts_of_duckdb(state / "state.duckdb") + texts_of_duckdb(tmp_path / "state-revoked" / "state.duckdb")
    assert tenant_id in store_text or "customers" in store_text  # the scan reads real content
    for secret in (good_key, bad_key):
        assert secret not in "\n".join(outputs), "key in stdout/stderr"
        assert secret not in events, "key in the Dagster event log"
        assert secret not in tags_and_config, "key in run tags or config"
        assert secret not in store_text, "key in the state store"
        leaked = [str(p.relative_to(tmp_path)) for p, b in zip(files, blobs, strict=True) if secret.encode() in b]
        assert not leaked, f"key in {leaked}"
