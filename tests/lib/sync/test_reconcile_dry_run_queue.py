"""A reconciliation's dry run changes nothing: not even the retry queue's obsolete payloads (a queued
version of a record the source no longer has), which a real run drops; and a customer source read
per chunk (a `query:`) finds its customers' chunks once, not once a chunk. Real sandbox, real DuckDB
warehouse, real SQLite ledger."""

import httpx
from test_ledger_sync import customers
from test_reconcile import Rig
from test_reconcile_carry import small_batches

from replenit_pipelines.lib.warehouse import chunks as chunks_module
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

QUERY_MAPPING = entity_mapping_from_dict("customers", {
    "source": {"query": "SELECT * FROM customers", "window_column": "updated_at"},
    "fields": {"CustomerId": "id", "Email": "email", "Name": "name", "Phone": "phone", "Language": "locale",
               "GdprOptin": "gdpr"},
})


def test_a_dry_run_leaves_an_obsolete_queued_payload_that_a_real_run_drops(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path)
    small_batches(rig, max_attempts=1)  # a failed request is not tried again
    try:
        rig.load(customers(3))
        httpx.post(f"{sandbox.url}/_sandbox/config", json={"faults": {"p500": 1.0}})
        try:
            rig.reconcile()  # every request fails: the three are queued
        finally:
            httpx.post(f"{sandbox.url}/_sandbox/config", json={"faults": {"p500": 0.0}})
        with rig.ledger() as ledger:
            queued = sorted(ledger.queued()["identity"].to_list())
        assert len(queued) == 3
        rig.load(customers(2))  # c2 is gone from the source
        result, sent = rig.reconcile(dry_run=True)
        assert sent == []
        with rig.ledger() as ledger:
            assert sorted(ledger.queued()["identity"].to_list()) == queued  # a dry run dequeues nothing
        rig.reconcile()
        with rig.ledger() as ledger:
            assert ledger.queued().height == 0  # c0, c1 sent again by their chunk; c2's payload dropped
        assert sorted(rig.stored()) == ["email:user0@example.com", "email:user1@example.com"]
    finally:
        rig.client.close()


def test_a_query_source_of_customers_finds_their_chunks_once_for_all_chunks(sandbox, tmp_path, monkeypatch):
    passes: list[int] = []
    find = chunks_module.customer_chunking
    monkeypatch.setattr(chunks_module, "customer_chunking", lambda *a, **kw: passes.append(1) or find(*a, **kw))
    rig = Rig(sandbox, tmp_path, mapping=QUERY_MAPPING)
    try:
        rig.load(customers(30))
        result, _ = rig.reconcile(chunk_rows=10)
        assert result.chunks == 3 and result.counts()["rows_delivered"] == 30 == len(rig.stored())
        assert passes == []  # the reconciliation found them before its chunks, and passed them to each read
    finally:
        rig.client.close()
