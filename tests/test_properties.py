"""Random warehouse rows never crash the pipeline, and every row is accounted for."""

from datetime import UTC, datetime

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import CUSTOMER_MAPPING, ORDER_MAPPING
from replenit_pipelines.lib.contract import CUSTOMER, ORDER, validate_record
from replenit_pipelines.lib.validation import payload_parts, prepare

text = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["", " ", "en_US", "zh-Hans-CN", "EUR", "eur", "XXX",
                                                                   "a@b.co", "+447911123456", "x" * 120]))
times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10).map(float))

customer_row = st.fixed_dictionaries({
    "id": text, "email": text, "name": text, "phone": text, "locale": text,
    "gdpr": st.one_of(st.none(), st.booleans()), "updated_at": times,
})
order_row = st.fixed_dictionaries({
    "order_id": st.sampled_from(["o1", "o2", "o3", None]), "customer_id": text, "currency": text,
    "ordered_at": st.one_of(text, st.sampled_from(["2026-11-26T13:00:00+01:00", "2024-02-30T00:00:00Z"])),
    "status": st.sampled_from(["completed", "refunded", "shipped", None]), "line_id": st.sampled_from(["a", "b", "c"]),
    "product_id": text, "qty": st.one_of(st.none(), st.integers(-3, 5)), "price": numbers, "updated_at": times,
})

CUSTOMER_SCHEMA = {"id": pl.String, "email": pl.String, "name": pl.String, "phone": pl.String, "locale": pl.String,
                   "gdpr": pl.Boolean, "updated_at": pl.Datetime("us", "UTC")}
ORDER_SCHEMA = {"order_id": pl.String, "customer_id": pl.String, "currency": pl.String, "ordered_at": pl.String,
                "status": pl.String, "line_id": pl.String, "product_id": pl.String, "qty": pl.Int64, "price": pl.Float64,
                "updated_at": pl.Datetime("us", "UTC")}


def check_accounting(prepared, spec):
    assert prepared.rows_read == prepared.rows_valid + prepared.rows_quarantined + prepared.rows_superseded
    assert int(prepared.records["__rows"].sum() or 0) == prepared.rows_valid
    import orjson

    # What we would send, the API's own rules accept.
    for i, part in enumerate(payload_parts(prepared.records)):
        assert validate_record(spec, orjson.loads(part), i) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(customer_row, max_size=25))
def test_random_customers_are_accounted_for(rows):
    check_accounting(prepare(CUSTOMER_MAPPING, pl.DataFrame(rows, schema=CUSTOMER_SCHEMA)), CUSTOMER)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(order_row, max_size=25))
def test_random_orders_are_accounted_for(rows):
    check_accounting(prepare(ORDER_MAPPING, pl.DataFrame(rows, schema=ORDER_SCHEMA)), ORDER)
