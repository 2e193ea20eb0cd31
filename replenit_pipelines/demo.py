"""`replenit demo` and `replenit ui`: the demo warehouse, the sandbox and Dagster, wired together.

The demo runs the real code path: the definitions of this code location, a Dagster instance on
disk (DAGSTER_HOME under .replenit/demo), a sandbox over HTTP with the documented quota.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from replenit_pipelines.lib.sandbox.process import start_sandbox_process, stop_sandbox_process

DEMO_KEY_NAME = "demo"
REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
FALLBACK_DAGSTER_YAML = """telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 10
  free_slots_after_run_end_seconds: 10
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_sandbox(tenant: str, key: str, port: int, store: Path | None = None) -> tuple[subprocess.Popen, str]:
    args = ["--port", str(port), "--tenant", f"{tenant}:{key}", "--limits", "100/60,5000/3600"]
    return start_sandbox_process(*args, *(["--store", str(store)] if store is not None else []))


def _prepare_home(home: Path, fresh: bool) -> None:
    if fresh and home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if REPO_DAGSTER_YAML.exists():
        shutil.copyfile(REPO_DAGSTER_YAML, target)
    elif not target.exists():
        target.write_text(FALLBACK_DAGSTER_YAML)


def run_demo(workdir: Path, customers: int, days: int, seed: int, hours: int) -> int:
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    demo_dir = workdir / "demo"
    state_dir = demo_dir / "state"
    for stale in (state_dir, demo_dir / "dagster_home"):
        if stale.exists():
            shutil.rmtree(stale)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = end - timedelta(days=1)
    warehouse = demo_dir / "warehouse.duckdb"
    print(f"1/4 Building the demo warehouse ({customers:,} customers over {days} days, seed {seed}) at {warehouse}")
    counts = build_demo_warehouse(warehouse, customers=customers, seed=seed, days=days, end=end)
    print(f"    {counts.customers:,} customer rows, {counts.product_variants:,} product variant rows, "
          f"{counts.order_lines:,} order lines ({counts.orders:,} orders)")
    tenant, key = str(uuid.uuid4()), str(uuid.uuid4()).replace("-", "")
    print("2/4 Starting the Replenit sandbox (documented quota: 100 requests/min, 5,000/hour)")
    sandbox, url = _start_sandbox(tenant, key, _free_port())
    try:
        home = demo_dir / "dagster_home"
        _prepare_home(home, fresh=True)
        os.environ.update({
            "REPLENIT_BASE_URL": url, "REPLENIT_TENANT_ID": tenant, "REPLENIT_API_KEY": key,
            "REPLENIT_WAREHOUSE": str(warehouse), "REPLENIT_STATE_DIR": str(state_dir),
            "REPLENIT_KEY_NAME": DEMO_KEY_NAME, "DAGSTER_HOME": str(home),
        })
        os.environ.setdefault("REPLENIT_PARTITIONS_START", data_start(warehouse) or day.strftime("%Y-%m-%d"))
        import dagster as dg

        from replenit_pipelines.definitions import defs

        definitions = defs()
        instance = dg.DagsterInstance.get()
        day_key = day.strftime("%Y-%m-%d")
        print(f"3/4 Materializing {day_key} through Dagster: the day's customers, then {hours} hourly runs of products and orders")
        started = time.monotonic()
        failed_runs: list[str] = []
        # Dagster's own event log stays in the instance (./dev ui shows it); the console gets a line a run.
        quiet = {"loggers": {"console": {"config": {"log_level": os.environ.get("REPLENIT_DEMO_LOG_LEVEL", "ERROR")}}}}
        runs = [("Sync_customers_daily", day_key)] + [
            ("Sync_products_and_orders_hourly", (day + timedelta(hours=h)).strftime("%Y-%m-%d-%H:%M")) for h in range(hours)
        ]
        store_path = state_dir / "state.duckdb"
        for job_name, partition in runs:
            result = definitions.resolve_job_def(job_name).execute_in_process(
                partition_key=partition, instance=instance, raise_on_error=False, run_config=quiet)
            if not result.success:
                failed_runs.append(f"{job_name} {partition}")
            _print_run(store_path, result.run_id, partition, result.success)
        wall = time.monotonic() - started
        _report(state_dir / "state.duckdb", url, tenant, wall, failed_runs, home)
        return 0 if not failed_runs else 1
    finally:
        stop_sandbox_process(sandbox)
        print("Sandbox stopped.")


def _print_run(store_path: Path, run_id: str, partition: str, success: bool) -> None:
    from replenit_pipelines.lib.delivery.report import plural
    from replenit_pipelines.lib.state import DuckDBStateStore

    if not store_path.exists():
        print(f"    {partition}: run {run_id[:8]} {'ok' if success else 'FAILED'} (nothing recorded)")
        return
    rows = DuckDBStateStore(store_path).query(
        "SELECT entity, rows_read, rows_delivered, rows_unchanged, rows_quarantined, requests, outcome FROM sync_runs "
        "WHERE run_id = ?", [run_id])
    parts = [f"{r['entity']} {plural(r['rows_read'], 'row')} read: {r['rows_delivered']:,} delivered, {r['rows_unchanged']:,} unchanged, "
             f"{r['rows_quarantined']:,} quarantined; {plural(r['requests'], 'request')}"
             f"{'' if r['outcome'] == 'delivered' else ', ' + r['outcome']}" for r in rows.iter_rows(named=True)]
    print(f"    {partition}: {'; '.join(parts) or 'nothing recorded'}{'' if success else '  <- run FAILED, see ./dev ui'}")


def _report(state_path: Path, url: str, tenant: str, wall: float, failed_runs: list[str], home: Path) -> None:
    from replenit_pipelines.lib.state import DuckDBStateStore

    store = DuckDBStateStore(state_path)
    per_entity = store.query(
        "SELECT entity, count(*) AS runs, sum(rows_read) AS read, sum(rows_delivered) AS delivered, "
        "sum(rows_quarantined) AS quarantined, sum(rows_superseded) AS superseded, sum(rows_unchanged) AS unchanged, "
        "sum(rows_dead_lettered) AS dead_lettered, sum(rows_held_back) AS held_back, sum(requests) AS requests "
        "FROM sync_runs GROUP BY entity ORDER BY entity"
    )
    held = httpx.get(f"{url}/_sandbox/stats").json()
    print(f"4/4 Done in {wall:.1f} s. Per entity, summed over its runs. Each run reads its window plus a lookback "
          "(customers 48 h, products 24 h, orders 6 h) for late rows: what Replenit already holds is 'unchanged' and "
          "costs no request, and a bad row in the lookback is quarantined again by each run that reads it.")
    header = ["entity", "runs", "read", "delivered", "quarantined", "superseded", "unchanged", "dead_lettered", "held_back",
              "requests", "in sandbox"]
    rows = [[*r.values(), held["records"].get(tenant, {}).get(r["entity"], 0)] for r in per_entity.iter_rows(named=True)]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        print("    " + "  ".join(str(v).rjust(w) for v, w in zip(line, widths, strict=True)))
    print(f"    Sandbox: {held['requests']} requests, by status {json.dumps(held['requests_by_status'])}; "
          "'in sandbox' counts records (an order holds its lines, a product its variants).")
    reasons = store.query("SELECT entity, rule, field, count(DISTINCT record_id) AS records FROM quarantine "
                          "GROUP BY ALL ORDER BY records DESC LIMIT 8")
    if reasons.height:
        print("    Top quarantine reasons (distinct records):")
        for r in reasons.iter_rows(named=True):
            print(f"      {r['entity']:<10} {r['rule']:<16} {r['field'] or '(record)':<28} {r['records']}")
    if failed_runs:
        print(f"    Runs that did not materialize ({len(failed_runs)}): {', '.join(failed_runs)}")
    command = os.path.relpath(sys.argv[0]) if Path(sys.argv[0]).name == "replenit" else "replenit"
    print(f"    Quarantine and dead letters: {command} state \"SELECT * FROM quarantine LIMIT 20\"")  # noqa: S608 - a hint printed for the user, not executed
    print(f"    Dagster runs are in {home}; see them with ./dev ui")


def data_start(warehouse: Path) -> str | None:
    """The first day (UTC, YYYY-MM-DD) of the demo warehouse's rows: where its partitions start,
    so the UI shows the demo's days, not thousands of missing partitions before them."""
    import duckdb

    from replenit_pipelines.lib.settings import DEMO_MAPPING
    from replenit_pipelines.lib.warehouse import load_mapping

    firsts = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mapping in load_mapping(DEMO_MAPPING).values():
            src = mapping.source
            if src.table:
                (first,), = con.sql(f'SELECT min("{src.window_column}") FROM "{src.table}"').fetchall()  # noqa: S608 - names from the demo mapping
                if first is not None:
                    firsts.append(first)
    return min(firsts).strftime("%Y-%m-%d") if firsts else None


def run_ui(workdir: Path, customers: int, seed: int, port: int = 3000) -> int:
    """The Dagster UI with the demo wired: warehouse, a sandbox on a fixed port, env vars set."""
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    demo_dir = workdir / "demo"
    warehouse = demo_dir / "warehouse.duckdb"
    if not warehouse.exists():
        print(f"Building the demo warehouse at {warehouse}")
        build_demo_warehouse(warehouse, customers=customers, seed=seed, days=3)
    creds_path = demo_dir / "credentials.json"
    if creds_path.exists():
        creds = json.loads(creds_path.read_text())
    else:
        creds = {"tenant": str(uuid.uuid4()), "key": str(uuid.uuid4()).replace("-", "")}
        creds_path.write_text(json.dumps(creds))
    sandbox, url = _start_sandbox(creds["tenant"], creds["key"], 8765, store=demo_dir / "sandbox.sqlite")
    home = demo_dir / "dagster_home"
    _prepare_home(home, fresh=False)
    workspace = demo_dir / "workspace.yaml"
    workspace.write_text("load_from:\n  - python_module:\n      module_name: replenit_pipelines.definitions\n"
                         "      location_name: replenit_pipelines\n")
    env = {**os.environ, "REPLENIT_BASE_URL": url, "REPLENIT_TENANT_ID": creds["tenant"], "REPLENIT_API_KEY": creds["key"],
           "REPLENIT_WAREHOUSE": str(warehouse), "REPLENIT_STATE_DIR": str(demo_dir / "state"),
           "REPLENIT_KEY_NAME": DEMO_KEY_NAME, "DAGSTER_HOME": str(home)}
    start = data_start(warehouse)
    if start and "REPLENIT_PARTITIONS_START" not in os.environ:
        env["REPLENIT_PARTITIONS_START"] = start
    print(f"Sandbox on {url}; starting the Dagster UI on http://127.0.0.1:{port} (Ctrl-C stops both)"
          + (f"; partitions from {start}, the demo data's first day" if start else ""))
    ui = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)], env=env)
    try:
        return ui.wait()
    except KeyboardInterrupt:
        ui.terminate()
        ui.wait(timeout=30)
        return 0
    finally:
        stop_sandbox_process(sandbox)
