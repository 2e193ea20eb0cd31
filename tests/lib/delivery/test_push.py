"""`replenit push` through the real CLI (in process) against the real sandbox over HTTP."""

import json
import math

import duckdb
import httpx
import pytest

from replenit_pipelines import cli
from replenit_pipelines.lib.delivery.config import ApiKey
from replenit_pipelines.lib.delivery.errors import DeliveryConfigError
from replenit_pipelines.lib.delivery.push import PushFileError, push_file
from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox


def push(capsys, *args: str) -> tuple[int, dict]:
    code = cli.main(["push", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def state(tmp_path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "state" / "state.duckdb"), read_only=True) as con:
        return con.sql(sql).fetchall()


# --- issue 8 item 2: one identity's versions reach the API in file order ----------------------------

@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_the_last_version_of_each_identity_is_stored_with_batches_in_flight(push_env, capsys, tmp_path, fmt, records_in_sandbox):
    # Latency per request makes batches in flight finish out of order, as on a real network.
    with Sandbox(limits=[], faults=FaultConfig(seed=3, latency_ms=(0.0, 25.0))) as sb:
        tenant_id = push_env(sb)
        lines = [{"CustomerId": f"c{i % 5}", "Email": f"c{i % 5}@example.com", "Name": f"version {i}"} for i in range(3000)]
        path = tmp_path / f"versions.{fmt}"
        path.write_text(json.dumps(lines) if fmt == "json" else "\n".join(json.dumps(r) for r in lines))
        code, summary = push(capsys, "customers", str(path), "--batch-size", "10")
        stored = records_in_sandbox(sb, tenant_id, "customers")
    assert code == 0
    last = {r["Email"]: r["Name"] for r in lines}
    assert {r["record"]["Email"]: r["record"]["Name"] for r in stored.values()} == last
    assert summary["superseded"] == 3000 - len(last) and summary["accepted"] == len(last)


def test_dedup_follows_the_tenant_customer_priority(push_env, capsys, tmp_path, records_in_sandbox):
    # Same email, two CustomerIds: one customer for an email-priority tenant, the newer row wins.
    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        rows = [{"CustomerId": "old", "Email": "Ada@Example.com", "Name": "older"},
                {"CustomerId": "new", "Email": "ada@example.com", "Name": "newer"}]
        path = tmp_path / "c.ndjson"
        path.write_text("\n".join(json.dumps(r) for r in rows))
        code, by_email = push(capsys, "customers", str(path))
        stored = [r["record"]["Name"] for r in records_in_sandbox(sb, tenant_id, "customers").values()]
        code2, by_id = push(capsys, "customers", str(path), "--customer-priority", "customerid")
    assert (code, by_email["superseded"], stored) == (0, 1, ["newer"])
    assert (code2, by_id["superseded"], by_id["accepted"]) == (0, 0, 2)


def test_superseded_versions_are_said_in_the_text_output(push_env, capsys, tmp_path):
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        path = tmp_path / "c.json"
        path.write_text(json.dumps([{"CustomerId": "c1", "Email": "c1@example.com", "Name": n} for n in "abc"]))
        assert cli.main(["push", "customers", str(path)]) == 0
    captured = capsys.readouterr()
    assert "2 of 3 records are older versions" in captured.err
    assert "superseded     2 records" in captured.out and "delivered      1 record\n" in captured.out


# --- issue 8 item 3: NaN and Infinity never become null ---------------------------------------------

def test_nan_and_infinity_are_refused_before_sending_with_record_and_field(push_env, capsys, tmp_path, records_in_sandbox):
    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        path = tmp_path / "orders.ndjson"
        order = {"OrderId": "ok", "CustomerId": "c1", "Currency": "EUR", "OrderDate": "2026-11-26T12:00:00Z",
                 "TotalRevenue": 9.5, "OrderItems": [{"ProductId": "p1", "Quantity": 1, "Price": 9.5}]}
        nan_total = {**order, "OrderId": "nan-total", "TotalRevenue": math.nan}
        inf_price = {**order, "OrderId": "inf-price", "OrderItems": [{"ProductId": "p1", "Quantity": 1, "Price": math.inf}]}
        minus_inf = {**order, "OrderId": "minus-inf",
                     "OrderItems": [{"ProductId": "p1", "Quantity": 1, "Price": 9.5, "OriginalPrice": -math.inf}]}
        path.write_text("\n".join(json.dumps(r) for r in (order, nan_total, inf_price, minus_inf)))  # NaN, Infinity, -Infinity
        assert "NaN" in path.read_text() and "-Infinity" in path.read_text()
        code, summary = push(capsys, "orders", str(path))
        stored = records_in_sandbox(sb, tenant_id, "orders")
        strict = cli.main(["push", "orders", str(path), "--strict", "--json"])
        capsys.readouterr()
    # Refused before sending (quarantined, each with its reason), every valid record delivered: 0;
    # --strict makes any refused record a failure (docs/cli.md, exit codes).
    assert (code, strict) == (0, 1)
    assert set(stored) == {"ok"}
    refused = {r["id"]: r for r in summary["not_accepted"]}
    assert set(refused) == {"nan-total", "inf-price", "minus-inf"}
    assert (refused["nan-total"]["index"], refused["nan-total"]["line"]) == (1, 2)
    assert refused["nan-total"]["reasons"][0].startswith("TotalRevenue: not a finite number")
    assert refused["inf-price"]["reasons"][0].startswith("OrderItems[0].Price: not a finite number")
    assert refused["minus-inf"]["reasons"][0].startswith("OrderItems[0].OriginalPrice: not a finite number")
    assert all(r["status"] == "refused" for r in refused.values())
    assert sorted(state(tmp_path, f"SELECT record_id, rule, field FROM quarantine WHERE run_id = '{summary['run_id']}'")) == [  # noqa: S608 - the run's own id
        ("inf-price", "finite", "OrderItems[0].Price"), ("minus-inf", "finite", "OrderItems[0].OriginalPrice"), ("nan-total", "finite", "TotalRevenue")]


# --- issue 9 item 4: push says what failed, and exits non-zero ----------------------------------------

def test_rejected_records_exit_non_zero_are_listed_and_dead_lettered(push_env, capsys, tmp_path, records_in_sandbox):
    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        good = [{"OrderId": f"o{i}", "CustomerId": f"c{i}", "Currency": "EUR", "TotalRevenue": 1.5} for i in range(5)]
        # Valid by the contract (every field known, within its limits), but its body is larger
        # than the API takes: the API answers 413.
        lines = [{"ProductId": f"p{i}", "ProductName": "x" * 200, "Quantity": 1} for i in range(22_000)]
        huge = {"OrderId": "huge", "CustomerId": "c9", "Currency": "EUR", "TotalRevenue": 1.5, "OrderItems": lines}
        path = tmp_path / "c.json"
        path.write_text(json.dumps([*good[:2], huge, *good[2:]]))
        code, summary = push(capsys, "orders", str(path))
        stored = records_in_sandbox(sb, tenant_id, "orders")
    assert code == 1
    assert (summary["accepted"], summary["rejected"], len(stored)) == (5, 1, 5)
    [listed] = summary["not_accepted"]
    assert (listed["index"], listed["id"], listed["status"]) == (2, "huge", "rejected")
    assert "413" in " ".join(listed["reasons"]) or "larger than" in " ".join(listed["reasons"])
    rows = state(tmp_path, "SELECT run_id, partition_key, record_id, status, length(payload), reasons FROM dead_letters")
    assert [(r[2], r[3]) for r in rows] == [("huge", "rejected")]
    assert rows[0][0] == summary["run_id"] and rows[0][1] == str(path) and rows[0][4] > 5_000_000
    assert rows[0][5] == listed["reasons"]  # the operator reads in the store why the API would not take it


def test_failed_records_exit_non_zero_are_listed_in_text_and_json(push_env, capsys, tmp_path):
    with Sandbox(limits=[], faults=FaultConfig(seed=1, p503=1.0)) as sb:
        push_env(sb)
        path = tmp_path / "c.ndjson"
        path.write_text(json.dumps({"CustomerId": "c1", "Email": "c1@example.com"}) + "\n")
        code = cli.main(["push", "customers", str(path)])
        text = capsys.readouterr().out
    assert code == 1
    assert "failed record 0 (line 1) id c1: HTTP 503" in text
    assert state(tmp_path, "SELECT record_id, status FROM dead_letters") == [("c1", "failed")]


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["push", "--help"])
    text = capsys.readouterr().out
    for code in ("0", "1", "2", "3"):
        assert f"\n  {code}  " in text


# --- issue 9 item 7: one line, naming the file and place, instead of a traceback --------------------

@pytest.mark.parametrize(("name", "content", "expected"), [
    ("numbers.json", "[1,2,3]", "numbers.json: record 0 (line 1) is a number, not an object"),
    ("deep.json", "[" + "[" * 100_000 + "]" * 100_000 + "]", "deep.json: record 0 (line 1, column 2) is nested too deeply"),
    ("deep.ndjson", '{"a": 1}\n' + "[" * 100_000 + "]" * 100_000 + "\n", "deep.ndjson: line 2 is nested too deeply"),
    ("broken.ndjson", '{"CustomerId": "a"}\n\n{"CustomerId": "b"}\n{"CustomerId": "c",, }\n',
     "broken.ndjson: line 4, column 20: not valid JSON"),
    ("broken.json", '[\n {"CustomerId": "a"},\n {"CustomerId": "b" "Email": "x"}\n]', "broken.json: line 3, column 21 (record 1): not valid JSON"),
    ("object.json", '{"CustomerId": "a"}', "object.json: line 1, column 1: expected a JSON array of records, got one object"),
    ("trailing.json", '[{"CustomerId": "a"},\n]', "trailing.json: line 2, column 1: a comma before ]"),
])
def test_a_file_that_is_not_records_gets_one_line(push_env, capsys, tmp_path, name, content, expected):
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        path = tmp_path / name
        path.write_text(content)
        code = cli.main(["push", "customers", str(path)])
        requests = httpx.get(f"{sb.url}/_sandbox/requests").json()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("replenit: " + str(tmp_path)) and expected in err
    assert "Traceback" not in err and requests == []


def test_ndjson_with_a_line_separator_inside_a_string_is_valid(push_env, capsys, tmp_path, records_in_sandbox):
    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        path = tmp_path / "c.ndjson"
        rows = [{"CustomerId": "c1", "Email": "c1@example.com", "Name": "Ada\u2028Lovelace"},
                {"CustomerId": "c2", "Email": "c2@example.com", "Name": "Grace\u2029Hopper"}]
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
        code, summary = push(capsys, "customers", str(path))
        stored = records_in_sandbox(sb, tenant_id, "customers")
    assert (code, summary["accepted"]) == (0, 2)
    assert sorted(r["record"]["Name"] for r in stored.values()) == ["Ada\u2028Lovelace", "Grace\u2029Hopper"]


def test_parquet_is_pushed_by_batches(push_env, capsys, tmp_path, records_in_sandbox):
    import polars as pl

    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        rows = [{"CustomerId": f"c{i % 700}", "Email": f"c{i % 700}@example.com", "Name": f"v{i}"} for i in range(25_000)]
        path = tmp_path / "c.parquet"
        pl.DataFrame(rows).write_parquet(path, row_group_size=3_000)
        code, summary = push(capsys, "customers", str(path))
        stored = records_in_sandbox(sb, tenant_id, "customers")
    assert (code, summary["superseded"], summary["accepted"]) == (0, 25_000 - 700, 700)
    assert {r["record"]["Email"]: r["record"]["Name"] for r in stored.values()} == {r["Email"]: r["Name"] for r in rows}


def test_a_refused_key_stops_the_push_with_exit_3(push_env, capsys, tmp_path, monkeypatch):
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        monkeypatch.setenv("REPLENIT_API_KEY", "not-the-key")
        path = tmp_path / "c.ndjson"
        path.write_text("\n".join(json.dumps({"CustomerId": f"c{i}", "Email": f"c{i}@example.com"}) for i in range(1200)))
        code, summary = push(capsys, "customers", str(path))
        requests = httpx.get(f"{sb.url}/_sandbox/requests").json()
    assert code == 3 and len(requests) == 1
    assert summary["records_read"] == 1200 and summary["accepted"] == 0
    assert summary["failed"] + summary["not_sent"] == 1200


@pytest.mark.parametrize(("name", "content"), [("empty.json", "[]"), ("empty.ndjson", "\n\n")])
def test_an_empty_file_sends_nothing(push_env, capsys, tmp_path, name, content):
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        path = tmp_path / name
        path.write_text(content)
        code, summary = push(capsys, "customers", str(path))
    assert (code, summary["records_read"], summary["requests"]) == (0, 0, 0)


def test_last_version_survives_64_bit_digest_collisions():
    """Identities sharing the first 64 bits of their digest stay apart: the last 32 bits decide."""
    import numpy as np

    from replenit_pipelines.lib.delivery.push_scan import last_of_each

    rng = np.random.default_rng(7)
    for _ in range(300):
        ids = rng.integers(0, int(rng.integers(1, 9)), int(rng.integers(1, 80)))
        got = last_of_each((ids % 3).astype(np.uint64), ids.astype(np.uint32))  # ids 0 and 3 share 64 bits
        last = {int(v): i for i, v in enumerate(ids)}
        assert sorted(np.flatnonzero(got).tolist()) == sorted(last.values())


def test_nan_in_a_parquet_file_is_refused_not_sent_as_null(push_env, capsys, tmp_path, records_in_sandbox):
    import polars as pl

    with Sandbox(limits=[]) as sb:
        tenant_id = push_env(sb)
        path = tmp_path / "p.parquet"
        pl.DataFrame({"ProductId": ["ok", "nan"], "ProductName": ["Mug", "Cup"], "ProductVariants": [
            [{"VariantId": "v1", "SalePrice": 9.5, "Currency": "EUR"}], [{"VariantId": "v2", "SalePrice": math.nan, "Currency": "EUR"}],
        ]}).write_parquet(path)
        code, summary = push(capsys, "products", str(path))
        stored = records_in_sandbox(sb, tenant_id, "products")
    assert code == 0 and set(stored) == {"ok"}  # refused (quarantined) and reported, not failed
    [refused] = summary["not_accepted"]
    assert (refused["index"], refused["id"]) == (1, "nan")
    assert refused["reasons"] == ["ProductVariants[0].SalePrice: not a finite number (NaN or Infinity): write a number, or leave the field out"]


# --- Review fixes on push and the client (each failed before its fix) ---

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



def test_an_unknown_field_like_no_field_of_the_contract_is_refused_with_the_entitys_fields(push_env, capsys, tmp_path, sandbox):
    push_env(sandbox)
    code, summary = push_records(capsys, tmp_path, "customers", [{"CustomerId": "c1", "LoyaltyTier": "gold"}])
    assert code == 0
    assert [r["reasons"] for r in summary["not_accepted"]] == [[
        "LoyaltyTier: not a field of Customer (its fields: CustomerId, Email, EmailOptin, GdprOptin, Language, Name, "
        "Phone, SmsOptin, Surname, WhatsappOptin): the API matches property names case-sensitively and would drop it"]]


def test_the_json_summary_names_every_counter_of_the_push_and_its_delivery(push_env, capsys, tmp_path, sandbox):
    push_env(sandbox)
    records = [{"CustomerId": "c1", "Email": "a@example.com"}, {"CustomerId": "c2", "Email": "not an e-mail"},
               {"CustomerId": "c3"}, {"CustomerId": "c4", "Name": "Ada"}]
    code, summary = push_records(capsys, tmp_path, "customers", records)
    assert code == 0  # a refused record is reported, not failed (docs/cli.md)
    timings = {"quota_wait_s", "backoff_wait_s", "wall_s"}
    assert {k: v for k, v in summary.items() if k not in timings | {"file", "run_id", "not_accepted", "bytes_sent"}} == {
        "entity": "customers", "records_read": 4, "superseded": 0, "refused": 1, "accepted": 3, "rejected": 0,
        "failed": 0, "skipped": 0, "requests": 1, "rate_limited": 0, "retries": 0, "rejected_requests": 0,
        "batches": 1, "full_batches": 0, "records_per_request": 3.0, "sent": 3, "not_sent": 0}
    assert timings <= set(summary) and summary["bytes_sent"] > 0

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


def test_an_integer_beyond_64_bits_is_named_by_its_field_with_its_raw_value():
    """The refusal's row says where and what: the field's path and the value as written (the
    refused file's `value`), not only the reason (a mutant that dropped the value survived)."""
    from replenit_pipelines.lib.delivery.push_checks import unserializable

    big = 123456789012345678901234567890
    record = {"OrderId": "o-big", "OrderItems": [{"ProductId": "p1", "Price": 1}, {"ProductId": "p2", "Price": -big}]}
    assert unserializable(record, OverflowError("int too big")) == [
        ("OrderItems[1].Price", "-123456789012345678901234567890",
         "an integer beyond 64 bits, which cannot be written as JSON: write the real value")]
    assert unserializable({"OrderId": object()}, TypeError("not JSON")) == [("(record)", "", "cannot be written as JSON (not JSON)")]


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

    with pytest.raises(PushFileError) as refused:
        push_file(client, "customers", path, "customerid", on_scanned=replace)
    assert str(refused.value) == (f"{path}: the file changed between the scan and the send (size, modification time "
                                  "or inode); push a file that is not being written or replaced")
    assert records_in_sandbox(sandbox, client.tenant, "customers") == {}


def test_push_paces_by_replenit_limits(push_env, capsys, tmp_path, monkeypatch):
    """REPLENIT_LIMITS is the key's quota for every entry point. `push` (and `replay`) built their
    client without it and paced by the documented 100/min: against a key allowed 5 a second, 12
    single-record requests met 429s (4 here), each a request the key paid for."""
    with Sandbox(limits=[(5, 1.0)]) as sb:
        tenant_id = push_env(sb)
        monkeypatch.setenv("REPLENIT_LIMITS", "5/1")
        path = tmp_path / "c.ndjson"
        path.write_text("".join(json.dumps({"CustomerId": f"c{i}", "Email": f"c{i}@example.com"}) + "\n" for i in range(12)))
        code, out = push(capsys, "customers", str(path), "--batch-size", "1")
        statuses = [r["status"] for r in httpx.get(f"{sb.url}/_sandbox/requests").json() if tenant_id in r["path"]]
        assert code == 0 and out["accepted"] == 12
        assert statuses.count(429) == 0 and out["rate_limited"] == 0, statuses
