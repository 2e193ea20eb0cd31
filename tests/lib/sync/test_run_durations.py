"""A run's times as its counts report them (`duration_s`, and a reconciliation's `local_s`, the work
not waiting on the API): each within the time the call took, the local part within the whole. A
partitioned run, and a reconciliation whose table is scanned once and spilled by chunk. Real
sandbox, DuckDB warehouse and state store, SQLite ledger."""

import time

from test_ledger_sync import Rig as WindowRig
from test_ledger_sync import customers
from test_reconcile import Rig as ReconcileRig


def test_a_partitioned_runs_duration_is_the_time_it_took(sandbox, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    rig = WindowRig(sandbox, tmp_path)
    try:
        rig.load(customers(20))
        before = time.monotonic()
        result, sent = rig.sync()
        took = time.monotonic() - before
        assert len(sent) == 1
        assert 0 < result.counts()["duration_s"] <= round(took, 3) + 0.001
    finally:
        rig.client.close()


def test_a_spilled_reconciliations_local_time_is_within_its_duration_within_the_time_it_took(sandbox, tmp_path):
    rig = ReconcileRig(sandbox, tmp_path)
    try:
        rig.load(customers(40))
        before = time.monotonic()
        result, _ = rig.reconcile(chunk_rows=10)  # a table in 4 chunks: one scan, spilled to Parquet
        took = time.monotonic() - before
        c = result.counts()
        assert c["chunks"] == 4 and c["rows_delivered"] == 40
        assert 0 < c["local_s"] <= c["duration_s"] <= round(took, 3) + 0.001
    finally:
        rig.client.close()
