"""The quarantine gate's baseline in sync_window (GatePolicy mode `baseline`, the default): a window is judged
against the entity's earlier runs recorded in the state store, so a share that is normal by the
ceiling alone is held back when the entity has been clean. Real sandbox, DuckDB warehouse and state
store, SQLite ledger."""

from datetime import timedelta

from helpers import CUSTOMER_MAPPING
from test_ledger_sync import DAY, customers, tenant_requests, write_table

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import open_ledger
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.validation.gate import GatePolicy
from replenit_pipelines.lib.warehouse import Warehouse

# One earlier run is enough for a baseline here (3 by default), to keep the test to two windows.
POLICY = GatePolicy(mode="baseline", baseline_min_runs=1)


def test_a_window_above_the_entitys_clean_baseline_is_held_back_though_under_the_ceiling(sandbox, tmp_path):
    tenant_id, key = sandbox.add_tenant()
    store = DuckDBStateStore(tmp_path / "state" / "state.duckdb")
    warehouse = tmp_path / "wh.duckdb"
    client = ReplenitClient(
        ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), quota_dir=str(tmp_path / "quota"))
    )
    # Day 1: 60 clean customers. Day 2: 60 more, 25 of them with a locale that is no language tag
    # (42% quarantined: under the 50% ceiling, far above day 1's 0% + 5%).
    bad = {f"c{i}": {"locale": "not a language tag at all"} for i in range(60, 85)}
    write_table(warehouse, "customers", customers(60) + customers(60, at=DAY + timedelta(days=1), first=60, **bad))

    def sync(day: int):
        start = DAY + timedelta(days=day)
        with open_ledger(tmp_path / "state", sandbox.url, tenant_id, "customers") as ledger:
            return sync_window(
                SyncRequest(
                    mapping=CUSTOMER_MAPPING,
                    warehouse=Warehouse(warehouse),
                    client=client,
                    store=store,
                    start=start,
                    end=start + timedelta(days=1),
                    partition_key=start.date().isoformat(),
                    run_id=f"run-{day}",
                    gate=POLICY,
                    ledger=ledger,
                )
            )

    try:
        first = sync(0)
        assert (first.held_back, first.counts()["rows_delivered"]) == (False, 60)
        seq = max((r["seq"] for r in tenant_requests(sandbox, tenant_id)), default=0)
        second = sync(1)
    finally:
        client.close()
    assert second.gate is not None
    assert (second.gate.baseline, second.gate.baseline_runs, second.gate.threshold) == (0.0, 1, 0.05)
    assert second.held_back and second.counts()["rows_held_back"] == 35 and second.counts()["rows_quarantined"] == 25
    assert tenant_requests(sandbox, tenant_id, seq) == []  # nothing of day 2 was sent
    assert second.balanced(), second.counts()
