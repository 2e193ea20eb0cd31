"""Review findings on the map and validate stages: each test failed before its fix."""

from datetime import timedelta

import pytest
from helpers import CUSTOMER_MAPPING, ORDER, PRODUCT, PRODUCT_MAPPING, TS, customer_rows, run

from replenit_pipelines.lib.contract.entities import PRODUCT as PRODUCT_SPEC
from replenit_pipelines.lib.contract.records import validate_record
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

TOTAL_MAPPING = entity_mapping_from_dict("orders", {
    "source": {"table": "order_lines", "window_column": "updated_at"},
    "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "TotalRevenue": "total"},
    "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
})


def _line(line_id, product, qty, price, total, minutes, order_id="o9"):
    return {"order_id": order_id, "customer_id": "c1", "currency": "EUR", "total": total, "line_id": line_id,
            "product_id": product, "qty": qty, "price": price, "updated_at": TS + timedelta(minutes=minutes)}


def _balanced(p) -> bool:
    return p.rows_read == p.rows_valid + p.rows_quarantined + p.rows_superseded


# 1. The order's total is its newest row's: underivability is decided per order, not per row.

def test_a_line_without_price_under_a_newest_null_total_is_quarantined_not_understated():
    # The newest row has no total, so the total is derived from the lines; the older row's line has
    # no price: the sum would be 5 where the order is worth more.
    p = run(TOTAL_MAPPING, [_line(1, "p1", 1, 5.0, None, 1), _line(2, "p2", 3, None, 100.0, 0)])
    assert p.records.height == 0
    assert {(r["rule"], r["field"], r["source_row"]) for r in p.quarantine.to_dicts()} == {
        ("total_underivable", "TotalRevenue", 1)}
    assert p.rows_quarantined == 2 and _balanced(p)


def test_a_line_without_price_under_a_newest_known_total_is_sent_with_that_total():
    p = run(TOTAL_MAPPING, [_line(1, "p1", 1, None, None, 0), _line(2, "p2", 2, 5.0, 100.0, 1)])
    assert p.quarantine.height == 0
    assert p.records.select("OrderId", "TotalRevenue").to_dicts() == [{"OrderId": "o9", "TotalRevenue": 100.0}]


# 2. A CustomerId is one customer whatever its email: its newest row is its only version.

def test_a_customer_whose_newest_email_is_invalid_is_quarantined_and_its_old_version_not_sent():
    for priority in ("email", "customerid"):
        p = run(CUSTOMER_MAPPING, [customer_rows(id="c1", email="old@example.com", updated_at=TS),
                                   customer_rows(id="c1", email="new@example", updated_at=TS + timedelta(minutes=5))],
                customer_priority=priority)
        assert p.records.height == 0, priority
        assert (p.rows_superseded, p.rows_quarantined) == (1, 1), priority
        assert {(r["rule"], r["field"]) for r in p.quarantine.to_dicts()} == {("email", "Email")}, priority
        assert _balanced(p)


def test_a_customer_whose_email_changed_is_sent_once_with_the_new_email():
    for priority in ("email", "customerid"):
        p = run(CUSTOMER_MAPPING, [customer_rows(id="c1", email="old@example.com", updated_at=TS),
                                   customer_rows(id="c1", email="new@example.com", updated_at=TS + timedelta(minutes=5))],
                customer_priority=priority)
        assert p.records.select("CustomerId", "Email").to_dicts() == [{"CustomerId": "c1", "Email": "new@example.com"}]
        assert p.rows_superseded == 1 and _balanced(p)


def test_the_id_pass_and_the_email_pass_both_supersede():
    rows = [customer_rows(id="c1", email="a@example.com", updated_at=TS),
            customer_rows(id="c1", email="b@example.com", updated_at=TS + timedelta(minutes=1)),
            customer_rows(id="c2", email="b@example.com", updated_at=TS + timedelta(minutes=2))]
    p = run(CUSTOMER_MAPPING, rows)
    assert p.records.select("CustomerId", "Email").to_dicts() == [{"CustomerId": "c2", "Email": "b@example.com"}]
    assert p.rows_superseded == 2 and _balanced(p)


# 3. Without OrderItems.key an order line has no identity: only exact duplicates supersede.

NO_KEY_MAPPING = entity_mapping_from_dict("orders", {
    "source": {"table": "order_lines", "window_column": "updated_at"},
    "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "Status": "status"},
    "OrderItems": {"fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
})


def _keyless(product, qty, price, minutes=0, order_id="o1", status="completed"):
    return {"order_id": order_id, "customer_id": "c1", "currency": "EUR", "status": status, "product_id": product,
            "qty": qty, "price": price, "updated_at": TS + timedelta(minutes=minutes)}


def test_two_lines_of_one_product_without_a_key_are_both_sent():
    p = run(NO_KEY_MAPPING, [_keyless("p1", 1, 10.0), _keyless("p1", 2, 5.0, minutes=1)])
    assert p.rows_superseded == 0 and p.quarantine.height == 0
    (order,) = p.records.to_dicts()
    assert sorted((i["Quantity"], i["Price"]) for i in order["OrderItems"]) == [(1, 10.0), (2, 5.0)]
    assert (order["TotalRevenue"], order["TotalQuantity"], order["UniqueQuantity"]) == (20.0, 3, 1)


def test_an_exact_duplicate_line_without_a_key_is_superseded():
    # The same line read twice (the order's status changed in between): one line, the newest status.
    p = run(NO_KEY_MAPPING, [_keyless("p1", 1, 10.0, status="completed"), _keyless("p1", 1, 10.0, 1, status="refunded")])
    assert p.rows_superseded == 1 and _balanced(p)
    (order,) = p.records.to_dicts()
    assert (len(order["OrderItems"]), order["TotalRevenue"], order["Status"]) == (1, 10.0, "refunded")


def test_variants_without_a_key_are_versions_of_one_variant_by_variant_id():
    rows = [{"product_id": "p1", "name": "Kettle", "variant_id": "v1", "price": 20.0, "currency": "EUR",
             "url": None, "locale": None, "sku": sku, "updated_at": TS + timedelta(minutes=m)}
            for sku, m in (("SKU-OLD", 0), ("SKU-NEW", 1))]
    mapping = entity_mapping_from_dict("products", {
        "source": {"table": "product_variants", "window_column": "updated_at"},
        "fields": {"ProductId": "product_id", "ProductName": "name"},
        "ProductVariants": {"fields": {"VariantId": "variant_id", "Sku": "sku", "SalePrice": "price", "Currency": "currency"}},
    })
    p = run(mapping, rows)
    assert p.rows_superseded == 1 and _balanced(p)
    assert [v["Sku"] for v in p.records.to_dicts()[0]["ProductVariants"]] == ["SKU-NEW"]


# 4. An all-NULL child row beside other child rows is never dropped silently.

def test_an_all_null_line_beside_other_lines_quarantines_its_order():
    p = run(NO_KEY_MAPPING, [_keyless("p1", 1, 10.0, order_id="o7"), _keyless(None, None, None, order_id="o7"),
                             _keyless(None, None, None, order_id="o8")])
    assert p.records.select("OrderId", "OrderItems").to_dicts() == [{"OrderId": "o8", "OrderItems": []}]
    assert {(r["record_id"], r["source_row"], r["rule"], r["field"]) for r in p.quarantine.to_dicts()} == {
        ("o7", 1, "required", "OrderItems.ProductId")}
    assert p.rows_quarantined == 2 and _balanced(p)


def test_an_all_null_variant_beside_other_variants_quarantines_its_product():
    rows = [{"product_id": "p1", "name": "Kettle", "variant_id": v, "price": price, "currency": cur, "url": None,
             "locale": None, "updated_at": TS} for v, price, cur in (("v1", 20.0, "EUR"), (None, None, None))]
    p = run(PRODUCT_MAPPING, rows)
    assert p.records.height == 0
    assert {(r["rule"], r["field"]) for r in p.quarantine.to_dicts()} == {("required", "ProductVariants.VariantId")}
    assert p.rows_quarantined == 2 and _balanced(p)


# 5. [assumed] Integers are the service's System.Int32: 2147483647 is the largest.

@pytest.mark.parametrize("qty,ok", [(2147483647, True), (2147483648, False)])
def test_the_sandbox_takes_an_int32_quantity_and_refuses_one_beyond(api, qty, ok):
    r = api.post(f"/orders/{api.tenant_id}", json=[{**ORDER, "TotalQuantity": qty,
                                                     "OrderItems": [{"ProductId": "p1", "Quantity": qty, "Price": 1.0}]}])
    if ok:
        assert r.status_code == 200, r.text
    else:
        errors = r.json()["errors"]
        assert r.status_code == 400 and set(errors) == {"[0].TotalQuantity", "[0].OrderItems[0].Quantity"}
        assert "System.Int32" in errors["[0].OrderItems[0].Quantity"][0]


def test_validate_record_names_an_int32_overflow_as_range():
    errors = validate_record(PRODUCT_SPEC, {**PRODUCT, "ProductVariants": [{"VariantId": "v1", "StockQuantity": 2**31}]}, 0)
    assert [(e.path, e.code) for e in errors] == [("[0].ProductVariants[0].StockQuantity", "range")]


@pytest.mark.parametrize("qty,ok", [(2147483647, True), (2147483648, False)])
def test_the_pipeline_takes_an_int32_quantity_and_quarantines_one_beyond(qty, ok):
    p = run(NO_KEY_MAPPING, [_keyless("p1", qty, 0.0)])
    if ok:
        assert p.quarantine.height == 0
        assert p.records["TotalQuantity"].to_list() == [qty]
    else:
        assert p.records.height == 0
        assert {(r["rule"], r["field"], r["value"]) for r in p.quarantine.to_dicts()} == {
            ("range", "OrderItems.Quantity", str(qty))}


def test_a_derived_total_quantity_beyond_int32_is_quarantined():
    p = run(NO_KEY_MAPPING, [_keyless("p1", 2147483647, 0.0), _keyless("p2", 1, 0.0)])
    assert p.records.height == 0
    assert {(r["rule"], r["field"]) for r in p.quarantine.to_dicts()} == {("range", "TotalQuantity")}
    assert _balanced(p)
