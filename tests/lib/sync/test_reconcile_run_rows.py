"""A reconciliation's record and counts as an operator reads them: one `sync_runs` row per chunk
under the partition key `all:<chunk>/<chunks>` (docs/operating.md) with the requests it sent and
the instant it ran, the `mirror` flag, and the records flagged deleted by the soft-delete column
counted apart from the absent ones."""

import time
from datetime import UTC, datetime

from test_ledger_sync import customers
from test_reconcile import SOFT_MAPPING, Rig

from replenit_pipelines.lib.state import open_state_store


def test_chunk_rows_mirror_flag_and_flagged_deletes_of_a_reconciliation(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path, mapping=SOFT_MAPPING)
    try:
        rows = [{**r, "deleted_at": None} for r in customers(250)]
        rig.load(rows)
        first, _ = rig.reconcile(chunk_rows=100)
        runs = rig.store.query("SELECT partition_key, requests, outcome FROM sync_runs WHERE run_id = 'reconcile-1' "
                               "ORDER BY partition_key")
        assert runs["partition_key"].to_list() == ["all:1/3", "all:2/3", "all:3/3"]
        assert runs["outcome"].to_list() == ["delivered"] * 3  # every record accepted, no delete failed
        c = first.counts()
        # Each chunk's row counts the requests it sent (the retried ones on the first chunk's only): together the run's.
        assert runs["requests"].to_list() == [chunk["requests"] for chunk in first.counts_by_chunk]
        assert sum(runs["requests"]) == c["requests_total"] == c["requests"] > 0
        assert (c["chunks"], c["mirror"], c["records_flagged_deleted"], c["records_absent"]) == (3, 0, 0, 0)

        for i in (5, 105, 205):  # 3 of 250, under the delete guard
            rows[i]["deleted_at"] = datetime(2026, 11, 26, 15)
        rig.load(rows[:-2])  # and two rows gone from the source: absent, deleted in mirror mode
        second, _ = rig.reconcile(chunk_rows=100, mirror=True)
        c = second.counts()
        assert (c["mirror"], c["records_flagged_deleted"], c["records_absent"], c["records_deleted"]) == (1, 3, 2, 5)
    finally:
        rig.client.close()


def test_a_chunks_row_holds_the_instant_it_ran_in_a_process_of_another_time_zone(sandbox, tmp_path, postgres_url, monkeypatch):
    # The state database reads a time without zone in its own zone (here UTC), not the process's.
    rig = Rig(sandbox, tmp_path)
    rig.store = open_state_store(tmp_path / "unused.duckdb", state_url=postgres_url)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        rig.load(customers(5))
        before = datetime.now(UTC)
        rig.reconcile(chunk_rows=100)
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
        rig.client.close()
    [(start, end)] = rig.store.query("SELECT window_start, window_end FROM sync_runs WHERE run_id = 'reconcile-1'").rows()
    assert before <= start == end <= after
