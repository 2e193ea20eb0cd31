"""A queued failure retried by a later run that fails again (lib/stages/retry.py): the queue keeps
the new failure's reason, the one an operator reads in `replenit state`, not the first one's. Real
sandbox over HTTP (its fault injection), DuckDB warehouse, ledger file."""

import httpx
from test_ledger_sync import DAY, NEXT, Rig, customers

from replenit_pipelines.lib.sandbox import Sandbox


def test_a_retry_that_fails_again_queues_its_own_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with Sandbox(limits=[]) as sb:
        rig = Rig(sb, tmp_path, max_attempts=1, backoff_base_s=0.01, backoff_cap_s=0.02)
        try:
            rig.load(customers(2))
            httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p503": 1.0}})
            rig.sync(DAY)  # its own window fails: 503
            with rig.ledger() as ledger:
                first = ledger.queued()
            httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p503": 0.0, "p500": 1.0}})
            retried, _ = rig.sync(NEXT, max_attempts=3)  # the queue retried first: 500 this time
            assert retried.counts()["records_retry_failed"] == 2
            with rig.ledger() as ledger:
                again = ledger.queued()
        finally:
            rig.client.close()
    ids = ["email:user0@example.com", "email:user1@example.com"]
    assert first.select("identity", "status", "attempts", "last_reason").rows() == [
        (i, "failed", 1, "HTTP 503; gave up after 1 attempts") for i in ids]
    assert again.select("identity", "status", "attempts", "last_reason").rows() == [
        (i, "failed", 2, "HTTP 500; gave up after 1 attempts") for i in ids]
