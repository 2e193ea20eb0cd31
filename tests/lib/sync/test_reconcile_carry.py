"""A reconciliation's requests are full across chunks (issue 28 item 3): a chunk's partial last batch
goes out filled with the next chunk's first records, and every record stays its own chunk's in the
accounting and in the ledger. Real sandbox (its request log), real DuckDB warehouse, real SQLite ledger."""

import math

import httpx
from test_ledger_sync import customers
from test_reconcile import Rig, population

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.sandbox import Sandbox

BATCH = 30


def small_batches(rig: Rig, **config) -> None:
    rig.client.close()
    rig.client = ReplenitClient(ClientConfig(base_url=rig.sandbox.url, tenant_id=rig.tenant_id, api_key=rig.key, limits=(),
                                             quota_dir=str(rig.quota_dir), batch_sizes={"customers": BATCH}, **config))


def test_chunks_send_full_requests_and_each_record_is_its_own_chunks(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path)
    small_batches(rig)
    try:
        rig.load(population(500))
        result, sent = rig.reconcile(chunk_rows=70)  # chunks of ~70 rows: none a multiple of 30
        c = result.counts()
        assert c["chunks"] >= 7
        valid = c["records_valid"]
        assert valid == 497 and c["rows_delivered"] == 497 and len(rig.stored()) == 497
        # The minimum: every request full but the run's last.
        assert [r["records"] for r in sent] == [BATCH] * (valid // BATCH) + [valid % BATCH]
        assert c["requests"] == math.ceil(valid / BATCH)
        # Each chunk counts its own records (some of them sent in the previous chunk's last request).
        for counts in result.counts_by_chunk:
            assert counts["records_accepted"] == counts["records_sent"] == counts["records_valid"]
        with rig.ledger() as ledger:
            assert ledger.size() == 497 and ledger.pending_compaction() == 0
        again, resent = rig.reconcile(chunk_rows=70)
        assert resent == [] and again.counts()["rows_unchanged"] == 497
    finally:
        rig.client.close()


def test_a_shared_request_that_fails_counts_and_queues_each_record_in_its_own_chunk(tmp_path):
    with Sandbox(limits=[]) as sb:
        rig = Rig(sb, tmp_path)
        small_batches(rig, max_attempts=1, backoff_base_s=0.01, backoff_cap_s=0.02)
        try:
            rig.load(customers(400))
            httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 0.4, "seed": 3}})
            failed, sent = rig.reconcile(chunk_rows=70)  # Rig asserts the accounting balances
            c = failed.counts()
            stored = len(rig.stored())
            assert 0 < c["rows_dead_lettered"] < 400 and c["rows_delivered"] == stored
            assert c["rows_delivered"] + c["rows_dead_lettered"] == 400
            for counts in failed.counts_by_chunk:
                assert counts["records_accepted"] + counts["records_failed"] == counts["records_valid"]
            with rig.ledger() as ledger:  # acknowledged exactly what the API accepted; queued exactly what failed
                assert ledger.size() == stored and ledger.queued().height == c["rows_dead_lettered"]
            httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 0.0}})
            healed, _ = rig.reconcile(chunk_rows=70)
            assert healed.counts()["rows_delivered"] == 400 - stored and len(rig.stored()) == 400
        finally:
            rig.client.close()


def test_a_dry_run_plans_the_requests_the_run_then_sends(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path)
    small_batches(rig)
    try:
        rig.load(population(500))
        planned, nothing = rig.reconcile(chunk_rows=70, dry_run=True)
        assert nothing == [] and planned.counts()["chunks"] >= 7
        result, sent = rig.reconcile(chunk_rows=70)
        assert planned.counts()["requests_planned"] == len(sent) == result.counts()["requests"] == math.ceil(497 / BATCH)
    finally:
        rig.client.close()


def test_a_tail_filled_up_to_the_byte_limit_leaves_the_rest_of_the_next_chunk_to_it(sandbox, tmp_path):
    """Requests cut by bytes, not by count: the tail takes the next chunk's first records while they
    fit in the body limit, no more, and the next chunk sends the rest (each record once)."""
    limit = 2_000  # ~10 customers a body: every chunk's last batch is partial by count
    rig = Rig(sandbox, tmp_path)
    small_batches(rig, max_body_bytes=limit)
    try:
        rig.load(customers(200))
        result, sent = rig.reconcile(chunk_rows=70)
        c = result.counts()
        assert c["chunks"] >= 3 and c["rows_delivered"] == 200 == len(rig.stored())
        assert sum(r["records"] for r in sent) == 200  # none sent twice
        assert max(r["bytes"] for r in sent) <= limit and max(r["records"] for r in sent) < BATCH
        assert c["requests"] == len(sent)
    finally:
        rig.client.close()
