"""Rows in, payloads and quarantine out: each rule, normalization, nesting, totals, duplicates."""

import math

import polars as pl
import pytest

from helpers import (
    CUSTOMER_MAPPING,
    ORDER_MAPPING,
    PRODUCT_MAPPING,
    TS,
    customer_rows,
    order_rows,
    payloads,
    reasons,
    run,
)
from replenit_pipelines.lib.validation import payload_parts


def test_clean_customer_becomes_its_payload():
    p = run(CUSTOMER_MAPPING, [customer_rows()])
    assert payloads(p) == [{"CustomerId": "c1", "Email": "ada@example.com", "Name": "Ada", "Phone": "+447911123456",
                            "Language": "en-GB", "GdprOptin": True}]
    assert (p.rows_read, p.rows_valid, p.rows_quarantined, p.rows_superseded) == (1, 1, 0, 0)


@pytest.mark.parametrize("field,value", [
    ("locale", "zh-Hans-CN"), ("locale", "es-419"), ("phone", "+447911123456"), ("email", None), ("id", None),
])
def test_tricky_valid_customers(field, value):
    row = customer_rows(**{field: value})
    if field == "id":
        row["email"] = "only@example.com"
    p = run(CUSTOMER_MAPPING, [row])
    assert p.rows_valid == 1, p.quarantine


@pytest.mark.parametrize("overrides,rule,field", [
    ({"email": "ada at example.com"}, "email", "Email"),
    ({"phone": "07911 123456"}, "phone", "Phone"),
    ({"locale": "zzz"}, "language", "Language"),
    ({"id": "x" * 101}, "max_length", "CustomerId"),
    ({"name": "n" * 101}, "max_length", "Name"),
    ({"id": None, "email": None}, "one_of_required", "CustomerId, Email"),
    ({"id": "   ", "email": ""}, "one_of_required", "CustomerId, Email"),
])
def test_invalid_customers_are_quarantined_with_reasons(overrides, rule, field):
    p = run(CUSTOMER_MAPPING, [customer_rows(**overrides), customer_rows(id="c2", email="b@example.com")])
    assert p.rows_valid == 1 and p.rows_quarantined == 1
    assert (rule, field) in reasons(p)


def test_all_failures_of_a_row_are_collected_in_one_pass():
    p = run(CUSTOMER_MAPPING, [customer_rows(email="bad", phone="123", locale="zzz", name="n" * 101)])
    assert reasons(p) == {("email", "Email"), ("phone", "Phone"), ("language", "Language"), ("max_length", "Name")}
    assert set(p.quarantine["value"]) >= {"bad", "123", "zzz"}


def test_offending_values_are_truncated():
    p = run(CUSTOMER_MAPPING, [customer_rows(id="x" * 500)])
    value = p.quarantine["value"][0]
    assert len(value) == 81 and value.endswith("…")


def test_normalization_fixes_what_has_one_answer_and_counts_it():
    p = run(CUSTOMER_MAPPING, [customer_rows(email="  ada@example.com ", locale="en_us", name="  ")])
    assert payloads(p)[0]["Email"] == "ada@example.com"
    assert payloads(p)[0]["Language"] == "en-US"
    assert payloads(p)[0]["Name"] is None
    assert p.normalization["emails_trimmed"] == 1
    assert p.normalization["languages_canonicalised"] == 1
    assert p.normalization["blank_to_null"] == 1


def test_without_normalization_en_US_is_quarantined():
    p = run(CUSTOMER_MAPPING, [customer_rows(locale="en_US")], normalize_values=False)
    assert ("language", "Language") in reasons(p)


def test_duplicates_keep_the_latest_and_count_the_rest():
    older = customer_rows(name="Old", updated_at=TS.replace(hour=1))
    newer = customer_rows(name="New", updated_at=TS.replace(hour=5))
    p = run(CUSTOMER_MAPPING, [newer, older, customer_rows(id="c2", email="b@example.com")])
    assert p.rows_superseded == 1 and p.rows_valid == 2
    assert {r["Name"] for r in payloads(p)} == {"New", "Ada"}
    assert p.rows_read == p.rows_valid + p.rows_quarantined + p.rows_superseded


def test_type_failures_are_quarantined_with_the_raw_value():
    rows = order_rows(1)
    rows[0]["qty"] = "three"
    p = run(ORDER_MAPPING, rows + order_rows(1, order_id="o2"))
    assert ("type", "OrderItems.Quantity") in reasons(p)
    assert "three" in p.quarantine["value"].to_list()
    assert p.records_valid == 1


# --- orders: nesting, totals, timestamps, currencies ---------------------------------------

def test_order_lines_nest_and_totals_are_derived():
    p = run(ORDER_MAPPING, order_rows(3))
    (order,) = payloads(p)
    assert order["OrderId"] == "o1" and len(order["OrderItems"]) == 3
    assert order["OrderItems"][0] == {"ProductId": "p0", "Quantity": 1, "Price": 10.0}
    assert (order["TotalRevenue"], order["TotalQuantity"], order["UniqueQuantity"]) == (60.0, 6, 3)
    assert order["OrderDate"] == "2026-11-26T12:00:00.000Z"
    assert p.records.get_column("__rows").to_list() == [3]


@pytest.mark.parametrize("raw,utc", [
    ("2026-11-26T13:00:00+01:00", "2026-11-26T12:00:00.000Z"),
    ("2026-11-26T12:00:00Z", "2026-11-26T12:00:00.000Z"),
    ("2026-11-26T12:00:00.000Z", "2026-11-26T12:00:00.000Z"),
    ("2026-11-26T07:00:00.250-05:00", "2026-11-26T12:00:00.250Z"),
    ("2026-11-26 12:00:00", "2026-11-26T12:00:00.000Z"),  # naive: the mapping's timezone (UTC)
])
def test_timestamps_become_utc(raw, utc):
    p = run(ORDER_MAPPING, order_rows(1, ordered_at=raw))
    assert payloads(p)[0]["OrderDate"] == utc


@pytest.mark.parametrize("raw", ["2024-02-30T00:00:00Z", "yesterday", "2024-12-22", "2024-13-01T00:00:00Z"])
def test_impossible_timestamps_are_quarantined(raw):
    p = run(ORDER_MAPPING, order_rows(1, ordered_at=raw))
    assert ("timestamp", "OrderDate") in reasons(p)
    assert raw in p.quarantine["value"].to_list()


def test_offset_without_colon_is_normalized_or_refused():
    normalized = run(ORDER_MAPPING, order_rows(1, ordered_at="2024-12-22T14:30:00+0200"))
    assert payloads(normalized)[0]["OrderDate"] == "2024-12-22T12:30:00.000Z"
    refused = run(ORDER_MAPPING, order_rows(1, ordered_at="2024-12-22T14:30:00+0200"), normalize_values=False)
    assert ("timestamp", "OrderDate") in reasons(refused)


def test_naive_timestamps_use_the_configured_timezone():
    from dataclasses import replace

    berlin = replace(ORDER_MAPPING, source=replace(ORDER_MAPPING.source, timezone="Europe/Berlin"))
    p = run(berlin, order_rows(1, ordered_at="2026-11-26 13:00:00"))
    assert payloads(p)[0]["OrderDate"] == "2026-11-26T12:00:00.000Z"


@pytest.mark.parametrize("currency,ok", [("eur", True), (" EUR ", True), ("XXX", False), ("ABC", False), ("€", False)])
def test_currencies(currency, ok):
    p = run(ORDER_MAPPING, order_rows(1, currency=currency))
    assert (p.records_valid == 1) is ok
    if ok:
        assert payloads(p)[0]["Currency"] == "EUR"


def test_an_order_with_one_bad_line_is_quarantined_whole():
    rows = order_rows(3) + order_rows(2, order_id="o2")
    rows[1]["qty"] = -1
    p = run(ORDER_MAPPING, rows)
    assert [o["OrderId"] for o in payloads(p)] == ["o2"]
    assert p.rows_quarantined == 3 and p.records_quarantined == 1
    assert reasons(p) == {("range", "OrderItems.Quantity")}


@pytest.mark.parametrize("price", [math.nan, math.inf, -math.inf, -0.5])
def test_non_finite_and_negative_prices_are_quarantined(price):
    p = run(ORDER_MAPPING, order_rows(1, price=price))
    assert p.records_valid == 0
    assert {r for r, _ in reasons(p)} <= {"non_finite", "range"}


def test_newer_version_of_a_line_wins():
    rows = order_rows(2)
    stale = {**rows[0], "qty": 9, "updated_at": TS.replace(hour=1)}
    p = run(ORDER_MAPPING, [*rows, stale])
    assert p.rows_superseded == 1
    assert [i["Quantity"] for i in payloads(p)[0]["OrderItems"]] == [1, 2]


# --- products -------------------------------------------------------------------------------

def variant(pid="p1", vid="v1", **kw):
    return {"product_id": pid, "name": "Kettle", "variant_id": vid, "price": 9.5, "currency": "EUR",
            "url": "https://shop.example.com/p1", "locale": "de-DE", "updated_at": TS, **kw}


def test_variants_nest_under_their_product():
    p = run(PRODUCT_MAPPING, [variant(), variant(vid="v2", price=None, currency=None)])
    (product,) = payloads(p)
    assert [v["VariantId"] for v in product["ProductVariants"]] == ["v1", "v2"]


@pytest.mark.parametrize("kw,rule", [({"currency": None}, "required_with"), ({"url": "shop.example.com/p1"}, "url"),
                                     ({"variant_id": None}, "required"), ({"locale": "de_de_x"}, "language")])
def test_a_product_with_a_bad_variant_is_quarantined_whole(kw, rule):
    p = run(PRODUCT_MAPPING, [variant(), variant(vid="v2", **kw), variant(pid="p2")])
    assert [x["ProductId"] for x in payloads(p)] == ["p2"]
    assert rule in {r for r, _ in reasons(p)}
    assert p.rows_quarantined == 2


def test_payload_parts_are_one_json_document_per_record():
    import orjson

    p = run(ORDER_MAPPING, order_rows(2) + order_rows(1, order_id="o2"))
    parts = payload_parts(p.records)
    assert [orjson.loads(x)["OrderId"] for x in parts] == ["o1", "o2"]
    assert "__key" not in orjson.loads(parts[0])


def test_empty_window():
    frame = pl.DataFrame(schema={"id": pl.String, "email": pl.String, "name": pl.String, "phone": pl.String,
                                 "locale": pl.String, "gdpr": pl.Boolean, "updated_at": pl.Datetime("us", "UTC")})
    from replenit_pipelines.lib.validation import prepare

    p = prepare(CUSTOMER_MAPPING, frame)
    assert (p.rows_read, p.records_valid, p.quarantine.height) == (0, 0, 0)
    assert payload_parts(p.records) == []


def test_payload_parts_keep_unicode_line_separators_inside_values():
    import orjson

    p = run(CUSTOMER_MAPPING, [customer_rows(name="a\x85b\u2028c"), customer_rows(id="c2", email="b@example.com")])
    parts = payload_parts(p.records)
    assert len(parts) == 2 and orjson.loads(parts[0])["Name"] == "a\x85b\u2028c"
