"""A customer who changed email, reconciled with --mirror: the ledger still holds the old address
(acknowledged before the change, under the same CustomerId) and no row has it any more. The API
deletes a customer by CustomerId, which the live customer of the new address has too: a DELETE
would take that customer with it, while the ledger went on believing Replenit holds it (the next
runs find it unchanged and never send it again). Seen with examples/woocommerce: a user's new
email, then `sync customers --all --mirror`, and the tenant held no customer 40 at all.
Real sandbox, DuckDB warehouse and state store, SQLite ledger."""

from datetime import timedelta

from test_ledger_sync import customers
from test_reconcile import DAY, Rig


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
