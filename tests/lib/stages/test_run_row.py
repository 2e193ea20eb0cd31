"""The run's row in the state store (lib/stages/report.py `report`, table sync_runs): what `replenit
state`, the quarantine gate's baseline and the quota view read of a window's run. Real sandbox over
HTTP, a DuckDB warehouse, a DuckDB state store, a ledger file."""

from contextlib import closing
from datetime import timedelta

from helpers import CUSTOMER_MAPPING, TS, duckdb_warehouse

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import open_ledger
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window

DAY = TS.replace(hour=0)


def test_a_delivered_windows_run_row_names_its_run_partition_and_entity(sandbox, tenant, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    tenant_id, key = tenant
    warehouse = duckdb_warehouse(
        tmp_path / "wh.duckdb",
        "CREATE TABLE customers AS SELECT 'c' || i AS id, 'user' || i || '@example.com' AS email, 'U' AS name, "
        "NULL::VARCHAR AS phone, 'en-GB' AS locale, true AS gdpr, TIMESTAMP '2026-11-26 12:00:00' AS updated_at "
        "FROM range(3) t(i)",
    )
    store = DuckDBStateStore(tmp_path / "state" / "state.duckdb")
    config = ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), quota_dir=str(tmp_path / "quota"))
    with closing(ReplenitClient(config)) as client, closing(open_ledger(tmp_path / "state", sandbox.url, tenant_id, "customers")) as ledger:
        result = sync_window(
            SyncRequest(
                mapping=CUSTOMER_MAPPING,
                warehouse=warehouse,
                client=client,
                store=store,
                start=DAY,
                end=DAY + timedelta(days=1),
                partition_key="2026-11-26",
                run_id="run-1",
                ledger=ledger,
            )
        )
    assert (result.counts()["rows_delivered"], result.counts()["requests"]) == (3, 1)
    row = store.query("SELECT run_id, partition_key, entity, outcome, rows_read, rows_delivered, requests FROM sync_runs").to_dicts()
    assert row == [
        {
            "run_id": "run-1",
            "partition_key": "2026-11-26",
            "entity": "customers",
            "outcome": "delivered",
            "rows_read": 3,
            "rows_delivered": 3,
            "requests": 1,
        }
    ]
