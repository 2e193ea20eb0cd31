"""A reconciliation's record and counts as an operator reads them: one `sync_runs` row per chunk
under the partition key `all:<chunk>/<chunks>` (docs/operating.md), the `mirror` flag, and the
records flagged deleted by the soft-delete column counted apart from the absent ones."""

from datetime import datetime

from test_ledger_sync import customers
from test_reconcile import SOFT_MAPPING, Rig


def test_chunk_rows_mirror_flag_and_flagged_deletes_of_a_reconciliation(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path, mapping=SOFT_MAPPING)
    try:
        rows = [{**r, "deleted_at": None} for r in customers(250)]
        rig.load(rows)
        first, _ = rig.reconcile(chunk_rows=100)
        keys = rig.store.query("SELECT partition_key FROM sync_runs WHERE run_id = 'reconcile-1' ORDER BY partition_key")
        assert keys["partition_key"].to_list() == ["all:1/3", "all:2/3", "all:3/3"]
        c = first.counts()
        assert (c["chunks"], c["mirror"], c["records_flagged_deleted"], c["records_absent"]) == (3, 0, 0, 0)

        for i in (5, 105, 205):  # 3 of 250, under the delete guard
            rows[i]["deleted_at"] = datetime(2026, 11, 26, 15)
        rig.load(rows[:-2])  # and two rows gone from the source: absent, deleted in mirror mode
        second, _ = rig.reconcile(chunk_rows=100, mirror=True)
        c = second.counts()
        assert (c["mirror"], c["records_flagged_deleted"], c["records_absent"], c["records_deleted"]) == (1, 3, 2, 5)
    finally:
        rig.client.close()
