"""Dagster runs that go wrong on purpose, and one whose result is checked against records written
by hand (not against the pipeline's own read/prepare output).

A small warehouse is built here row by row, so every expected count and record below is known
without running any of the project's code.
"""

from datetime import UTC, datetime

import dagster as dg
import duckdb
import httpx
import pytest
from helpers import metadata_of

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping

DAY = "2026-11-26"
HOUR = "2026-11-26-14:00"

MAPPING = """
timezone: UTC
customers:
  source: {table: customers, window_column: updated_at}
  fields: {CustomerId: customer_id, Email: email, Name: first_name, Language: locale, GdprOptin: gdpr}
products:
  source: {table: product_variants, window_column: updated_at}
  fields: {ProductId: product_id, ProductName: product_name}
  ProductVariants:
    fields: {VariantId: variant_id, SalePrice: sale_price, Currency: currency, ProductUrl: url}
orders:
  source: {table: order_lines, window_column: updated_at}
  fields: {OrderId: order_id, CustomerId: customer_id, Currency: currency, OrderDate: ordered_at, Status: status}
  OrderItems:
    key: line_id
    fields: {ProductId: product_id, Quantity: quantity, Price: unit_price}
"""

CUSTOMERS = [  # customer_id, email, first_name, locale, gdpr, updated_at
    ("c1", "ada@example.com", "Ada", "en-GB", True, datetime(2026, 11, 26, 8)),
    ("c2", " bob@example.org ", "Bob", "pt_br", False, datetime(2026, 11, 26, 9)),  # trimmed; pt-BR
    ("c3", "not-an-email", "Cy", "de", None, datetime(2026, 11, 26, 10)),  # quarantined
    ("c4", "ada@example.com", "Ada Old", "en", True, datetime(2026, 11, 26, 7)),  # merged into c1 (one address)
    ("c6", "zed@example.com", "Zed", "zh-hant-tw", None, datetime(2026, 11, 26, 23, 59, 59)),  # zh-Hant-TW
    ("c5", "eve@example.net", "Eve", None, None, datetime(2026, 11, 27, 0, 0)),  # the next day's
]
ORDER_LINES = [  # order_id, customer_id, currency, ordered_at, status, line_id, product_id, quantity, unit_price, updated_at
    ("o1", "c1", "EUR", "2026-11-26T15:30:00+01:00", "completed", "o1-1", "p1", 2, 9.5, datetime(2026, 11, 26, 14, 10)),
    ("o1", "c1", "EUR", "2026-11-26T15:30:00+01:00", "completed", "o1-2", "p2", 1, 3.25, datetime(2026, 11, 26, 14, 10)),
    ("o2", "c2", "XPT", "2026-11-26T14:00:00Z", "completed", "o2-1", "p1", 1, 1.0, datetime(2026, 11, 26, 14, 20)),  # platinum
    ("o3", "c2", "GBP", "2026-11-26T16:00:00Z", "completed", "o3-1", "p1", 1, 1.0, datetime(2026, 11, 26, 15, 0)),  # next hour
]
VARIANTS = [  # product_id, product_name, variant_id, sale_price, currency, url, updated_at
    ("p1", "Kettle", "v1", 19.99, "EUR", "https://shop.example/p1", datetime(2026, 11, 26, 14, 5)),
    ("p2", "Mug", "v2", 3.25, "EUR", "https://shop.example/p2?c=blue", datetime(2026, 11, 26, 14, 59, 59)),
]

# What Replenit must hold after the day's and the hour's syncs, written by hand from the rows above.
EXPECTED_CUSTOMERS = {
    "email:ada@example.com": {"CustomerId": "c1", "Email": "ada@example.com", "Name": "Ada", "Language": "en-GB",
                              "GdprOptin": True},
    "email:bob@example.org": {"CustomerId": "c2", "Email": "bob@example.org", "Name": "Bob", "Language": "pt-BR",
                              "GdprOptin": False},
    "email:zed@example.com": {"CustomerId": "c6", "Email": "zed@example.com", "Name": "Zed", "Language": "zh-Hant-TW"},
}
EXPECTED_ORDERS = {
    "o1": {"OrderId": "o1", "CustomerId": "c1", "Currency": "EUR", "OrderDate": "2026-11-26T14:30:00.000Z",
           "Status": "completed", "TotalRevenue": 22.25, "TotalQuantity": 3, "UniqueQuantity": 2,
           "OrderItems": [{"ProductId": "p1", "Quantity": 2, "Price": 9.5}, {"ProductId": "p2", "Quantity": 1, "Price": 3.25}]},
}
EXPECTED_PRODUCTS = {
    "p1": {"ProductId": "p1", "ProductName": "Kettle",
           "ProductVariants": [{"VariantId": "v1", "SalePrice": 19.99, "Currency": "EUR", "ProductUrl": "https://shop.example/p1"}]},
    "p2": {"ProductId": "p2", "ProductName": "Mug",
           "ProductVariants": [{"VariantId": "v2", "SalePrice": 3.25, "Currency": "EUR", "ProductUrl": "https://shop.example/p2?c=blue"}]},
}


@pytest.fixture
def small_warehouse(tmp_path):
    db = tmp_path / "small.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE customers (customer_id VARCHAR, email VARCHAR, first_name VARCHAR, locale VARCHAR, "
                    "gdpr BOOLEAN, updated_at TIMESTAMP)")
        con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", CUSTOMERS)
        con.execute("CREATE TABLE order_lines (order_id VARCHAR, customer_id VARCHAR, currency VARCHAR, ordered_at VARCHAR, "
                    "status VARCHAR, line_id VARCHAR, product_id VARCHAR, quantity INTEGER, unit_price DOUBLE, "
                    "updated_at TIMESTAMP)")
        con.executemany("INSERT INTO order_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ORDER_LINES)
        con.execute("CREATE TABLE product_variants (product_id VARCHAR, product_name VARCHAR, variant_id VARCHAR, "
                    "sale_price DOUBLE, currency VARCHAR, url VARCHAR, updated_at TIMESTAMP)")
        con.executemany("INSERT INTO product_variants VALUES (?, ?, ?, ?, ?, ?, ?)", VARIANTS)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    return db, mapping


@pytest.fixture
def env(sandbox, small_warehouse, tmp_path, monkeypatch):
    db, mapping = small_warehouse
    tenant_id, key = sandbox.add_tenant()
    values = {"REPLENIT_BASE_URL": sandbox.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key,
              "REPLENIT_WAREHOUSE": str(db), "REPLENIT_MAPPING": str(mapping),
              "REPLENIT_STATE_DIR": str(tmp_path / "state"), "REPLENIT_KEY_NAME": "test"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def load_defs():
    from replenit_pipelines.definitions import defs as load

    return load()


def run_job(name, partition, instance, run_config=None):
    return load_defs().resolve_job_def(name).execute_in_process(
        partition_key=partition, instance=instance, raise_on_error=False, run_config=run_config)


def present(value):
    """A record as the API reads it: a null field is absent (the pipeline sends unmapped-null as null)."""
    if isinstance(value, dict):
        return {k: present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [present(v) for v in value]
    return value


def stored(sandbox_url, tenant_id, entity) -> dict[str, dict]:
    records = httpx.get(f"{sandbox_url}/_sandbox/records/{tenant_id}/{entity}").json()
    return {r["key"]: present(r["record"]) for r in records}


def checks_of(result, entity) -> dict:
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.asset_check_evaluation_data.asset_key.path[1] == entity}


def sync_run_row(env, run_id, entity="customers") -> dict:
    store = DuckDBStateStore(f"{env['REPLENIT_STATE_DIR']}/state.duckdb")
    rows = store.query("SELECT * FROM sync_runs WHERE run_id = ? AND entity = ?", [run_id, entity]).to_dicts()
    assert len(rows) == 1
    return rows[0]


def closes(row: dict) -> bool:
    return row["rows_read"] == (row["rows_delivered"] + row["rows_quarantined"] + row["rows_superseded"]
                                + row["rows_unchanged"] + row["rows_dead_lettered"] + row["rows_held_back"])


# --- what the sandbox stored, against records written by hand ----------------------------------

def test_the_sandbox_holds_exactly_the_hand_written_records(sandbox, env, instance):
    day = run_job("Sync_customers_daily", DAY, instance)
    assert day.success
    hour = run_job("Sync_products_and_orders_hourly", HOUR, instance)
    assert hour.success  # o2 (XPT: platinum, not money) is quarantined, too few to hold the window back
    tenant = env["REPLENIT_TENANT_ID"]
    assert stored(sandbox.url, tenant, "customers") == EXPECTED_CUSTOMERS
    assert stored(sandbox.url, tenant, "products") == EXPECTED_PRODUCTS
    assert stored(sandbox.url, tenant, "orders") == EXPECTED_ORDERS
    (mat,) = day.asset_materializations_for_node("replenit__customers")
    md = metadata_of(mat)
    assert (md["rows_read"], md["rows_delivered"], md["rows_quarantined"], md["rows_superseded"]) == (5, 3, 1, 1)
    assert (md["rows_merged"], md["records_merged"]) == (1, 1)  # c4 shares c1's address: merged into c1, the newer


# --- runs that go wrong on purpose ---------------------------------------------------------------

ONE_ATTEMPT = {"resources": {"replenit": {"config": {
    "base_url": {"env": "REPLENIT_BASE_URL"}, "tenant_id": {"env": "REPLENIT_TENANT_ID"},
    "api_key": {"env": "REPLENIT_API_KEY"}, "limits": "off", "max_attempts": 1}}}}


def test_failed_records_are_dead_lettered_and_fail_delivery_complete(env, instance, monkeypatch):
    with Sandbox(limits=[], faults=FaultConfig(p500=1.0)) as broken:  # every request answers 500
        tenant_id, key = broken.add_tenant()
        monkeypatch.setenv("REPLENIT_BASE_URL", broken.url)
        monkeypatch.setenv("REPLENIT_TENANT_ID", tenant_id)
        monkeypatch.setenv("REPLENIT_API_KEY", key)
        result = run_job("Sync_customers_daily", DAY, instance, ONE_ATTEMPT)
        assert stored(broken.url, tenant_id, "customers") == {}
    assert not result.success
    checks = checks_of(result, "customers")
    assert checks["quarantine_share"].passed
    assert not checks["delivery_complete"].passed
    assert checks["delivery_complete"].metadata["records_failed"].value == 3
    assert "3 of 3 records not delivered: 3 failed after retries" in checks["delivery_complete"].description
    assert result.asset_materializations_for_node("replenit__customers") == []
    row = sync_run_row(env, result.run_id)
    assert row["outcome"] == "failed"
    assert (row["rows_read"], row["rows_delivered"], row["rows_quarantined"], row["rows_superseded"],
            row["rows_dead_lettered"]) == (5, 0, 1, 1, 3)
    assert closes(row)
    store = DuckDBStateStore(f"{env['REPLENIT_STATE_DIR']}/state.duckdb")
    dead = store.query("SELECT record_id, status, reasons, payload FROM dead_letters WHERE run_id = ? ORDER BY record_id",
                       [result.run_id]).to_dicts()
    assert [d["status"] for d in dead] == ["failed"] * 3
    assert all(d["reasons"] == ["HTTP 500; gave up after 1 attempts"] for d in dead)
    assert sorted('"CustomerId":"' + c + '"' in " ".join(d["payload"] for d in dead) for c in ("c1", "c2", "c6")) == [True] * 3


def test_a_held_back_window_sends_nothing_and_its_rows_are_counted(sandbox, env, instance):
    gate = {"ops": {"replenit__customers": {"config": {"gate": "fixed", "max_quarantine_share": 0.2,
                                                       "min_quarantined_rows": 1}}}}
    result = run_job("Sync_customers_daily", DAY, instance, gate)  # 1 of 4 considered rows: 25% > 20%
    assert not result.success
    checks = checks_of(result, "customers")
    assert not checks["quarantine_share"].passed and not checks["delivery_complete"].passed
    assert "Held back, nothing sent: 25.0% quarantined, fixed threshold 20.0%" in checks["quarantine_share"].description
    assert stored(sandbox.url, env["REPLENIT_TENANT_ID"], "customers") == {}
    row = sync_run_row(env, result.run_id)
    assert row["outcome"] == "held_back" and row["requests"] == 0
    assert (row["rows_read"], row["rows_delivered"], row["rows_held_back"], row["rows_quarantined"],
            row["rows_superseded"]) == (5, 0, 3, 1, 1)
    assert closes(row)


def test_row_count_far_from_the_recent_median_fails_its_check(env, instance):
    key = dg.AssetKey(["replenit", "customers"])
    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=day, metadata={"rows_read": 300}))
    result = run_job("Sync_customers_daily", DAY, instance)
    assert result.success  # a warning, not blocking
    check = checks_of(result, "customers")["row_count_in_range"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == ("5 rows read, far from the median 300 of the last 3 materializations (expected 100 to 900): "
                                 "check the source for a missing or a duplicated load.")
    # Within 3x of the median, it passes.
    for day in ("2026-11-23", "2026-11-24", "2026-11-25"):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=day, metadata={"rows_read": 12}))
    assert checks_of(run_job("Sync_customers_daily", DAY, instance), "customers")["row_count_in_range"].passed


def test_a_run_whose_accounting_does_not_close_fails(env, instance, monkeypatch):
    """Real code cannot lose a row on purpose, so the test (never production code) wraps the sync
    step and loses one of its delivered rows: the asset must refuse to materialize."""
    import replenit_pipelines.component.sync_asset as sync_asset

    real = sync_asset.sync_window

    def losing_a_row(*args, **kwargs):
        result = real(*args, **kwargs)
        result.rows_delivered -= 1
        return result

    monkeypatch.setattr(sync_asset, "sync_window", losing_a_row)
    result = run_job("Sync_customers_daily", DAY, instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "row accounting does not close for customers 2026-11-26" in str(failure.step_failure_data.error)
    assert result.asset_materializations_for_node("replenit__customers") == []


def test_rejected_records_are_dead_lettered_by_rows_with_the_apis_reasons(tmp_path, small_warehouse):
    """A record the API refuses although the pipeline found it valid (a stricter or newer API):
    the real sandbox follows the same contract, so a scripted transport plays the API here."""
    db, mapping_file = small_warehouse
    mapping = load_mapping(mapping_file)["orders"]

    def refuse_o1(request):
        import json

        records = json.loads(request.content)
        errors = {f"[{i}].OrderItems[1].Quantity": ["The field Quantity must be between 1 and 1000."]
                  for i, r in enumerate(records) if r["OrderId"] == "o1"}
        if errors:
            return httpx.Response(400, json={"title": "One or more validation errors occurred.", "status": 400, "errors": errors})
        return httpx.Response(200, json={"success": True})

    config = ClientConfig(base_url="http://127.0.0.1:9", tenant_id="0f8fad5b-d9cb-469f-a165-70867728950e",
                          api_key="a2V5", quota_dir=str(tmp_path / "quota"), limits=())
    store = DuckDBStateStore(tmp_path / "state.duckdb")
    with ReplenitClient(config, transport=httpx.MockTransport(refuse_o1)) as client:
        result = sync_window(SyncRequest(
            mapping=mapping, warehouse=Warehouse(db), client=client, store=store, start=datetime(2026, 11, 26, 14, tzinfo=UTC),
            end=datetime(2026, 11, 26, 15, tzinfo=UTC), partition_key=HOUR, run_id="run-1"))
    # o1 has two rows (lines); o2's one row is quarantined (XPT); nothing else is in the hour.
    assert (result.prepared.rows_read, result.rows_delivered, result.rows_dead_lettered) == (3, 0, 2)
    assert result.prepared.rows_quarantined == 1 and result.balanced()
    dead = store.query("SELECT record_id, status, reasons FROM dead_letters WHERE run_id = 'run-1'").to_dicts()
    assert dead == [{"record_id": "o1", "status": "rejected",
                     "reasons": ["OrderItems[1].Quantity: The field Quantity must be between 1 and 1000."]}]
    runs = store.query("SELECT outcome, rows_dead_lettered FROM sync_runs WHERE run_id = 'run-1'").to_dicts()
    assert runs == [{"outcome": "failed", "rows_dead_lettered": 2}]


def test_a_mistyped_email_column_fails_the_customers_run_naming_the_mapping_and_the_close_column(sandbox, env, instance):
    """A user's `Email: emial` (the column is `email`): the run fails before anything is sent with the
    mapping's one line (file, entity, column, `did you mean email?`), as for any other column, not a
    Polars ColumnNotFoundError from the look-up of customers sharing an address (extract.py)."""
    mapping = env["REPLENIT_MAPPING"]
    with open(mapping) as f:
        text = f.read()
    with open(mapping, "w") as f:
        f.write(text.replace("Email: email,", "Email: emial,"))
    before = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["requests"]  # the sandbox is shared with other tests
    result = run_job("Sync_customers_daily", DAY, instance)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    told = error.to_string() + "".join(c.to_string() for c in (error.cause, error.context) if c)
    assert f"{mapping}: customers maps column(s) emial that customers does not have" in told, told[-2000:]
    assert "emial: did you mean email?" in told
    assert "ColumnNotFoundError" not in told
    assert httpx.get(f"{sandbox.url}/_sandbox/stats").json()["requests"] == before
