"""Random warehouse rows never crash the pipeline, and every row is accounted for (issues 8 and 9).

Rows mix NaN, ±inf, None, blanks, non-ASCII and astral characters, over-long strings, duplicated
identities (emails differing in case), and child columns left NULL by a join. Whatever comes in:
rows read = valid + quarantined + superseded; what would be sent, the API's own rules accept; no
two records sent are one record to the API; each record's identity is `record_identity`'s.
"""

from datetime import UTC, datetime

import orjson
import polars as pl
from helpers import CUSTOMER_MAPPING, ORDER_MAPPING, PRODUCT_MAPPING
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replenit_pipelines.lib.contract import CUSTOMER, ORDER, PRODUCT, validate_record
from replenit_pipelines.lib.contract.identity import record_identity, record_key
from replenit_pipelines.lib.validation import payload_parts, prepare

tricky = st.sampled_from([
    "", " ", "\x1c", "en_US", "zh-Hans-CN", "EUR", "eur", "XXX", "a@b.co", "A@B.CO", "jürgen@bücher.example",
    "dot..dot@example.com", "+447911123456", "x" * 120, "😀" * 51, "n" * 99 + "😀", "NaN", "inf", "true",
])
text = st.one_of(st.none(), st.text(max_size=12), tricky)
ids = st.one_of(text, st.sampled_from(["c1", "c2", "a@b.co"]))
times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10).map(float),
                    st.sampled_from([1e308, -0.0]))
priorities = st.sampled_from(["email", "customerid"])

customer_row = st.fixed_dictionaries({
    "id": ids, "email": ids, "name": text, "phone": text, "locale": text,
    "gdpr": st.one_of(st.none(), st.booleans()), "updated_at": times,
})
order_row = st.fixed_dictionaries({
    "order_id": st.sampled_from(["o1", "o2", "o3", None]), "customer_id": text, "currency": text,
    "ordered_at": st.one_of(text, st.sampled_from(["2026-11-26T13:00:00+01:00", "2024-02-30T00:00:00Z"])),
    "status": st.sampled_from(["completed", "refunded", "shipped", None]),
    "line_id": st.sampled_from(["a", "b", "c", None]),
    "product_id": text, "qty": st.one_of(st.none(), st.integers(-3, 5)), "price": numbers, "updated_at": times,
})
product_row = st.fixed_dictionaries({
    "product_id": st.sampled_from(["p1", "p2", None]), "name": text, "variant_id": st.sampled_from(["v1", "v2", None]),
    "price": numbers, "currency": st.one_of(st.none(), st.sampled_from(["EUR", "usd"])),
    "url": st.one_of(st.none(), st.sampled_from(["https://shop.example.com/p", "shop.example.com"])),
    "locale": text, "updated_at": times,
})
# A left join that matched no line or variant: every child column NULL.
NO_LINE = {"line_id": None, "product_id": None, "qty": None, "price": None}
NO_VARIANT = {"variant_id": None, "price": None, "currency": None, "url": None, "locale": None}

CUSTOMER_SCHEMA = {"id": pl.String, "email": pl.String, "name": pl.String, "phone": pl.String, "locale": pl.String,
                   "gdpr": pl.Boolean, "updated_at": pl.Datetime("us", "UTC")}
ORDER_SCHEMA = {"order_id": pl.String, "customer_id": pl.String, "currency": pl.String, "ordered_at": pl.String,
                "status": pl.String, "line_id": pl.String, "product_id": pl.String, "qty": pl.Int64, "price": pl.Float64,
                "updated_at": pl.Datetime("us", "UTC")}
PRODUCT_SCHEMA = {"product_id": pl.String, "name": pl.String, "variant_id": pl.String, "price": pl.Float64,
                  "currency": pl.String, "url": pl.String, "locale": pl.String, "updated_at": pl.Datetime("us", "UTC")}


def check_accounting(prepared, spec, priority="email"):
    assert prepared.rows_read == prepared.rows_valid + prepared.rows_quarantined + prepared.rows_superseded
    assert int(prepared.records["__rows"].sum() or 0) == prepared.rows_valid
    quarantined_rows = set(prepared.quarantine["source_row"])
    assert len(quarantined_rows) <= prepared.rows_quarantined  # each quarantined record names at least one row
    assert prepared.records_quarantined <= prepared.rows_quarantined
    # What we would send, the API's own rules accept, under the identity the API matches it by.
    records = [orjson.loads(part) for part in payload_parts(prepared.records)]
    for i, record in enumerate(records):
        assert validate_record(spec, record, i) == []
    identities = [record_identity(spec.name, r, priority) for r in records]
    assert identities == prepared.records["__key"].to_list()
    assert len(set(identities)) == len(identities), "two records sent that the API would merge"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(customer_row, max_size=25), priorities)
def test_random_customers_are_accounted_for(rows, priority):
    prepared = prepare(CUSTOMER_MAPPING, pl.DataFrame(rows, schema=CUSTOMER_SCHEMA), customer_priority=priority)
    check_accounting(prepared, CUSTOMER, priority)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(order_row, order_row.map(lambda r: {**r, **NO_LINE})), max_size=25))
def test_random_orders_are_accounted_for(rows):
    prepared = prepare(ORDER_MAPPING, pl.DataFrame(rows, schema=ORDER_SCHEMA))
    check_accounting(prepared, ORDER)
    for record in prepared.records.iter_rows(named=True):
        lines = record["OrderItems"]
        assert record["TotalRevenue"] == round(sum(i["Quantity"] * i["Price"] for i in lines), 6)
        assert record["TotalQuantity"] == sum(i["Quantity"] for i in lines)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(product_row, product_row.map(lambda r: {**r, **NO_VARIANT})), max_size=20))
def test_random_products_are_accounted_for(rows):
    check_accounting(prepare(PRODUCT_MAPPING, pl.DataFrame(rows, schema=PRODUCT_SCHEMA)), PRODUCT)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ids, ids), min_size=1, max_size=20), priorities)
def test_record_key_is_record_identity(pairs, priority):
    """The pipeline's vectorised identity is the sandbox's, value for value (blank, case, namespaces)."""
    frame = pl.DataFrame(pairs, schema={"CustomerId": pl.String, "Email": pl.String}, orient="row")
    keys = frame.select(record_key("customers", frame.columns, priority)).to_series().to_list()
    assert keys == [record_identity("customers", {"CustomerId": c, "Email": e}, priority) for c, e in pairs]
