"""Two tenants in one code location (issue 25 item 4): two instances of the component, two defs.yaml,
each with its own warehouse, key prefix, state folder, ledger, checks and schedules, synced through a
real Dagster instance into one sandbox holding both tenants. Nothing of one reaches the other; on
one key they share its pool and its quota ledger, on two keys neither."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import orjson
import pytest
from component_helpers import defs_folder

from replenit_pipelines.lib.delivery.quota import ledger_name
from replenit_pipelines.lib.postgres import StateUrl
from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.state import DuckDBStateStore, PostgresStateStore
from replenit_pipelines.lib.validation import payload_parts, prepare
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = "2026-11-26"


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory):
    """Two brands' warehouses: different customers (seeds and sizes)."""
    root = tmp_path_factory.mktemp("two-brands")
    a, b = root / "brand_a.duckdb", root / "brand_b.duckdb"
    build_demo_warehouse(a, customers=400, seed=5, days=2, end=END)
    build_demo_warehouse(b, customers=250, seed=6, days=2, end=END)
    return {"brand_a": a, "brand_b": b}


def expected_customers(warehouse: Path) -> dict[str, dict]:
    """The day's customers as the warehouse says (lookback 0, as the instances are configured)."""
    mapping = load_mapping(DEMO_MAPPING)["customers"]
    day = datetime(2026, 11, 26, tzinfo=UTC)
    prepared = prepare(mapping, Warehouse(warehouse).read(mapping, day, day + timedelta(days=1)))
    records = [orjson.loads(p) for p in payload_parts(prepared.records)]
    return {f"email:{r['Email'].lower()}" if r.get("Email") else f"customerid:{r['CustomerId']}": r for r in records}


def instance_yaml(brand: str, warehouse: Path, key_env: str) -> str:
    return f"""
        attributes:
          tenant: {{id_env: {brand.upper()}_TENANT_ID, key_env: {key_env}}}
          key_prefix: {brand}
          warehouse: {warehouse}
          mapping: {DEMO_MAPPING}
          entities: [customers]
          partitions_start: "2026-11-01"
          lookback_hours: {{customers: 0}}
        """


@pytest.mark.parametrize("shared_key", [True, False], ids=["one key", "two keys"])
def test_two_tenants_sync_side_by_side_and_never_mix(shared_key, sandbox, warehouses, tmp_path, monkeypatch, records_in_sandbox):
    state = tmp_path / "state"
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(state))
    monkeypatch.setenv("REPLENIT_BASE_URL", sandbox.url)
    monkeypatch.delenv("REPLENIT_SCHEDULES", raising=False)
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    tenant_a, key_a = sandbox.add_tenant()
    tenant_b, key_b = sandbox.add_tenant(key=key_a if shared_key else None)
    tenants = {"brand_a": tenant_a, "brand_b": tenant_b}
    monkeypatch.setenv("BRAND_A_TENANT_ID", tenant_a)
    monkeypatch.setenv("BRAND_B_TENANT_ID", tenant_b)
    if shared_key:
        monkeypatch.setenv("SHOP_API_KEY", key_a)
        key_envs = {"brand_a": "SHOP_API_KEY", "brand_b": "SHOP_API_KEY"}
    else:
        monkeypatch.setenv("BRAND_A_API_KEY", key_a)
        monkeypatch.setenv("BRAND_B_API_KEY", key_b)
        key_envs = {"brand_a": "BRAND_A_API_KEY", "brand_b": "BRAND_B_API_KEY"}

    with defs_folder(**{b: instance_yaml(b, warehouses[b], key_envs[b]) for b in ("brand_a", "brand_b")}) as (_, loader), \
            loader.load() as defs, dg.instance_for_test() as instance:
        repo = defs.get_repository_def()
        keys = {b: repo.asset_graph.get(dg.AssetKey([b, "customers"])).tags["replenit/key"] for b in tenants}
        assert (keys["brand_a"] == keys["brand_b"]) is shared_key  # one key, one quota (its lanes), no pool
        schedules = {s.name for s in repo.schedule_defs}
        assert {"customers_daily_schedule_brand_a", "customers_daily_schedule_brand_b"} <= schedules
        runs = {}
        for brand in tenants:
            result = defs.resolve_job_def(f"Sync_customers_daily_{brand}").execute_in_process(
                partition_key=DAY, instance=instance, raise_on_error=False)
            assert result.success, brand
            runs[brand] = result

        requests = {}
        for brand, tenant in tenants.items():
            other = "brand_b" if brand == "brand_a" else "brand_a"
            # Replenit holds the brand's own warehouse's customers, and only those.
            got = {k: r["record"] for k, r in records_in_sandbox(sandbox, tenant, "customers").items()}
            assert got == expected_customers(warehouses[brand]) and got
            # Its materialization and checks are under its own prefix, its counts its own.
            (mat,) = runs[brand].asset_materializations_for_node(f"{brand}__customers")
            assert mat.asset_key == dg.AssetKey([brand, "customers"])
            assert mat.metadata["dagster/row_count"].value == len(got)
            checks = runs[brand].get_asset_check_evaluations()
            assert checks and {c.asset_key for c in checks} == {dg.AssetKey([brand, "customers"])}
            requests[brand] = mat.metadata["requests"].value
            # Its state store has its run alone; the other's run is in the other's.
            store = DuckDBStateStore(state / brand / "state.duckdb")
            assert set(store.query("SELECT run_id FROM sync_runs")["run_id"]) == {runs[brand].run_id}
            quarantined = store.query("SELECT DISTINCT run_id FROM quarantine")["run_id"].to_list()
            assert runs[other].run_id not in quarantined
            # Its ledger is in its own state folder, for its own tenant only.
            ledgers = sorted(p.parent.name for p in (state / brand / "ledger").glob("*/customers.sqlite"))
            assert len(ledgers) == 1 and tenant in ledgers[0] and tenants[other] not in ledgers[0]
            assert not (state / "state.duckdb").exists()

        # The key's quota ledger is shared by every tenant on it: one file for one key, counting both.
        quota_files = sorted((state / "quota").glob("*.json"))
        names = {ledger_name(sandbox.url, key_a), ledger_name(sandbox.url, key_b)}
        assert {p.name for p in quota_files} == (names if not shared_key else {ledger_name(sandbox.url, key_a)})
        counted = {p.name: sum(json.loads(p.read_text())["counts"]["3600.0"].values()) for p in quota_files}
        if shared_key:
            assert counted[ledger_name(sandbox.url, key_a)] >= requests["brand_a"] + requests["brand_b"] > 0
        else:
            assert counted[ledger_name(sandbox.url, key_a)] >= requests["brand_a"] > 0
            assert counted[ledger_name(sandbox.url, key_b)] >= requests["brand_b"] > 0


def test_two_tenants_on_one_postgres_state_url_keep_their_state_apart(sandbox, warehouses, tmp_path, monkeypatch, postgres_url):
    """On one REPLENIT_STATE_URL each instance's quarantine, dead letters and run counts (its gate's
    baseline) are in its own schema, as on files each has its own state folder."""
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("REPLENIT_STATE_URL", postgres_url)
    monkeypatch.setenv("REPLENIT_BASE_URL", sandbox.url)
    monkeypatch.delenv("REPLENIT_SCHEDULES", raising=False)
    tenant_a, key = sandbox.add_tenant()
    tenant_b, _ = sandbox.add_tenant(key=key)
    monkeypatch.setenv("BRAND_A_TENANT_ID", tenant_a)
    monkeypatch.setenv("BRAND_B_TENANT_ID", tenant_b)
    monkeypatch.setenv("SHOP_API_KEY", key)
    with defs_folder(**{b: instance_yaml(b, warehouses[b], "SHOP_API_KEY") for b in ("brand_a", "brand_b")}) as (_, loader), \
            loader.load() as defs, dg.instance_for_test() as instance:
        runs = {brand: defs.resolve_job_def(f"Sync_customers_daily_{brand}").execute_in_process(
            partition_key=DAY, instance=instance, raise_on_error=False) for brand in ("brand_a", "brand_b")}
    assert all(r.success for r in runs.values())
    url = StateUrl(postgres_url)
    for brand, other in (("brand_a", "brand_b"), ("brand_b", "brand_a")):
        store = PostgresStateStore(url, f"replenit_state_{brand}")
        assert store.query("SELECT run_id FROM sync_runs").rows() == [(runs[brand].run_id,)]
        quarantined = set(store.query("SELECT DISTINCT run_id FROM quarantine")["run_id"])
        assert runs[other].run_id not in quarantined
        assert len(store.recent_runs("customers", 5)) == 1  # the gate's baseline: its own run only


@pytest.mark.parametrize("tenant_id, key, named", [
    ("not-a-guid", None, "set BRAND_B_TENANT_ID to your tenant's id"),
    ("11111111-1c1e-4a53-9d3e-2f1f2f1f2f1f", None, "(404 Tenant not found): check BRAND_B_TENANT_ID."),
    (None, "bm90LXRoZS1rZXk=", "(401 Unauthorized): check SHOP_API_KEY;"),
    (None, " ", "the Replenit API key is empty: set SHOP_API_KEY"),
], ids=["id not a GUID", "unknown tenant", "refused key", "blank key"])
def test_a_wrong_tenant_or_key_names_the_instances_own_variables(tenant_id, key, named, sandbox, warehouses, tmp_path, monkeypatch):
    """An instance's tenant is `{id_env: BRAND_B_TENANT_ID, key_env: SHOP_API_KEY}`: a run's error says
    which of those to fix, not REPLENIT_TENANT_ID / REPLENIT_API_KEY, which this project never set."""
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("REPLENIT_BASE_URL", sandbox.url)
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    real_tenant, real_key = sandbox.add_tenant()
    monkeypatch.setenv("BRAND_B_TENANT_ID", tenant_id or real_tenant)
    monkeypatch.setenv("SHOP_API_KEY", key or real_key)
    with defs_folder(brand_b=instance_yaml("brand_b", warehouses["brand_b"], "SHOP_API_KEY")) as (_, loader), \
            loader.load() as defs, dg.instance_for_test() as instance:
        result = defs.resolve_job_def("Sync_customers_daily_brand_b").execute_in_process(
            partition_key=DAY, instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    told = error.to_string() + "".join(c.to_string() for c in (error.cause, error.context) if c)
    assert named in told, told[-2000:]
    assert "REPLENIT_TENANT_ID" not in told and "REPLENIT_API_KEY" not in told
    assert real_key not in told and (key is None or key.strip() == "" or key not in told)
