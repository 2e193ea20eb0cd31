"""ReplenitSyncComponent's YAML (issue 25): a valid defs.yaml builds one tenant's definitions under
its own names, every broken field fails the load with the field and the fix, no error repeats a
pasted secret, a subclass changes the specs, and upstream `deps` per entity and child table give
lineage from the user's assets."""

import dagster as dg
import pytest
from component_helpers import OwnedSync, defs_folder, error_text, write_defs_yaml

from replenit_pipelines.lib.settings import DEMO_MAPPING

TENANT = "tenant: {id_env: BRAND_A_TENANT_ID, key_env: BRAND_A_API_KEY}"


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch, tmp_path):
    """Definitions load with no secret set, in a state folder of the test's own."""
    for name in ("REPLENIT_TENANT_ID", "REPLENIT_API_KEY", "BRAND_A_TENANT_ID", "BRAND_A_API_KEY", "REPLENIT_SCHEDULES",
                 "REPLENIT_MAPPING", "REPLENIT_KEY_NAME", "REPLENIT_ASSET_OWNERS", "REPLENIT_STATE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "state"))


def load_error(text: str) -> str:
    with defs_folder(brand_a=text) as (_, loader), pytest.raises(Exception) as info, loader.load():
        pass
    return error_text(info.value)


# --- a valid instance --------------------------------------------------------------------------------

def test_an_instance_with_its_own_prefix_has_its_own_names_and_loads_without_secrets(tmp_path):
    with defs_folder(brand_a=f"""
            attributes:
              {TENANT}
              key_prefix: brand_a
              entities: [customers, orders]
              batch_sizes: {{customers: 250}}
              gate: {{mode: fixed, max_quarantine_share: 0.1}}
            """) as (folder, loader), loader.load() as defs:
        repo = defs.get_repository_def()
        keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
        assert {"brand_a/customers", "brand_a/customers_intraday", "brand_a/orders", "brand_a/quota",
                "brand_a/warehouse/customers_table", "brand_a/warehouse/orders_table"} <= keys
        assert not any(k.startswith("replenit/") or k.startswith("warehouse/") for k in keys)
        assert "brand_a/products" not in keys
        assert set(defs.resources) == {"replenit_brand_a", "warehouse_brand_a", "state_brand_a"}
        assert {j for j in repo.job_names if not j.startswith("__")} == {
            "Sync_customers_daily_brand_a", "Sync_orders_hourly_brand_a", "plan_backfill_brand_a", "replay_queued_brand_a",
            "reconcile_customers_brand_a", "reconcile_orders_brand_a", "observe_warehouse_tables_brand_a"}
        assert {s.name for s in repo.schedule_defs} == {
            "customers_daily_schedule_brand_a", "orders_hourly_schedule_brand_a", "reconcile_customers_weekly_brand_a",
            "reconcile_orders_weekly_brand_a", "observe_warehouse_tables_hourly_brand_a"}
        assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in repo.schedule_defs)
        # The key is named from its env var when no label is given: tenants on one key share it (its
        # quota's lanes, no pool: issue 24); the bulk jobs have pools of their own.
        node = repo.asset_graph.get(dg.AssetKey(["brand_a", "customers"]))
        assert node.pools == set() and node.tags["replenit/key"] == "replenit-brand_a_api_key"
        assert [op.pool for op in defs.resolve_job_def("reconcile_customers_brand_a").graph.node_defs] == [
            "replenit-brand_a_api_key-reconcile_customers_brand_a"]
        assert node.group_name == "brand_a"
        # Its state folder is its own; the key's quota ledger is shared by every tenant on the key.
        state = defs.resources["state_brand_a"]
        assert state.path == str(tmp_path / "state" / "brand_a" / "state.duckdb")
        assert defs.resources["replenit_brand_a"].quota_dir == str(tmp_path / "state" / "quota")
        # The run config's defaults are the instance's (the launchpad shows them).
        config = repo.get_job("Sync_customers_daily_brand_a").run_config_schema.config_type
        op_config = config.fields["ops"].config_type.fields["brand_a__customers"].config_type.fields["config"].config_type
        assert op_config.fields["batch_size"].default_value == 250
        assert op_config.fields["gate"].default_value == "fixed"
        assert op_config.fields["max_quarantine_share"].default_value == 0.1


def test_a_subclass_changes_the_sync_assets_specs():
    with defs_folder(brand_b=f"""
            attributes:
              {TENANT}
              key_prefix: brand_b
              entities: [customers]
            """) as (folder, loader):
        write_defs_yaml(folder / "brand_b", f"attributes:\n  {TENANT}\n  key_prefix: brand_b\n  entities: [customers]\n",
                        type_line=f"type: {OwnedSync.__module__}.OwnedSync\n")
        with loader.load() as defs:
            spec = defs.get_assets_def(dg.AssetKey(["brand_b", "customers"])).specs_by_key[dg.AssetKey(["brand_b", "customers"])]
            assert spec.owners == ["team:crm"] and spec.tags["brand"] == "b"


def test_deps_give_lineage_from_the_users_assets_per_entity_and_child_table():
    with defs_folder(shop=f"""
            attributes:
              {TENANT}
              mapping: {DEMO_MAPPING}
              deps:
                customers: [analytics/dim_customers]
                orders: [analytics/fct_orders]
                OrderItems: [analytics/fct_order_lines]
            """) as (_, loader), loader.load() as defs:
        graph = defs.get_repository_def().asset_graph
        parents = {k: sorted(p.to_user_string() for p in graph.get(dg.AssetKey(["replenit", k])).parent_keys)
                   for k in ("customers", "orders", "products")}
        assert parents["customers"] == ["analytics/dim_customers"]
        assert parents["orders"] == ["analytics/fct_order_lines", "analytics/fct_orders", "replenit/customers",
                                     "replenit/customers_intraday", "replenit/products"]
        # Products name no upstream: their tables stay warehouse source assets.
        assert parents["products"] == ["warehouse/product_variants_table", "warehouse/products_table"]
        sources = {k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] == "warehouse"}
        assert sources == {"warehouse/products_table", "warehouse/product_variants_table"}


def test_an_inline_mapping_is_read_from_the_defs_yaml(tmp_path):
    with defs_folder(inline=f"""
            attributes:
              {TENANT}
              key_prefix: inline
              mapping:
                customers:
                  source: {{table: people, window_column: changed_at}}
                  fields: {{CustomerId: person_id, Email: email}}
            """) as (_, loader), loader.load() as defs:
        keys = {k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()}
        assert {"inline/customers", "inline/warehouse/people_table"} <= keys
        warehouse = defs.resources["warehouse_inline"]
        assert warehouse.mapping_for("customers").source.table == "people"


def test_sources_whose_names_dagster_refuses_get_asset_names_it_takes(tmp_path):
    # Northwind's `Order Details` and a CRM export `crm-*.csv` (docs/configuration.md's own example):
    # their source assets are named in the characters Dagster takes, so the location loads.
    with defs_folder(odd=f"""
            attributes:
              {TENANT}
              key_prefix: odd
              mapping:
                customers:
                  source: {{path: exports/crm-*.csv, window_column: changed_at}}
                  fields: {{CustomerId: person_id, Email: email}}
                orders:
                  source: {{table: Orders, window_column: OrderDate}}
                  fields: {{OrderId: OrderID, Currency: {{constant: EUR}}}}
                  OrderItems:
                    source: {{table: Order Details}}
                    parent_key: OrderID
                    key: ProductID
                    fields: {{ProductId: ProductID, Quantity: Quantity, Price: UnitPrice}}
            """) as (_, loader), loader.load() as defs:
        keys = {k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()}
        assert {"odd/warehouse/crm-all_files", "odd/warehouse/Order_Details_table", "odd/warehouse/Orders_table"} <= keys


# --- every field checked, each error naming the field and the fix ----------------------------------

BROKEN = [
    # (what the defs.yaml says, what the error must say)
    (f"{TENANT}\n  batchsize: 10", ["defs.yaml:4", "attributes.batchsize is not a field", "did you mean batch_sizes"]),
    ("", ["attributes.tenant is required", "id_env", "key_env"]),
    ("warehouse: w.duckdb", ["defs.yaml:2", "attributes.tenant is required"]),
    ("tenant: REPLENIT_API_KEY", ["attributes.tenant must be a block", "id_env", "key_env"]),
    ("tenant: {id_env: REPLENIT_TENANT_ID}", ["attributes.tenant.key_env must be the name of an environment variable"]),
    ("tenant: {id_env: tenant-id, key_env: REPLENIT_API_KEY}", ["attributes.tenant.id_env must name an environment variable"]),
    ("tenant: {id_env: REPLENIT_TENANT_ID, key_env: '{{ env.REPLENIT_API_KEY }}'}", ["tenant.key_env takes the NAME", "not a template"]),
    ("tenant: {id_env: REPLENIT_TENANT_ID, key_env: K, key_label: 'a b'}", ["tenant.key_label must be a short name"]),
    ("tenant: {id_env: REPLENIT_TENANT_ID, key_env: K, region: eu}", ["tenant.region is not a tenant setting"]),
    (f"{TENANT}\n  entities: [customers, invoices]", ["entities: 'invoices' is not one of customers, products, orders"]),
    (f"{TENANT}\n  entities: customers, orders", ["entities: 'customers, orders' is not one of"]),
    (f"{TENANT}\n  key_prefix: brand a", ["key_prefix must be one name or a list of names"]),
    (f"{TENANT}\n  partitions_start: 2026-02-30", ["partitions_start must be a day, YYYY-MM-DD"]),
    (f"{TENANT}\n  partitions_start: yesterday", ["partitions_start must be a day, YYYY-MM-DD"]),
    (f"{TENANT}\n  automation: eager", ["automation must be one of schedules, after_upstream, schedules_and_upstream, manual"]),
    (f"{TENANT}\n  automation_status: on", ["automation_status must be one of running, stopped"]),
    (f"{TENANT}\n  batch_sizes: {{products: 500}}", ["batch_sizes.products must be 1 to 200"]),
    (f"{TENANT}\n  batch_sizes: {{customers: abc}}", ["batch_sizes.customers must be a whole number, 1 to 1000"]),
    (f"{TENANT}\n  batch_sizes: {{invoices: 10}}", ["batch_sizes: 'invoices' is not one of"]),
    (f"{TENANT}\n  lookback_hours: {{customers: -1}}", ["lookback_hours.customers must be 0 to 8784"]),
    (f"{TENANT}\n  freshness: {{orders: {{warn_hours: 2}}}}", ["freshness.orders must be {fail_hours: H, warn_hours: H}"]),
    (f"{TENANT}\n  freshness: {{orders: {{fail_hours: 2, warn_hours: 3}}}}", ["freshness.orders: warn_hours (3) must be less than fail_hours (2)"]),
    (f"{TENANT}\n  gate: {{mode: strict}}", ["gate.mode must be baseline or fixed"]),
    (f"{TENANT}\n  gate: {{max_quarantine_share: 5}}", ["gate.max_quarantine_share must be 0 to 1"]),
    (f"{TENANT}\n  gate: {{max_share: 0.1}}", ["gate.max_share is not a gate setting", "max_quarantine_share"]),
    (f"{TENANT}\n  group: replenit-b", ["group must be a name of letters, digits and _"]),
    (f"{TENANT}\n  owners: [crm team]", ["owners: 'crm team' is neither an email nor team:NAME"]),
    (f"{TENANT}\n  base_url: api.replen.it", ["base_url must be the Ingestion API's address, e.g. https://api.replen.it"]),
    (f"{TENANT}\n  limits: 100 per minute", ["limits: bad rate-limit window", "REQUESTS/SECONDS"]),
    (f"{TENANT}\n  customer_priority: phone", ["customer_priority must be one of email, customerid"]),
    (f"{TENANT}\n  state_url_env: postgresql://u:p@h/db", ["state_url_env must name an environment variable"]),
    (f"{TENANT}\n  deps: {{invoices: [a/b]}}", ["deps: 'invoices' is neither an entity", "nor a child array"]),
    (f"{TENANT}\n  deps: {{customers: ['analytics dim_customers']}}", ["deps.customers: 'analytics dim_customers' is not an asset key",
                                                                      "analytics/dim_customers"]),
    (f"{TENANT}\n  entities: [customers]\n  deps: {{orders: [a/b]}}", ["attributes.deps: orders is for orders, which this "
                                                                      "component does not sync"]),
    (f"{TENANT}\n  mapping: {DEMO_MAPPING}\n  deps: {{ProductVariants: [a/b]}}", None),  # the demo's variants have a source: fine
    (f"{TENANT}\n  mapping: {{customers: {{source: {{table: c, window_column: u}}, fields: {{CustomerId: id}}}}}}\n"
     f"  deps: {{OrderItems: [a/b]}}", ["attributes.deps: OrderItems is for orders"]),
    (f"{TENANT}\n  mapping: no_such_mapping.yaml", ["attributes.mapping:", "no_such_mapping.yaml does not exist"]),
    (f"{TENANT}\n  mapping: {{invoices: {{}}}}", ["mapping: 'invoices' is not an entity"]),
    (f"{TENANT}\n  mapping: {{customers: {{source: {{table: c}}, fields: {{Emial: email}}}}}}", ["attributes.mapping:", "Emial"]),
    (f"{TENANT}\n  mapping: {{customers: {{source: {{table: c, window_column: u}}, fields: {{CustomerId: id}}}}}}\n"
     "  entities: [orders]", ["attributes.entities: orders has no section in the mapping"]),
]


@pytest.mark.parametrize("attributes,expected", BROKEN, ids=[f"{i}" for i in range(len(BROKEN))])
def test_a_broken_field_fails_the_load_naming_the_field_and_the_fix(attributes, expected):
    text = f"attributes:\n  {attributes}\n" if attributes else "attributes: {}\n"
    if expected is None:
        with defs_folder(brand_a=text) as (_, loader), loader.load() as defs:
            assert defs.get_repository_def().asset_graph.get_all_asset_keys()
        return
    message = load_error(text)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert "defs.yaml" in message  # where: the file (and the line, where Dagster or the component knows it)


SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.mark.parametrize("attributes", [
    f"tenant: {{id_env: REPLENIT_TENANT_ID, key_env: {SECRET}}}",
    f"tenant: {{id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY, api_key: {SECRET}}}",
    f"tenant: {{id_env: {SECRET.upper()}, key_env: REPLENIT_API_KEY}}",
    f"{TENANT}\n  api_key: {SECRET}",
    f"{TENANT}\n  state_url_env: postgresql://replenit:{SECRET}@db/replenit",
])
def test_no_error_repeats_a_pasted_secret(attributes):
    message = load_error(f"attributes:\n  {attributes}\n")
    assert SECRET not in message and SECRET.upper() not in message, message
    assert "attributes." in message


def test_an_invalid_schedules_variable_still_fails_with_its_name(monkeypatch):
    monkeypatch.setenv("REPLENIT_SCHEDULES", "sometimes")
    assert "REPLENIT_SCHEDULES='sometimes': expected running or stopped" in load_error(f"attributes:\n  {TENANT}\n")
