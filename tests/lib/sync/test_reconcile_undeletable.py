"""A reconciliation whose soft-deleted customers the API cannot be told about (known by email
alone, no CustomerId to delete by): their rows counted dead-lettered, none counted deleted, no
DELETE sent, the customers named in the deletes' outcome (the reconcile job fails with how many;
the state store records no dead letter rows for a reconciliation's deletes: docs/operating.md).
Real sandbox, DuckDB warehouse and state store, SQLite ledger."""

from datetime import datetime

from test_ledger_sync import customers
from test_reconcile import SOFT_MAPPING, Rig

NO_ID = (3, 5, 8, 13)


def test_soft_deleted_customers_without_an_id_are_counted_dead_lettered_not_deleted(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path, mapping=SOFT_MAPPING)
    try:
        rows = [{**r, "deleted_at": None} for r in customers(100)]  # 4 of 100: under the guard of 5%
        for i in NO_ID:
            rows[i]["id"] = None  # the tenant knows them by email alone
        rig.load(rows)
        rig.reconcile(chunk_rows=25)
        for i in NO_ID:
            rows[i]["deleted_at"] = datetime(2026, 11, 26, 15)
        rig.load(rows)
        result, sent = rig.reconcile(chunk_rows=25)
        assert [r for r in sent if r["method"] == "DELETE"] == []  # nothing the API could be told
        c = result.counts()
        assert (c["rows_deleted"], c["rows_dead_lettered"], c["records_not_deletable"], c["records_deleted"]) == (0, 4, 4, 0)
        assert sorted(result.deletes.not_deletable_identities) == sorted(f"email:user{i}@example.com" for i in NO_ID)
        assert result.deletes.records_not_deletable == 4 and result.deletes.failed_identities == []
    finally:
        rig.client.close()
