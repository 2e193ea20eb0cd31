"""Review fixes on the warehouse reader and `replenit push` (each test failed before its fix)."""

import json
import math
from datetime import UTC, datetime, timedelta

import duckdb
import httpx
import pytest

from replenit_pipelines import cli
from replenit_pipelines.lib.delivery.config import ApiKey
from replenit_pipelines.lib.delivery.errors import DeliveryConfigError
from replenit_pipelines.lib.delivery.push import PushFileError, push_file
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict

D1 = datetime(2026, 11, 25, tzinfo=UTC)
D2 = D1 + timedelta(days=1)
DAY = timedelta(days=1)




# --- 1: customers are read whole, so an older window never sends an older version ----------------

@pytest.mark.parametrize("customer_id", ["id", None], ids=["by CustomerId", "by Email"])
def test_rerunning_an_older_window_of_a_versioned_customers_table_keeps_the_newest_version(
        customer_id, tmp_path, sandbox, client, records_in_sandbox):
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE customers (id VARCHAR, email VARCHAR, name VARCHAR, updated_at TIMESTAMPTZ)")
        con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", [
            ("c1", "ada@example.com", "Ada (D1)", D1 + timedelta(hours=3)),
            ("c1", "ada@example.com", "Ada (D2)", D2 + timedelta(hours=3)),  # append-only: a newer version
        ])
    fields = {"Email": "email", "Name": "name"} | ({"CustomerId": customer_id} if customer_id else {})
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "customers"}, "fields": fields})
    wh, store = Warehouse(db), DuckDBStateStore(tmp_path / "state.duckdb")
    for i, day in enumerate((D2, D1)):  # D2's run, then a backfill (or retry) of D1
        result = sync_window(SyncRequest(mapping=mapping, warehouse=wh, client=client, store=store, start=day,
                                         end=day + DAY, partition_key=day.strftime("%Y-%m-%d"), run_id=f"run-{i}"))
        assert result.balanced(), result.counts()
    stored = [r["record"] for r in records_in_sandbox(sandbox, client.tenant, "customers").values()]
    assert [r["Name"] for r in stored] == ["Ada (D2)"]


# --- 2: rows_without_window_value counts only rows no window reads --------------------------------

@pytest.mark.parametrize("kind", ["table", "query", "path"])
def test_a_null_window_row_of_a_record_read_whole_is_not_counted_as_never_read(kind, tmp_path):
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE order_lines (order_id VARCHAR, line_id INT, customer_id VARCHAR, currency VARCHAR, "
                    "product_id VARCHAR, qty INT, price DOUBLE, updated_at TIMESTAMPTZ)")
        con.executemany("INSERT INTO order_lines VALUES (?, ?, 'c1', 'EUR', ?, 1, 2.0, ?)", [
            ("o1", 1, "p1", D1 + timedelta(hours=12)),
            ("o1", 2, "p2", None),  # read with o1's other line: not "never read"
            ("o2", 1, "p1", None),  # o2 has no row with a window value: never read
            ("o2", 2, "p2", None),
            (None, 1, "p3", None),  # no key: never read
        ])
        con.execute(f"COPY order_lines TO '{tmp_path / 'order_lines.parquet'}' (FORMAT parquet)")
    source = {"table": {"table": "order_lines"}, "query": {"query": "SELECT * FROM order_lines"},
              "path": {"path": str(tmp_path / "order_lines.parquet")}}[kind]
    mapping = entity_mapping_from_dict("orders", {
        "source": {**source, "window_column": "updated_at"},
        "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency"},
        "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}}})
    wh = Warehouse(db)
    if kind != "query":  # (a query without $start/$end reads every row in every window)
        read = wh.read(mapping, D1, D1 + DAY)
        assert sorted(read["line_id"]) == [1, 2] and set(read["order_id"]) == {"o1"}
    assert wh.rows_without_window_value(mapping) == 3


# --- replenit push ---------------------------------------------------------------------------------



def push_records(capsys, tmp_path, entity: str, records: list, text: str | None = None) -> tuple[int, dict]:
    path = tmp_path / f"{entity}.ndjson"
    path.write_text(text if text is not None else "\n".join(json.dumps(r) for r in records))
    code = cli.main(["push", entity, str(path), "--json"])
    return code, json.loads(capsys.readouterr().out)


ORDER = {"OrderId": "o-ok", "CustomerId": "c1", "Currency": "EUR", "OrderDate": "2026-11-26T12:00:00Z",
         "TotalRevenue": 9.5, "OrderItems": [{"ProductId": "p1", "Quantity": 1, "Price": 9.5}]}


# --- 3: an order without TotalRevenue is refused (the API would store revenue 1) -------------------

def test_push_refuses_an_order_without_total_revenue_and_never_suggests_leaving_it_out(
        push_env, capsys, tmp_path, records_in_sandbox):
    no_total = {k: v for k, v in ORDER.items() if k != "TotalRevenue"} | {"OrderId": "o-none"}
    null_total = {**ORDER, "OrderId": "o-null", "TotalRevenue": None}
    nan_total = {**ORDER, "OrderId": "o-nan", "TotalRevenue": math.nan}
    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        code, summary = push_records(capsys, tmp_path, "orders", [ORDER, no_total, null_total, nan_total])
        stored = records_in_sandbox(sb, tenant_id, "orders")
    assert code == 0 and set(stored) == {"o-ok"}  # refused ones are reported, not failed (docs/cli.md)
    refused = {r["id"]: r["reasons"] for r in summary["not_accepted"]}
    assert set(refused) == {"o-none", "o-null", "o-nan"}
    for rid in ("o-none", "o-null"):
        assert len(refused[rid]) == 1 and refused[rid][0].startswith("TotalRevenue: missing")
        assert "revenue 1" in refused[rid][0]
    assert refused["o-nan"][0].startswith("TotalRevenue: not a finite number")
    assert not any("leave the field out" in r for reasons in refused.values() for r in reasons)


# --- 4: a property the contract does not have is refused, naming the field -------------------------

def test_push_refuses_unknown_and_miscased_fields_in_records_and_children(push_env, capsys, tmp_path, records_in_sandbox):
    lower_email = {"CustomerId": "c1", "email": "a@example.com"}
    typo = {"CustomerId": "c2", "Emial": "b@example.com"}
    good = {"CustomerId": "c3", "Email": "c@example.com"}
    bad_line = {**ORDER, "OrderId": "o-line", "OrderItems": [{"ProductId": "p1", "quantity": 1, "Quantity": 1, "Price": 9.5}]}
    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        code, customers = push_records(capsys, tmp_path, "customers", [lower_email, typo, good])
        code_orders, orders = push_records(capsys, tmp_path, "orders", [ORDER, bad_line])
        stored_customers = records_in_sandbox(sb, tenant_id, "customers")
        stored_orders = records_in_sandbox(sb, tenant_id, "orders")
    assert code == 0 and code_orders == 0  # refused, reported: exit 0 (docs/cli.md)
    assert [r["record"]["CustomerId"] for r in stored_customers.values()] == ["c3"]
    assert set(stored_orders) == {"o-ok"}
    refused = {r["id"]: r["reasons"] for r in customers["not_accepted"] + orders["not_accepted"]}
    assert refused["c1"] == ["email: not a field of Customer (did you mean Email?): the API matches property "
                             "names case-sensitively and would drop it"]
    assert refused["c2"][0].startswith("Emial: not a field of Customer (did you mean Email?)")
    assert refused["o-line"][0].startswith("OrderItems[0].quantity: not a field of OrderItems items (did you mean Quantity?)")
    with duckdb.connect(str(tmp_path / "state" / "state.duckdb"), read_only=True) as con:
        rules = con.sql("SELECT record_id, rule, field FROM quarantine ORDER BY record_id").fetchall()
    assert rules == [("c1", "unknown_field", "email"), ("c2", "unknown_field", "Emial"),
                     ("o-line", "unknown_field", "OrderItems[0].quantity")]


# --- 5: an integer beyond 64 bits refuses its record, it does not crash the push --------------------

def test_an_integer_beyond_64_bits_refuses_its_record_and_the_rest_is_sent(push_env, capsys, tmp_path, records_in_sandbox):
    big = 123456789012345678901234567890
    huge_price = {**ORDER, "OrderId": "o-big", "OrderItems": [{"ProductId": "p1", "Quantity": 1, "Price": big}]}
    later = [{**ORDER, "OrderId": f"o-{i}"} for i in range(3)]
    text = "\n".join([json.dumps(ORDER), json.dumps(huge_price), *map(json.dumps, later)])
    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        code, summary = push_records(capsys, tmp_path, "orders", [], text=text)
        stored = records_in_sandbox(sb, tenant_id, "orders")
    assert code == 0
    assert set(stored) == {"o-ok", "o-0", "o-1", "o-2"}
    [refused] = summary["not_accepted"]
    assert (refused["id"], refused["status"], refused["line"]) == ("o-big", "refused", 2)
    assert refused["reasons"][0].startswith("OrderItems[0].Price: an integer beyond 64 bits")
    assert summary["records_read"] == summary["accepted"] + summary["refused"] == 5


# --- 6: a malformed API key is refused by name, and a request that cannot be formed is not retried ---

@pytest.mark.parametrize("key", ["abc\ndef", "abc\u2019def", "abc def", "abc\tdef", "clé"])
def test_an_api_key_an_http_header_cannot_carry_is_refused_naming_the_setting(key):
    with pytest.raises(DeliveryConfigError, match="REPLENIT_API_KEY") as caught:
        ApiKey(key)
    assert key not in str(caught.value)
    assert ApiKey(" abc-DEF_123.~ \n").reveal() == "abc-DEF_123.~"  # surrounding whitespace is still trimmed


def test_push_with_a_line_break_inside_the_key_exits_2_and_sends_nothing(push_env, capsys, tmp_path, monkeypatch):
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        key = "sk-12345\n67890"
        monkeypatch.setenv("REPLENIT_API_KEY", key)
        path = tmp_path / "c.ndjson"
        path.write_text(json.dumps({"CustomerId": "c1", "Email": "c1@example.com"}))
        code = cli.main(["push", "customers", str(path)])
        captured = capsys.readouterr()
        requests = len(httpx.get(f"{sb.url}/_sandbox/requests").json())
    assert code == 2 and requests == 0
    assert "REPLENIT_API_KEY" in captured.err and "67890" not in captured.out + captured.err


def test_a_request_that_cannot_be_formed_fails_at_once_without_retries(sandbox, client):
    # A key that slipped past ApiKey's check (set behind its back: nothing else can form such a request).
    client.config.api_key._value = "sk-12345\n67890"
    report = client.deliver("customers", [{"CustomerId": "c1", "Email": "c1@example.com"}])
    assert not report.accepted and len(report.failed) == 1
    [reason] = report.failed.values()
    assert "could not be formed" in reason and "67890" not in reason
    assert report.counters.requests == 1 and report.counters.retries == 0


# --- 7: a file replaced between the two passes is refused, not sent with the old scan's flags ------

def test_a_file_replaced_between_scan_and_send_with_as_many_records_is_refused(sandbox, client, tmp_path, records_in_sandbox):
    path = tmp_path / "c.ndjson"
    # The scan sees c1 twice (its first line superseded); the replacement has c1 and c2 once each,
    # same count and same size: sent with the scan's flags, its c1 line would be skipped.
    path.write_text('{"CustomerId":"c1","Email":"x1@example.com"}\n{"CustomerId":"c1","Email":"y1@example.com"}\n')
    replacement = '{"CustomerId":"c1","Email":"x1@example.com"}\n{"CustomerId":"c2","Email":"y2@example.com"}\n'

    def replace(scan):
        assert scan.records == 2 and scan.superseded == 1
        path.write_text(replacement)

    with pytest.raises(PushFileError, match="changed between the scan and the send"):
        push_file(client, "customers", path, "customerid", on_scanned=replace)
    assert records_in_sandbox(sandbox, client.tenant, "customers") == {}


# --- 8: a bad REPLENIT_CUSTOMER_PRIORITY fails the run, not the code location's loading ------------

def test_a_bad_customer_priority_lets_definitions_load_and_fails_the_run_saying_what_to_set(monkeypatch, tmp_path):
    import dagster as dg

    from replenit_pipelines.definitions import defs as load_defs

    monkeypatch.setenv("REPLENIT_CUSTOMER_PRIORITY", "phone")
    for k, v in {"REPLENIT_TENANT_ID": "00000000-0000-0000-0000-000000000000", "REPLENIT_API_KEY": "k",
                 "REPLENIT_STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(k, v)
    assert load_defs().resolve_job_def("Sync_customers_daily") is not None  # the code location loads
    with dg.instance_for_test() as instance:
        result = load_defs().resolve_job_def("Sync_customers_daily").execute_in_process(
            partition_key="2026-11-26", instance=instance, raise_on_error=False)
    assert not result.success
    failures = [str(e.event_specific_data.error) for e in result.all_events if e.is_failure and e.event_specific_data
                and getattr(e.event_specific_data, "error", None) is not None]
    assert any("REPLENIT_CUSTOMER_PRIORITY" in f and "'phone'" in f for f in failures), failures
