"""A dry run plans the requests the retry queue's re-send would spend (nothing sent): earlier runs'
failed records are counted in requests_planned. Real sandbox (its own, with a fault), DuckDB, SQLite."""

import httpx
from test_ledger_sync import DAY, NEXT, Rig, customers

from replenit_pipelines.lib.sandbox import Sandbox


def test_a_dry_run_counts_the_requests_of_the_queued_retries(tmp_path):
    with Sandbox(limits=[]) as sb:
        rig = Rig(sb, tmp_path, max_attempts=1, backoff_base_s=0.01, backoff_cap_s=0.02)
        try:
            rig.load(customers(10))
            httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 1.0, "seed": 1}})
            failed, _ = rig.sync(DAY)
            assert failed.counts()["rows_dead_lettered"] == 10
            httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 0.0}})
            planned, sent = rig.sync(NEXT, dry_run=True)  # a window without rows: only the queue's records
            p = planned.counts()
            assert sent == []
            assert (p["records_retried"], p["requests_planned"]) == (10, 1)
        finally:
            rig.client.close()
