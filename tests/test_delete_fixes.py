"""Defects of the delete stage (issue 12) found in review, each over the real sandbox, real DuckDB
warehouses, real ledgers and, for the Dagster wiring, a real Dagster instance."""

from contextlib import closing
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import httpx
import pytest
from test_ledger_sync import customers
from test_reconcile import DAY, SOFT_MAPPING, Rig, last_seq, requests_of

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import content_hash, failures_to_queue, open_ledger
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.stages.delete import DeleteGuard, DeletePlan, check_guard
from replenit_pipelines.lib.sync import StateStore, SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict

BASE_URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def queue_old_version(ledger, customer: str, email: str) -> None:
    """A failed delivery of an older version of the customer, waiting in the retry queue."""
    payload = f'{{"CustomerId":"{customer}","Email":"{email}","Name":"An old name"}}'.encode()
    ledger.queue_failures(failures_to_queue([f"email:{email}"], [payload], [content_hash(payload)], ["failed"],
                                            ["HTTP 503"], "an-earlier-run"))


def window_sync(rig: Rig, mapping=None, start: datetime = DAY, run_id: str = "window", **kw):
    with rig.ledger() as ledger:
        result = sync_window(SyncRequest(
            mapping=mapping or rig.mapping, warehouse=Warehouse(rig.warehouse), client=rig.client, store=rig.store,
            start=start, end=start + timedelta(days=1), partition_key=start.strftime("%Y-%m-%d"), run_id=run_id,
            ledger=ledger, **kw))
    assert result.balanced(), result.counts()
    return result


@pytest.fixture
def rig(sandbox, tmp_path):
    r = Rig(sandbox, tmp_path)
    yield r
    r.client.close()


# --- 1. a reconciliation never leaves a payload queued that would bring back what it deleted ------

def test_forget_takes_the_identity_out_of_the_retry_queue(tmp_path, state_backend):
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        ledger.acknowledge(["email:a@example.com"], [b"h" * 16], "r1")
        queue_old_version(ledger, "c1", "a@example.com")
        queue_old_version(ledger, "c2", "b@example.com")
        ledger.forget(["email:a@example.com"])
        assert ledger.queued()["identity"].to_list() == ["email:b@example.com"]


def test_a_record_a_mirror_reconciliation_deleted_is_not_re_sent_by_the_next_sync(rig):
    rows = customers(50)
    rig.load(rows)
    rig.reconcile()
    with rig.ledger() as ledger:  # a later version of c5 failed to deliver and waits in the queue
        queue_old_version(ledger, "c5", "user5@example.com")
    rig.load([r for r in rows if r["id"] != "c5"])
    result, sent = rig.reconcile(mirror=True)
    assert [(r["method"], r["path"].rsplit("/", 1)[1]) for r in sent] == [("DELETE", "c5")]
    assert result.counts()["records_deleted"] == 1
    since = last_seq(rig.sandbox)
    window_sync(rig)  # the hourly/daily sync after it
    assert requests_of(rig.sandbox, rig.tenant_id, since) == []
    assert "email:user5@example.com" not in rig.stored()


def test_a_queued_payload_of_a_record_now_quarantined_is_dropped_by_reconciliation(rig):
    rows = customers(50)
    rig.load(rows)
    rig.reconcile()
    with rig.ledger() as ledger:
        queue_old_version(ledger, "c6", "user6@example.com")
    rows[6]["locale"] = "not a language tag at all"  # the warehouse's version is now invalid
    rig.load(rows)
    result, sent = rig.reconcile()
    assert sent == [] and result.counts()["rows_quarantined"] == 1
    since = last_seq(rig.sandbox)
    window_sync(rig, start=DAY + timedelta(days=1))  # a window without c6: its queue entry is not deferred to it
    assert requests_of(rig.sandbox, rig.tenant_id, since) == []
    assert rig.stored()["email:user6@example.com"]["Name"] == "User 6"  # never overwritten by the old payload


# --- 2. a customer's newest row is by time, not by the text of a converted window column ----------

def test_the_newest_row_of_a_text_epoch_window_column_decides_a_soft_delete(sandbox, tmp_path):
    mapping = entity_mapping_from_dict("customers", {
        "source": {"table": "customers", "window_column": {"column": "updated", "format": "epoch_s"}, "deleted_column": "deleted"},
        "fields": {"CustomerId": "id", "Email": "email", "Name": "name"},
    })
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    day = datetime(2001, 9, 9, tzinfo=UTC)  # 999999999 and 1000000000 are both 2001-09-09 (01:46:39, 01:46:40)
    live = {"id": "c1", "email": "jane@example.com", "name": "Jane", "updated": "1000000000", "deleted": False}
    rig.load([live])
    window_sync(rig, start=day, run_id="first")
    assert "email:jane@example.com" in rig.stored()
    rig.load([{**live, "updated": "999999999", "deleted": True}, live])  # an older version flagged deleted arrives late
    since = last_seq(sandbox)
    result = window_sync(rig, start=day, run_id="second", delete_guard=DeleteGuard(max_share=1.0))  # the guard is not what decides
    assert [r["method"] for r in requests_of(sandbox, rig.tenant_id, since)] == []
    assert "email:jane@example.com" in rig.stored()
    assert (result.counts()["records_to_delete"], result.counts()["rows_unchanged"]) == (0, 1)
    rig.client.close()


# --- 3. deletes that fail or cannot be made are dead-lettered and fail delivery_complete --------

def run_row(store: StateStore, run_id: str) -> dict:
    rows = store.query("SELECT * FROM sync_runs WHERE run_id = ?", [run_id]).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_a_customer_known_only_by_email_is_dead_lettered_not_counted_deleted(sandbox, tmp_path):
    from replenit_pipelines.component.checks import delivery_complete_check

    rig = Rig(sandbox, tmp_path, mapping=SOFT_MAPPING)
    rows = [{**r, "deleted_at": None} for r in customers(40)]
    rows[3]["id"] = None  # no CustomerId: the tenant knows it by email alone
    rig.load(rows)
    window_sync(rig, run_id="first")
    rows[3]["deleted_at"] = datetime(2026, 11, 26, 15)
    rig.load(rows)
    since = last_seq(sandbox)
    result = window_sync(rig, run_id="second")
    assert requests_of(sandbox, rig.tenant_id, since) == []  # nothing the API could be told
    c = result.counts()
    assert (c["rows_deleted"], c["rows_dead_lettered"], c["records_not_deletable"]) == (0, 1, 1)
    letters = rig.store.query("SELECT record_id, status, reasons FROM dead_letters WHERE run_id = 'second'").to_dicts()
    assert [(d["record_id"], d["status"]) for d in letters] == [("email:user3@example.com", "not_deletable")]
    assert "no CustomerId to delete by" in letters[0]["reasons"][0]
    assert run_row(rig.store, "second")["outcome"] == "failed"
    check = delivery_complete_check(result, "second")
    assert not check.passed and "cannot be deleted" in (check.description or "")
    rig.client.close()


def test_a_delete_that_fails_after_retries_fails_the_run_and_its_check(tmp_path):
    from replenit_pipelines.component.checks import delivery_complete_check

    with Sandbox(limits=[]) as broken:
        rig = Rig(broken, tmp_path, mapping=SOFT_MAPPING)
        rig.client.close()
        rig.client = ReplenitClient(ClientConfig(base_url=broken.url, tenant_id=rig.tenant_id, api_key=rig.key, limits=(),
                                                 quota_dir=str(rig.quota_dir), max_attempts=2, backoff_base_s=0.01,
                                                 backoff_cap_s=0.02))
        rows = [{**r, "deleted_at": None} for r in customers(40)]
        rig.load(rows)
        window_sync(rig, run_id="first")
        rows[7]["deleted_at"] = datetime(2026, 11, 26, 15)
        rig.load(rows)
        httpx.post(f"{broken.url}/_sandbox/config", json={"faults": {"p500": 1.0}}).raise_for_status()
        result = window_sync(rig, run_id="second")
        c = result.counts()
        assert (c["records_delete_failed"], c["rows_deleted"], c["rows_dead_lettered"]) == (1, 0, 1)
        assert run_row(rig.store, "second")["outcome"] == "failed"
        letters = rig.store.query("SELECT record_id, status FROM dead_letters WHERE run_id = 'second'").to_dicts()
        assert letters == [{"record_id": "email:user7@example.com", "status": "delete_failed"}]
        check = delivery_complete_check(result, "second")
        assert not check.passed and "failed after retries" in (check.description or "")
        with rig.ledger() as ledger:  # still held: a later run deletes it
            assert ledger.api_ids(["email:user7@example.com"]) == {"email:user7@example.com": "c7"}
        rig.client.close()


# --- 5. a refusal names identities masked ---------------------------------------------------------

def test_a_refusal_masks_the_identities_it_names():
    plan = DeletePlan("customers", ledger_size=10)
    plan.identities = ["email:jane@x.com", "customerid:CUST-000123", "phone:+447700900123"]
    plan.api_ids, plan.reasons = ["c1", "c9", "c3"], ["absent"] * 3
    message = check_guard(plan, DeleteGuard(max_share=0.05), 10, True, "max_delete_share: {share:.2f}")
    assert message is not None
    assert "jane@x.com" not in message and "email:j***@x.com" in message
    assert "CUST-000123" not in message and "customerid:C***3" in message  # a customer's id is masked too (issue 21)
    assert "7700900" not in message


# --- 6. reconcile and replay: their own pools, not the key's syncs' (issue 24) ------------------------

def test_the_reconcile_and_replay_ops_have_pools_of_their_own_and_the_syncs_none(monkeypatch):
    """One reconciliation of an entity at a time, one replay at a time; none shares a pool with the
    key's syncs (which are in none): the quota's lanes order their requests instead."""
    from replenit_pipelines.definitions import defs
    from replenit_pipelines.lib.settings import Settings

    monkeypatch.setenv("REPLENIT_KEY_NAME", "shop-eu")
    pool = Settings.from_env().pool_name
    d = defs()
    expected = {"reconcile_customers": f"{pool}-reconcile_customers", "reconcile_orders": f"{pool}-reconcile_orders",
                "reconcile_products": f"{pool}-reconcile_products", "replay_queued": f"{pool}-replay"}
    for job, job_pool in expected.items():
        ops = d.resolve_job_def(job).graph.node_defs
        assert [op.pool for op in ops] == [job_pool], job
    graph = d.get_repository_def().asset_graph
    for name in ("customers", "customers_intraday", "products", "orders"):
        node = graph.get(dg.AssetKey(["replenit", name]))
        assert node.pools == set() and node.tags["replenit/key"] == pool, name


# --- 4. the sync assets' delete guard, from run config; a refusal never holds up the hour's orders --

MAPPING = """
timezone: UTC
customers:
  source: {table: customers, window_column: updated_at, deleted_column: deleted}
  fields: {CustomerId: customer_id, Email: email, Name: first_name}
products:
  source: {table: product_variants, window_column: updated_at}
  fields: {ProductId: product_id, ProductName: product_name}
  ProductVariants:
    fields: {VariantId: variant_id, SalePrice: sale_price, Currency: currency}
orders:
  source: {table: order_lines, window_column: updated_at}
  fields: {OrderId: order_id, CustomerId: customer_id, Currency: currency, OrderDate: ordered_at, Status: status}
  OrderItems:
    key: line_id
    fields: {ProductId: product_id, Quantity: quantity, Price: unit_price}
"""


def test_the_intraday_delete_guard_is_raised_by_run_config_and_a_refusal_does_not_hold_up_orders(sandbox, tmp_path, monkeypatch):
    from replenit_pipelines.definitions import defs

    db = tmp_path / "wh.duckdb"
    people = [(f"c{i}", f"user{i}@example.com", f"User {i}", datetime(2026, 11, 26, 8, i), False) for i in range(10)]
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE customers (customer_id VARCHAR, email VARCHAR, first_name VARCHAR, updated_at TIMESTAMP, "
                    "deleted BOOLEAN)")
        con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", people)
        con.execute("CREATE TABLE product_variants (product_id VARCHAR, product_name VARCHAR, variant_id VARCHAR, "
                    "sale_price DOUBLE, currency VARCHAR, updated_at TIMESTAMP)")
        con.execute("INSERT INTO product_variants VALUES ('p1', 'Kettle', 'v1', 19.99, 'EUR', '2026-11-26 14:05:00')")
        con.execute("CREATE TABLE order_lines (order_id VARCHAR, customer_id VARCHAR, currency VARCHAR, ordered_at VARCHAR, "
                    "status VARCHAR, line_id VARCHAR, product_id VARCHAR, quantity INTEGER, unit_price DOUBLE, updated_at TIMESTAMP)")
        con.execute("INSERT INTO order_lines VALUES ('o1', 'c8', 'EUR', '2026-11-26T14:30:00Z', 'completed', 'o1-1', 'p1', "
                    "1, 19.99, '2026-11-26 14:10:00')")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    tenant_id, key = sandbox.add_tenant()
    for k, v in {"REPLENIT_BASE_URL": sandbox.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key,
                 "REPLENIT_WAREHOUSE": str(db), "REPLENIT_MAPPING": str(mapping),
                 "REPLENIT_STATE_DIR": str(tmp_path / "state"), "REPLENIT_KEY_NAME": "test"}.items():
        monkeypatch.setenv(k, v)

    def stored(entity: str) -> set[str]:
        return {r["key"] for r in httpx.get(f"{sandbox.url}/_sandbox/records/{tenant_id}/{entity}").json()}

    d = defs()
    with dg.instance_for_test() as instance:
        assert d.resolve_job_def("Sync_customers_daily").execute_in_process(
            partition_key="2026-11-26", instance=instance, raise_on_error=False).success
        assert len(stored("customers")) == 10
        with duckdb.connect(str(db)) as con:  # half the customers flagged deleted in the 14:00 hour: over the 5% guard
            con.execute("UPDATE customers SET deleted = true, updated_at = TIMESTAMP '2026-11-26 14:20:00' "
                        "WHERE customer_id IN ('c0', 'c1', 'c2', 'c3', 'c4')")
        hourly = d.resolve_job_def("Sync_products_and_orders_hourly")
        refused = hourly.execute_in_process(partition_key="2026-11-26-14:00", instance=instance, raise_on_error=False)
        assert refused.success, [e.message for e in refused.all_events if e.is_failure]
        assert "o1" in stored("orders") and len(stored("customers")) == 10  # orders went; nothing deleted
        checks = {(e.asset_check_evaluation_data.asset_key.path[1], e.asset_check_evaluation_data.check_name):
                  e.asset_check_evaluation_data for e in refused.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
        check = checks[("customers_intraday", "delivery_complete")]
        assert not check.passed
        assert "max_delete_share" in (check.description or "") and "nothing was sent" in (check.description or "")
        allowed = hourly.execute_in_process(
            partition_key="2026-11-26-14:00", instance=instance, raise_on_error=False,
            run_config={"ops": {"replenit__customers_intraday": {"config": {"max_delete_share": 0.6}}}})
        assert allowed.success
        assert stored("customers") == {f"email:user{i}@example.com" for i in range(5, 10)}


# --- issue 21 item 6: one rule for the id a DELETE takes, on both paths ---------------------------

EMAIL_ONLY_MAPPING = entity_mapping_from_dict("customers", {
    "source": {"table": "customers", "window_column": "updated_at", "deleted_column": "deleted_at"},
    "fields": {"Email": "email", "Name": "name"},
})


@pytest.mark.parametrize("path", ["window", "reconcile"])
@pytest.mark.parametrize("mapping", [SOFT_MAPPING, EMAIL_ONLY_MAPPING], ids=["with-CustomerId", "email-only"])
def test_the_delete_id_is_the_customer_id_or_none_on_both_paths(rig, path, mapping):
    """DELETE /customers/{tenant}/{customerId} takes a CustomerId and nothing else: a customer sent
    without one is recorded with no delete id, and its later delete is dead-lettered as not
    deletable, never sent to its identity string (`email:...`)."""
    rows = [{**r, "deleted_at": None} for r in customers(20)]
    rig.load(rows)
    if path == "window":
        window_sync(rig, mapping=mapping, run_id="first")
    else:
        rig.reconcile(mapping=mapping)
    with_id = mapping is SOFT_MAPPING
    with rig.ledger() as ledger:
        recorded = ledger.api_ids([f"email:user{i}@example.com" for i in range(20)])
    assert recorded == {f"email:user{i}@example.com": (f"c{i}" if with_id else None) for i in range(20)}
    rows[7]["deleted_at"] = datetime(2026, 11, 26, 15)
    rig.load(rows)
    since = last_seq(rig.sandbox)
    result = window_sync(rig, mapping=mapping, run_id="second")
    deletes = [r for r in requests_of(rig.sandbox, rig.tenant_id, since) if r["method"] == "DELETE"]
    if with_id:
        assert [r["path"].rsplit("/", 1)[1] for r in deletes] == ["c7"]
        assert result.counts()["records_deleted"] == 1
    else:
        assert deletes == [] and result.counts()["records_not_deletable"] == 1
