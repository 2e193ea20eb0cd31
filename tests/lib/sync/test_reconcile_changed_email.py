"""A customer who changed email, reconciled with --mirror: the ledger still holds the old address
(acknowledged before the change, under the same CustomerId) and no row has it any more. The API
deletes a customer by CustomerId, which the live customer of the new address has too: a DELETE
would take that customer with it, while the ledger went on believing Replenit holds it (the next
runs find it unchanged and never send it again). Seen with examples/woocommerce: a user's new
email, then `sync customers --all --mirror`, and the tenant held no customer 40 at all.
Real sandbox, DuckDB warehouse and state store, SQLite ledger."""

from datetime import datetime, timedelta

from test_ledger_sync import customers
from test_reconcile import DAY, SOFT_MAPPING, Rig, last_seq, requests_of

from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse


def test_a_mirror_run_never_deletes_by_a_customerid_a_live_customer_has(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path)
    try:
        rows = customers(100)
        rig.load(rows)
        rig.reconcile()
        moved = rows[7]  # CustomerId c7: user7@example.com -> c7.new@example.com, a newer row in place
        moved.update(email="c7.new@example.com", updated_at=(DAY + timedelta(days=1)).replace(tzinfo=None))
        rig.load(rows)
        rig.reconcile()  # the new address is sent; the old one stays in Replenit and in the ledger
        assert {k for k, r in rig.stored().items() if r["CustomerId"] == "c7"} == {
            "email:user7@example.com", "email:c7.new@example.com"}

        result, sent = rig.reconcile(mirror=True)
        assert [r for r in sent if r["method"] == "DELETE"] == []  # a DELETE of c7 would delete the new address too
        assert "email:c7.new@example.com" in rig.stored()
        c = result.counts()
        assert (c["records_deleted"], c["records_not_deletable"], c["rows_dead_lettered"]) == (0, 1, 0)
        assert result.deletes.not_deletable_identities == ["email:user7@example.com"]
        reason = result.deletes.dead_letters("customers")["reasons"].to_list()[0][0]
        assert "email:c***@example.com" in reason and "CustomerId" in reason
        _, sent = rig.reconcile()  # the live customer is still known and held as it is: nothing to send
        assert sent == [] and "email:c7.new@example.com" in rig.stored()
    finally:
        rig.client.close()


def test_a_soft_deleted_customer_who_changed_email_is_deleted_in_a_window_and_in_a_reconciliation(sandbox, tmp_path):
    """The other way round: the customer itself is deleted (its row, at its new address, flagged).
    Its old address is no live customer: it is older than the address deleted, and the same DELETE
    by CustomerId takes it too. Before, the guard took the old address for a live one and kept the
    deleted customer in Replenit (dead-lettered 'not deletable', naming the old address as live)."""
    for path in ("window", "reconcile"):
        rig = Rig(sandbox, tmp_path / path, mapping=SOFT_MAPPING)
        try:
            rows = [{**r, "deleted_at": None} for r in customers(100)]
            rig.load(rows)
            rig.reconcile()
            rows[7].update(email="c7.new@example.com", updated_at=(DAY + timedelta(hours=20)).replace(tzinfo=None))
            rig.load(rows)
            rig.reconcile()
            assert {k for k, r in rig.stored().items() if r["CustomerId"] == "c7"} == {
                "email:user7@example.com", "email:c7.new@example.com"}

            rows[7]["deleted_at"] = datetime(2026, 11, 26, 21)
            rig.load(rows)
            since = last_seq(sandbox)
            if path == "window":
                with rig.ledger() as ledger:
                    result = sync_window(SyncRequest(
                        mapping=SOFT_MAPPING, warehouse=Warehouse(rig.warehouse), client=rig.client, store=rig.store,
                        start=DAY, end=DAY + timedelta(days=1), partition_key="2026-11-26", run_id="window", ledger=ledger))
                assert result.balanced(), result.counts()
            else:
                result, _ = rig.reconcile()
            sent = requests_of(sandbox, rig.tenant_id, since)
            assert [(r["method"], r["path"].rsplit("/", 1)[1]) for r in sent] == [("DELETE", "c7")], path
            assert not {k for k, r in rig.stored().items() if r["CustomerId"] == "c7"}, path
            c = result.counts()
            assert (c["records_deleted"], c["records_not_deletable"]) == (1, 0), path
            with rig.ledger() as ledger:  # Replenit holds neither address, and the ledger says so
                assert ledger.api_ids(["email:user7@example.com", "email:c7.new@example.com"]) == {}, path
        finally:
            rig.client.close()
