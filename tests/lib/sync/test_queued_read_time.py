"""A record a window could not deliver waits in the retry queue with the time that window's
warehouse read began (lib/stages/acknowledge.py queue_undelivered): the send-time check and the
queue's own rule (an acknowledgement of an older read leaves a newer queued version) order
versions by it. Real sandbox over HTTP (answering 500), real DuckDB warehouse, a real ledger file."""

import httpx
from test_ledger_sync import DAY, Rig, customers

from replenit_pipelines.lib.ledger.base import now_ms
from replenit_pipelines.lib.sandbox import Sandbox


def test_a_failed_record_is_queued_with_the_time_its_windows_read_began(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with Sandbox(limits=[]) as sb:
        rig = Rig(sb, tmp_path, max_attempts=1, backoff_base_s=0.01, backoff_cap_s=0.02)
        try:
            rig.load(customers(3))
            httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 1.0}})
            before = now_ms()
            failed, _ = rig.sync(DAY)
            after = now_ms()
            assert failed.counts()["records_failed"] == 3
            with rig.ledger() as ledger:
                queued = ledger.queued().sort("identity")
            assert queued["status"].to_list() == ["failed"] * 3
            read_at = queued["read_at"].to_list()
            assert len(set(read_at)) == 1 and before <= read_at[0] <= after  # the window's one read, not NULL
            assert all(read_at[0] <= t for t in queued["first_failure"].to_list())  # read before it failed
        finally:
            rig.client.close()
