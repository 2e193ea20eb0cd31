"""Tables for people and machines (issue 27 item 3): `replenit state`, `quota` and `check` through the
real CLI entry point, over a real state store (DuckDB) and quota ledger."""

import csv
import io
import json
import re

import polars as pl
import pytest
from test_cli import _quarantine_row

from replenit_pipelines import cli
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync.run import DEAD_LETTER_SCHEMA

LONG = "x" * 30 + "-the-end-of-a-long-value-0123456789"  # 65 characters


@pytest.fixture
def state_dir(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "st"))
    store = DuckDBStateStore(tmp_path / "st" / "state.duckdb")
    rows = pl.concat([_quarantine_row(), _quarantine_row().with_columns(record_id=pl.lit(LONG), rule=pl.lit("phone"),
                                                                        field=pl.lit("Phone"))])
    store.record("run-1", "2026-11-26", "customers", rows, pl.DataFrame(schema=DEAD_LETTER_SCHEMA), {"outcome": "delivered"})
    return tmp_path / "st"


def columns_start(line: str) -> list[int]:
    return [i for i in range(len(line)) if line[i] != " " and (i == 0 or line[i - 1:i + 1].startswith("  "))]


def test_state_prints_an_aligned_table_without_dtypes_or_shape(state_dir, capsys):
    assert cli.main(["state", "SELECT record_id, rule, field FROM quarantine ORDER BY rule"]) == 0
    out = capsys.readouterr().out
    assert "shape:" not in out and "str" not in out.split() and "---" not in out
    header, rule, *rows = out.rstrip("\n").splitlines()
    assert header.split() == ["record_id", "rule", "field"] and set(rule) == {"─"}
    # Aligned: each column starts at the same place on every line.
    starts = [header.index(name) for name in ("rule", "field")]
    for row in rows:
        assert [row.index(v) for v in row.split()[1:]] == starts, out
    assert LONG not in out and LONG[:39] + "…" in out  # cut at 40 characters ...
    assert cli.main(["state", "SELECT record_id, rule, field FROM quarantine ORDER BY rule", "--wide"]) == 0
    assert LONG in capsys.readouterr().out  # ... whole one flag away


def test_state_gives_machines_json_and_csv_with_whole_values(state_dir, capsys):
    sql = "SELECT record_id, source_row, rule FROM quarantine ORDER BY rule"
    assert cli.main(["state", sql, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"record_id": "c7", "source_row": 3, "rule": "email"},
                                                   {"record_id": LONG, "source_row": 3, "rule": "phone"}]
    assert cli.main(["state", sql, "--csv"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [
        ["record_id", "source_row", "rule"], ["c7", "3", "email"], [LONG, "3", "phone"]]
    # No SQL: the default summary; JSON holds each table by name.
    assert cli.main(["state", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"entity": "customers", "rule": "email", "field": "Email", "rows": 1},
        {"entity": "customers", "rule": "phone", "field": "Phone", "rows": 1}]


def test_quota_prints_tables_and_csv(state_dir, capsys, sandbox, tenant, monkeypatch):
    from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient

    with ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=tenant[0], api_key=tenant[1],
                                     quota_dir=str(state_dir / "quota"))) as client:
        client.deliver("customers", [{"CustomerId": "c1", "Email": "c1@example.com"}])
    assert cli.main(["quota", "--no-schedules"]) == 0
    out = capsys.readouterr().out
    assert "shape:" not in out and "window_s" in out and "remaining" in out
    assert re.search(r" 60 +1 +100 +99 ", out) and re.search(r" 3,600 +1 +5,000 +4,999 ", out), out
    assert cli.main(["quota", "--no-schedules", "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(r["window_s"], r["spent"], r["limit"]) for r in table} == {("60.0", "1", "100"), ("3600.0", "1", "5000")}


def test_check_gives_machines_json(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("customers:\n  source: {table: customers, window_column: updated_at}\n  fields:\n    Email: emial\n")
    import duckdb

    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("CREATE TABLE customers (email VARCHAR, updated_at TIMESTAMP)")
    # `check --mapping/--warehouse` set them for the process: monkeypatch restores them after the test.
    monkeypatch.setenv("REPLENIT_MAPPING", str(mapping))
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    assert cli.main(["check", "--mapping", str(mapping), "--warehouse", str(tmp_path / "wh.duckdb"), "--json"]) == 1
    got = json.loads(capsys.readouterr().out)
    assert got["errors"] >= 1 and not got["ok"]
    assert any(f["where"] == "Email" and "did you mean email" in f["message"] for f in got["findings"])
    assert any(s["setting"].startswith("mapping") and s["value"] == str(mapping) for s in got["settings"])
    assert cli.main(["check", "--mapping", str(mapping), "--warehouse", str(tmp_path / "wh.duckdb")]) == 1
    out = capsys.readouterr().out
    settings_line = next(line for line in out.splitlines() if line.startswith("mapping (REPLENIT_MAPPING)"))
    assert settings_line.split()[-1] == str(mapping) and "ERROR   customers.Email: column 'emial'" in out


def test_fields_lists_every_field_a_mapping_may_name_with_type_limits_and_required(capsys):
    from pathlib import Path

    from replenit_pipelines.lib.warehouse import load_mapping

    assert cli.main(["fields", "--json"]) == 0
    rows = {(r["entity"], r["field"]): r for r in json.loads(capsys.readouterr().out)}
    # Every field the packaged and example mappings fill is listed under the name the mapping writes.
    root = Path(__file__).resolve().parents[2]
    mappings = [root / "replenit_pipelines" / "mappings" / "demo.yaml", *sorted((root / "examples").glob("*/mapping*.yaml"))]
    named = {(entity, f.target) for path in mappings for entity, m in load_mapping(path).items() for f in m.all_fields}
    assert len(mappings) >= 3 and named and named <= set(rows), named - set(rows)
    assert rows[("orders", "OrderItems.Quantity")] | {} == {"entity": "orders", "field": "OrderItems.Quantity", "type": "integer",
                                                            "limits": ">= 1; <= 2,147,483,647", "required": "yes", "note": ""}
    assert rows[("customers", "Email")]["required"] == "one of CustomerId or Email"
    assert rows[("products", "ProductVariants.Currency")]["required"] == "with OriginalPrice or SalePrice"
    assert rows[("customers", "Phone")]["limits"] == "at most 32 characters"
    assert cli.main(["fields", "orders"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("orders: up to 500 a request") and "OrderItems.Price" in out and "Email " in out
    assert "ProductVariants" not in out and "shape:" not in out
    assert cli.main(["fields", "order"]) == 2


def test_quota_names_the_mapping_error_that_kept_the_schedules_out(state_dir, capsys, monkeypatch, tmp_path):
    # The code location does not load (an unknown API field): the quota is still shown, and the line
    # that says the schedules are left out names the field, not Dagster's wrapper ("Error while
    # building definitions for replenit[0]:").
    mapping = tmp_path / "m.yaml"
    mapping.write_text("customers:\n  source: {table: customers, window_column: updated_at}\n"
                       "  fields: {CustomerId: customer_id, FirstName: first_name}\n")
    monkeypatch.setenv("REPLENIT_MAPPING", str(mapping))
    cli.main(["quota"])
    err = capsys.readouterr().err
    assert "(schedules not read: " in err and "customers has no field 'FirstName'" in err, err


def test_quota_shows_the_requests_of_each_component_instance_in_its_own_state_folder(sandbox, tmp_path, monkeypatch, capsys):
    """Two tenants as docs/component.md writes them (key_prefix brand_a, brand_b: state in
    REPLENIT_STATE_DIR/brand_a and /brand_b, the key's quota ledger in REPLENIT_STATE_DIR/quota), synced by
    Dagster. `replenit quota` read only REPLENIT_STATE_DIR/state.duckdb, which they never write: 'none recorded'."""
    from datetime import UTC, datetime

    import dagster as dg
    from component_helpers import defs_folder

    from replenit_pipelines.lib.settings import DEMO_MAPPING
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    state = tmp_path / "state"
    monkeypatch.chdir(tmp_path)
    for name, value in {"REPLENIT_STATE_DIR": str(state), "REPLENIT_BASE_URL": sandbox.url}.items():
        monkeypatch.setenv(name, value)
    for name in ("REPLENIT_SCHEDULES", "REPLENIT_STATE_URL", "REPLENIT_API_KEY", "REPLENIT_MAPPING", "REPLENIT_LIMITS"):
        monkeypatch.delenv(name, raising=False)
    tenant_a, key = sandbox.add_tenant()
    tenant_b, _ = sandbox.add_tenant(key=key)
    monkeypatch.setenv("SHOP_API_KEY", key)
    instances = {}
    for brand, tenant, customers in (("brand_a", tenant_a, 60), ("brand_b", tenant_b, 30)):
        monkeypatch.setenv(f"{brand.upper()}_TENANT_ID", tenant)
        warehouse = tmp_path / f"{brand}.duckdb"
        build_demo_warehouse(warehouse, customers=customers, seed=len(brand) + customers, days=2, end=datetime(2026, 11, 27, tzinfo=UTC))
        instances[brand] = (f"attributes:\n  tenant: {{id_env: {brand.upper()}_TENANT_ID, key_env: SHOP_API_KEY}}\n"
                            f"  key_prefix: {brand}\n  warehouse: {warehouse}\n  mapping: {DEMO_MAPPING}\n"
                            "  entities: [customers]\n  partitions_start: '2026-11-01'\n")
    with defs_folder(**instances) as (_, loader), loader.load() as defs, dg.instance_for_test() as instance:
        for brand in instances:
            assert defs.resolve_job_def(f"Sync_customers_daily_{brand}").execute_in_process(
                partition_key="2026-11-26", instance=instance).success
    assert not (state / "state.duckdb").exists() and (state / "brand_a" / "state.duckdb").exists()
    capsys.readouterr()
    assert cli.main(["quota", "--no-schedules", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    per_instance = {(e["instance"], e["entity"]): (e["runs"], e["requests"]) for e in view["requests_last_24h"]}
    assert set(per_instance) == {("brand_a", "customers"), ("brand_b", "customers")}, view
    assert all(runs == 1 and requests >= 1 for runs, requests in per_instance.values()), per_instance
    spent = sum(w["spent"] for k in view["keys"] for w in k["windows"] if w["seconds"] == 3600)
    assert spent == sum(requests for _, requests in per_instance.values())  # the key's ledger counts both instances' requests
    assert cli.main(["quota", "--no-schedules"]) == 0
    out = capsys.readouterr().out
    assert "per instance and entity" in out and re.search(r"brand_a +customers +1 ", out) and re.search(r"brand_b +customers +1 ", out), out
    assert cli.main(["quota", "--no-schedules", "--text"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"brand_b customers: [\d,]+ requests? in 1 run", text), text
