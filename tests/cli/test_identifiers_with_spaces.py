"""Tables and columns whose names are not plain identifiers (Northwind's `Order Details`, a column
`Unit Price`, a double quote in a name): a mapping names them as the warehouse does, and `replenit
check`, a partition and `--all` read them, quoted as DuckDB identifiers (lib/warehouse/access.py)."""

import httpx
import pytest
from helpers import duckdb_warehouse, point_at_sandbox

from replenit_pipelines import cli
from replenit_pipelines.lib.warehouse.access import quote
from replenit_pipelines.lib.warehouse.mapping import MappingError

MAPPING = """\
timezone: UTC
orders:
  source: {table: Orders 2026, window_column: Updated At, lookback_hours: 0}
  fields: {OrderId: Order ID, Currency: {constant: EUR}, OrderDate: Updated At}
  OrderItems:
    source: {table: Order Details}
    parent_key: Order ID
    key: Line "No"
    fields: {ProductId: Product ID, Quantity: Qty, Price: Unit Price}
"""


def test_quote_doubles_double_quotes_and_keeps_schema_dot_table():
    assert quote("Order Details") == '"Order Details"'
    assert quote('Line "No"') == '"Line ""No"""'
    assert quote("sales.orders") == '"sales"."orders"'
    with pytest.raises(MappingError):
        quote(" ")


def test_tables_and_columns_with_spaces_and_quotes_are_checked_and_synced(monkeypatch, sandbox, tmp_path, capsys):
    warehouse = tmp_path / "w.duckdb"
    duckdb_warehouse(
        warehouse,
        'CREATE TABLE "Orders 2026" ("Order ID" INTEGER, "Updated At" TIMESTAMP)',
        'CREATE TABLE "Order Details" ("Order ID" INTEGER, "Line ""No""" INTEGER, "Product ID" VARCHAR, Qty INTEGER, "Unit Price" DOUBLE)',
        """INSERT INTO "Orders 2026" VALUES (1, '2026-11-26 10:00:00'), (2, '2026-11-26 11:30:00')""",
        """INSERT INTO "Order Details" VALUES (1, 1, 'p1', 2, 5.0), (1, 2, 'p2', 1, 3.0), (2, 1, 'p1', 1, 5.0)""",
    )
    (tmp_path / "m.yaml").write_text(MAPPING)
    monkeypatch.chdir(tmp_path)
    env = point_at_sandbox(monkeypatch, sandbox, warehouse, tmp_path / "state")
    monkeypatch.setenv("REPLENIT_MAPPING", str(tmp_path / "m.yaml"))
    assert cli.main(["check"]) == 0, capsys.readouterr()
    assert cli.main(["sync", "orders", "--partition", "2026-11-26-10:00", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["sync", "orders", "--all"]) == 0
    capsys.readouterr()
    stored = httpx.get(f"{sandbox.url}/_sandbox/records/{env['REPLENIT_TENANT_ID']}/orders").json()
    by_id = {r["record"]["OrderId"]: r["record"] for r in stored}
    assert {k: (r["TotalRevenue"], [i["ProductId"] for i in r["OrderItems"]]) for k, r in by_id.items()} == {
        "1": (13.0, ["p1", "p2"]), "2": (5.0, ["p1"])}
