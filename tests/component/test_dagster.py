"""The code location through a real Dagster instance, against the sandbox over HTTP."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import orjson
import pytest
from helpers import metadata_of, point_at_sandbox, whole_read_of

from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.validation import payload_parts, prepare
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = "2026-11-26"
HOUR = "2026-11-26-14:00"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("dagster-wh") / "warehouse.duckdb"
    build_demo_warehouse(path, customers=6000, seed=21, days=2, end=END)
    return path


@pytest.fixture
def env(sandbox, warehouse_file, tmp_path, monkeypatch):
    return point_at_sandbox(monkeypatch, sandbox, warehouse_file, tmp_path / "state")


@pytest.fixture
def defs(env):
    from replenit_pipelines.definitions import defs as load

    return load()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def run_job(defs, name, partition, instance, run_config=None):
    return defs.resolve_job_def(name).execute_in_process(partition_key=partition, instance=instance,
                                                         raise_on_error=False, run_config=run_config)




def expected_payloads(warehouse_file, entity, start, end) -> dict[str, dict]:
    mapping = load_mapping(DEMO_MAPPING)[entity]
    prepared = prepare(mapping, Warehouse(warehouse_file).read(mapping, start, end))
    return [orjson.loads(p) for p in payload_parts(prepared.records)]


def keyed(entity, records):
    if entity == "customers":
        return {f"email:{r['Email'].lower()}" if r.get("Email") else f"customerid:{r['CustomerId']}": r for r in records}
    key = {"orders": "OrderId", "products": "ProductId"}[entity]
    return {r[key]: r for r in records}


# --- the definitions ----------------------------------------------------------------------------

def test_definitions_snapshot(defs):
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == [
        "replenit/customers", "replenit/customers_intraday", "replenit/orders", "replenit/products", "replenit/quota",
        "warehouse/customers_table", "warehouse/order_lines_table", "warehouse/orders_table",
        "warehouse/product_variants_table", "warehouse/products_table"]
    deps = {k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys)
            for k in graph.get_all_asset_keys() if k.path[0] == "replenit"}
    assert deps == {"replenit/customers": ["warehouse/customers_table"],
                    "replenit/customers_intraday": ["warehouse/customers_table"],
                    "replenit/products": ["warehouse/product_variants_table", "warehouse/products_table"],
                    "replenit/orders": ["replenit/customers", "replenit/customers_intraday", "replenit/products",
                                        "warehouse/order_lines_table", "warehouse/orders_table"],
                    "replenit/quota": []}
    parts = {k: type(graph.get(dg.AssetKey(["replenit", k])).partitions_def).__name__ for k in ("customers", "products", "orders")}
    assert parts == {"customers": "DailyPartitionsDefinition", "products": "HourlyPartitionsDefinition",
                     "orders": "HourlyPartitionsDefinition"}
    for k in ("customers", "products", "orders"):
        node = graph.get(dg.AssetKey(["replenit", k]))
        assert node.pools == set() and node.tags["replenit/key"] == "replenit-test"  # lanes, not a pool (issue 24)
        assert node.backfill_policy is None  # one run a partition, tagged with it (docs/ui.md "Backfills")
        assert node.partitions_def.timezone == "UTC"
    checks = sorted((c.asset_key.path[1], c.name) for c in graph.asset_check_keys)
    assert checks == sorted((e, n) for e in ("customers", "customers_intraday", "orders", "products")
                            for n in ("delivery_complete", "quarantine_share", "row_count_in_range", "window_column_not_null"))
    blocking = {(s.asset_key.path[1], s.name): s.blocking for a in repo.assets_defs_by_key.values() for s in a.check_specs}
    assert blocking[("orders", "quarantine_share")] and not blocking[("orders", "row_count_in_range")]
    assert not blocking[("customers", "window_column_not_null")]
    assert not any(b for (asset, _), b in blocking.items() if asset == "customers_intraday")  # never holds up orders
    schedules = {s.name: s.cron_schedule for s in repo.schedule_defs}
    assert schedules == {"customers_daily_schedule": "15 0 * * *", "products_and_orders_hourly_schedule": "5 * * * *",
                         "reconcile_customers_weekly": "0 3 * * 0", "reconcile_orders_weekly": "0 4 * * 0",
                         "reconcile_products_weekly": "0 5 * * 0", "observe_warehouse_tables_hourly": "2 * * * *"}
    assert set(defs.resources) == {"replenit", "warehouse", "state"}


@pytest.mark.parametrize("when,name,partition", [
    (datetime(2026, 11, 27, 0, 15, tzinfo=UTC), "customers_daily_schedule", "2026-11-26"),
    (datetime(2026, 11, 27, 10, 5, tzinfo=UTC), "products_and_orders_hourly_schedule", "2026-11-27-09:00"),
    (datetime(2026, 11, 27, 0, 5, tzinfo=UTC), "products_and_orders_hourly_schedule", "2026-11-26-23:00"),
])
def test_schedule_ticks_name_their_partition(defs, instance, when, name, partition):
    schedule = defs.get_repository_def().get_schedule_def(name)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()) as ctx:
        result = schedule.evaluate_tick(ctx)
    assert [r.partition_key for r in result.run_requests] == [partition]


def test_definitions_validate_without_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLENIT_")}
    env["DAGSTER_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Validation successful for code location replenit_pipelines" in out.stderr + out.stdout


# --- materializations against the sandbox -----------------------------------------------------

def test_each_entity_lands_in_the_sandbox_field_for_field(defs, instance, sandbox, env, warehouse_file, records_in_sandbox):
    assert run_job(defs, "Sync_customers_daily", DAY, instance).success
    assert run_job(defs, "Sync_products_and_orders_hourly", HOUR, instance).success
    day, hour = datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 26, 14, tzinfo=UTC)
    windows = {"customers": (day, day + timedelta(days=1)), "products": (hour, hour + timedelta(hours=1)),
               "orders": (hour, hour + timedelta(hours=1))}
    for entity, (start, end) in windows.items():
        # A run reads its partition and the entity's lookback before it (late rows; docs/operating.md).
        lookback = timedelta(hours=load_mapping(DEMO_MAPPING)[entity].lookback_hours)
        expected = keyed(entity, expected_payloads(warehouse_file, entity, start - lookback, end))
        got = {k: r["record"] for k, r in records_in_sandbox(sandbox, env["REPLENIT_TENANT_ID"], entity).items()}
        assert len(expected) > 0
        assert got == expected, entity


def test_materialization_metadata_accounts_for_every_row(defs, instance, env):
    result = run_job(defs, "Sync_customers_daily", DAY, instance)
    assert result.success
    (mat,) = result.asset_materializations_for_node("replenit__customers")
    md = metadata_of(mat)
    read = md["rows_read"]
    assert read > 0 and md["dagster/row_count"] == md["records_accepted"] + md["records_unchanged"]  # what Replenit holds
    assert read == (md["rows_delivered"] + md["rows_quarantined"] + md["rows_superseded"] + md["rows_unchanged"]
                    + md["rows_dead_lettered"] + md["rows_held_back"])
    assert md["rows_quarantined"] > 0 and md["rows_superseded"] > 0
    assert md["requests"] == -(-whole_read_of(mat)["records_accepted"] // 500)  # full batches: ceil(records / 500), lookback's too
    assert md["rate_limited_429"] == 0
    assert "| rule | field | rows | example (masked) |" in md["top_quarantine_reasons"]
    lineage = md["dagster/column_lineage"].deps_by_column
    assert lineage["Email"][0].column_name == "email"
    assert lineage["Email"][0].asset_key == dg.AssetKey(["warehouse", "customers_table"])
    columns = {c.name: c.description for c in md["dagster/column_schema"].columns}
    assert columns["Email"] == "column email" and columns["Language"] == "column locale"
    texts = [str(e) for e in instance.all_logs(result.run_id)] + [str(md)]
    assert not [t for t in texts if env["REPLENIT_API_KEY"] in t]


def test_quarantine_is_queryable_after_the_run(defs, instance, env):

    result = run_job(defs, "Sync_customers_daily", DAY, instance)
    store = DuckDBStateStore(Path(env["REPLENIT_STATE_DIR"]) / "state.duckdb")
    rows = store.query("SELECT partition_key, entity, record_id, source_row, rule, field, value FROM quarantine WHERE run_id = ?",
                       [result.run_id])
    assert rows.height > 0 and set(rows["partition_key"]) == {DAY} and set(rows["entity"]) == {"customers"}
    runs = store.query("SELECT outcome, rows_read, rows_quarantined FROM sync_runs WHERE run_id = ?", [result.run_id])
    (mat,) = result.asset_materializations_for_node("replenit__customers")
    # The state store records the whole read; the materialization its window and its lookback apart.
    read = mat.metadata["rows_read"].value + mat.metadata["rows_read_lookback"].value
    assert read > 0 and runs.row(0) == ("delivered", read, rows["source_row"].n_unique())


def test_backfill_of_three_partitions(defs, instance, sandbox, env, warehouse_file, records_in_sandbox):
    hours = ["2026-11-26-03:00", "2026-11-26-04:00", "2026-11-26-05:00"]
    for h in hours:
        assert run_job(defs, "Sync_products_and_orders_hourly", h, instance).success
    for entity in ("products", "orders"):
        mats = instance.fetch_materializations(dg.AssetKey(["replenit", entity]), limit=10).records
        assert sorted(m.partition_key for m in mats) == hours
    start = datetime(2026, 11, 26, 3, tzinfo=UTC) - timedelta(hours=load_mapping(DEMO_MAPPING)["orders"].lookback_hours)
    expected = keyed("orders", expected_payloads(warehouse_file, "orders", start, datetime(2026, 11, 26, 6, tzinfo=UTC)))
    assert set({k: r["record"] for k, r in records_in_sandbox(sandbox, env["REPLENIT_TENANT_ID"], "orders").items()}) == set(expected)


def test_dirty_partition_fails_its_check_and_sends_nothing_downstream(defs, instance, sandbox, env, warehouse_file, tmp_path):
    dirty = tmp_path / "dirty.duckdb"
    dirty.write_bytes(Path(warehouse_file).read_bytes())
    with duckdb.connect(str(dirty)) as con:
        con.execute("UPDATE product_variants SET currency = 'XXX', sale_price = 1 WHERE updated_at >= ? AND updated_at < ?",
                    [datetime(2026, 11, 26, 14), datetime(2026, 11, 26, 15)])
        bad = con.execute("SELECT count(*) FROM product_variants WHERE currency = 'XXX'").fetchall()[0][0]
    assert bad >= 1
    os.environ["REPLENIT_WAREHOUSE"] = str(dirty)
    from replenit_pipelines.definitions import defs as load

    # A small window (the hour alone, no lookback): the old fixed gate, its minimum count lowered so
    # that its few bad rows trip it.
    gate = {"ops": {"replenit__products": {"config": {"gate": "fixed", "max_quarantine_share": 0.05, "min_quarantined_rows": 1,
                                                      "lookback_hours": 0}}}}
    result = run_job(load(), "Sync_products_and_orders_hourly", HOUR, instance, gate)
    assert not result.success
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
              and e.asset_check_evaluation_data.asset_key.path[1] == "products"}
    assert checks["quarantine_share"] is False
    assert result.asset_materializations_for_node("replenit__products") == []
    assert "replenit__orders" not in {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    log = [r for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json() if env["REPLENIT_TENANT_ID"] in r["path"]]
    # Nothing of products or orders; the day's customers so far go first in the hourly run (docs/ui.md).
    assert [r for r in log if not r["path"].startswith("/customers/")] == []


def test_a_wrong_key_fails_the_run_with_what_to_check(defs, instance, monkeypatch, env):
    monkeypatch.setenv("REPLENIT_API_KEY", "d3Jvbmcta2V5LWZvci10ZXN0")
    result = run_job(defs, "Sync_customers_daily", DAY, instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.step_failure_data.error)
    assert "check REPLENIT_API_KEY" in message and "d3Jvbmcta2V5LWZvci10ZXN0" not in message


def test_definitions_need_no_secret_until_a_run(monkeypatch, env, instance):
    monkeypatch.delenv("REPLENIT_API_KEY")
    from replenit_pipelines.definitions import defs as load

    defs = load()  # loads with the key unset
    with pytest.raises(dg.DagsterInvalidConfigError, match='environment variable "REPLENIT_API_KEY" which is not set'):
        run_job(defs, "Sync_customers_daily", DAY, instance)


# --- the default gate, rows without a window value, whole records (issues 8 and 9) -------------

def warehouse_copy(warehouse_file, tmp_path, *statements) -> Path:
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(Path(warehouse_file).read_bytes())
    with duckdb.connect(str(copy)) as con:
        for sql, params in statements:
            con.execute(sql, params)
    os.environ["REPLENIT_WAREHOUSE"] = str(copy)  # restored by the env fixture's monkeypatch
    return copy


def check_results(result, entity) -> dict:
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.asset_check_evaluation_data.asset_key.path[1] == entity}


def test_steady_dirt_flows_and_rows_without_a_window_value_are_counted(instance, sandbox, env, warehouse_file, tmp_path):
    day = datetime(2026, 11, 26)
    warehouse_copy(warehouse_file, tmp_path,
                   # About 8% of the day's customers with a bad email: steady dirt, above the old 5% gate.
                   ("UPDATE customers SET email = 'not-an-email-' || customer_id WHERE updated_at >= ? AND updated_at < ? "
                    "AND hash(customer_id) % 12 = 0", [day, day + timedelta(days=1)]),
                   ("UPDATE customers SET updated_at = NULL WHERE hash(customer_id) % 50 = 1", []))
    with duckdb.connect(os.environ["REPLENIT_WAREHOUSE"], read_only=True) as con:
        nulls = con.execute("SELECT count(*) FROM customers WHERE updated_at IS NULL").fetchall()[0][0]
    from replenit_pipelines.definitions import defs as load

    result = run_job(load(), "Sync_customers_daily", DAY, instance)
    assert result.success
    (mat,) = result.asset_materializations_for_node("replenit__customers")
    md = metadata_of(mat)
    assert md["quarantine_share"] > 0.05 and md["rows_quarantined"] >= 20 and md["rows_delivered"] > 0
    checks = check_results(result, "customers")
    assert checks["quarantine_share"].passed and "no baseline yet" in checks["quarantine_share"].description
    assert nulls > 0 and md["rows_without_window_value"] == nulls
    null_check = checks["window_column_not_null"]
    assert not null_check.passed and null_check.severity == dg.AssetCheckSeverity.WARN
    assert f"{nulls:,} rows of customers have no updated_at (NULL)" in null_check.description
    assert "no partition will ever read them" in null_check.description


def test_a_share_far_above_the_entitys_baseline_holds_back_and_says_why(instance, sandbox, env, warehouse_file, tmp_path, records_in_sandbox):
    import polars as pl


    store = DuckDBStateStore(Path(env["REPLENIT_STATE_DIR"]) / "state.duckdb")
    empty_q = pl.DataFrame(schema={"record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String, "field": pl.String,
                                   "value": pl.String})
    empty_d = pl.DataFrame(schema={"record_id": pl.String, "status": pl.String, "reasons": pl.List(pl.String),
                                   "payload": pl.String})
    for i in range(5):  # five earlier days at 2% quarantined
        store.record(f"earlier-{i}", f"2026-11-{10 + i}", "customers", empty_q, empty_d, {
            "partition_key": f"2026-11-{10 + i}", "entity": "customers", "outcome": "delivered",
            "rows_read": 3000, "rows_quarantined": 60, "rows_superseded": 0})
    day = datetime(2026, 11, 26)
    warehouse_copy(warehouse_file, tmp_path, (  # a broken upstream: a third of the day's emails
        "UPDATE customers SET email = 'broken-' || customer_id WHERE updated_at >= ? AND updated_at < ? AND hash(customer_id) % 3 = 0",
        [day, day + timedelta(days=1)]))
    from replenit_pipelines.definitions import defs as load

    result = run_job(load(), "Sync_customers_daily", DAY, instance)
    assert not result.success
    check = check_results(result, "customers")["quarantine_share"]
    assert not check.passed
    text = check.description
    assert "Held back, nothing sent" in text and "baseline 2.0% over the last 5 runs" in text and "ceiling 50%" in text
    assert check.metadata["baseline_share"].value == pytest.approx(0.02)
    assert {k: r["record"] for k, r in records_in_sandbox(sandbox, env["REPLENIT_TENANT_ID"], "customers").items()} == {}


def test_an_order_with_a_line_in_another_hour_is_sent_whole(instance, sandbox, env, warehouse_file, tmp_path, records_in_sandbox):
    hour = datetime(2026, 11, 26, 14)
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        order_id, lines = con.execute(
            "SELECT order_id, count(*) FROM orders JOIN order_lines USING (order_id) WHERE updated_at >= ? AND updated_at < ? "
            "GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1 LIMIT 1", [hour, hour + timedelta(hours=1)]
        ).fetchall()[0]
    # A line is added to the order later, and the order's time moves to 03:30 (the demo's lines have
    # no clock of their own: a changed order is read with every line it has).
    warehouse_copy(warehouse_file, tmp_path, (
        "INSERT INTO order_lines SELECT order_id, line_id || '-late', product_id, variant_id, sku, product_name, 1, "
        "unit_price, list_price FROM order_lines WHERE line_id = (SELECT min(line_id) FROM order_lines WHERE order_id = ?)",
        [order_id]), ("UPDATE orders SET updated_at = ? WHERE order_id = ?", [datetime(2026, 11, 26, 3, 30), order_id]))
    from replenit_pipelines.definitions import defs as load

    assert run_job(load(), "Sync_products_and_orders_hourly", "2026-11-26-03:00", instance).success
    stored = {k: r["record"] for k, r in records_in_sandbox(sandbox, env["REPLENIT_TENANT_ID"], "orders").items()}
    assert len(stored[order_id]["OrderItems"]) == lines + 1


def test_the_customer_priority_setting_reaches_the_replenit_resource(monkeypatch, env):
    from replenit_pipelines.definitions import defs as load

    assert load().resources["replenit"].customer_priority == "email"
    monkeypatch.setenv("REPLENIT_CUSTOMER_PRIORITY", "customerid")
    assert load().resources["replenit"].customer_priority == "customerid"


# --- Review fix: a bad setting fails the run, not the code location's loading ---

# --- 8: a bad REPLENIT_CUSTOMER_PRIORITY fails the run, not the code location's loading ------------

def test_a_bad_customer_priority_lets_definitions_load_and_fails_the_run_saying_what_to_set(monkeypatch, tmp_path):
    import dagster as dg

    from replenit_pipelines.definitions import defs as load_defs

    monkeypatch.setenv("REPLENIT_CUSTOMER_PRIORITY", "phone")
    for k, v in {"REPLENIT_TENANT_ID": "00000000-0000-0000-0000-000000000000", "REPLENIT_API_KEY": "k",
                 "REPLENIT_STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(k, v)
    assert load_defs().resolve_job_def("Sync_customers_daily") is not None  # the code location loads
    with dg.instance_for_test() as instance:
        result = load_defs().resolve_job_def("Sync_customers_daily").execute_in_process(
            partition_key="2026-11-26", instance=instance, raise_on_error=False)
    assert not result.success
    failures = [str(e.event_specific_data.error) for e in result.all_events if e.is_failure and e.event_specific_data
                and getattr(e.event_specific_data, "error", None) is not None]
    assert any("REPLENIT_CUSTOMER_PRIORITY" in f and "'phone'" in f for f in failures), failures


def test_definitions_load_once_a_process_and_again_when_what_they_read_changes(env, monkeypatch, tmp_path):
    """Dagster reconstructs the code location several times a run (issue 28: six loads in one
    `dagster asset materialize`); a load is kept while its environment and files are unchanged."""
    import os

    from replenit_pipelines.definitions import defs as load
    from replenit_pipelines.lib.settings import DEMO_MAPPING

    first = load()
    assert load() is first
    monkeypatch.setenv("REPLENIT_ASSET_OWNERS", "team:data")  # an environment variable a load reads
    owned = load()
    assert owned is not first and load() is owned
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(Path(DEMO_MAPPING).read_text())
    monkeypatch.setenv("REPLENIT_MAPPING", str(mapping))
    mapped = load()
    assert mapped is not owned and load() is mapped
    # The same file edited in place: loaded afresh.
    mapping.write_text(mapping.read_text() + "\n# edited\n")
    os.utime(mapping, ns=(mapping.stat().st_atime_ns, mapping.stat().st_mtime_ns + 1_000_000_000))
    assert load() is not mapped
