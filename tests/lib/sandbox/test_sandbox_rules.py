"""Every entity rule of the contract, through the sandbox over HTTP: passing and failing values."""

import pytest
from helpers import CUSTOMER, ORDER, PRODUCT

VALID = [
    ("customers", "Language", "zh-Hans-CN"),
    ("customers", "Language", "es-419"),
    ("customers", "Language", "en"),
    ("customers", "Phone", "+447911123456"),
    ("customers", "Email", "o'brien+tag@sub.example.co.uk"),
    ("customers", "GdprOptin", False),
    ("customers", "CustomerId", "x" * 100),
    ("customers", "CustomerId", "x" * 98 + "😀"),  # 100 UTF-16 code units
    ("customers", "Email", "jürgen.müller@example.de"),
    ("customers", "Email", "名前@example.jp"),
    ("customers", "Email", "user@bücher.example"),
    ("orders", "OrderDate", "2024-12-22T14:30:00Z"),
    ("orders", "OrderDate", "2024-12-22T14:30:00.000Z"),
    ("orders", "OrderDate", "2024-12-22T16:30:00+02:00"),
    ("orders", "OrderDate", "2024-12-22T09:30:00.123456-05:00"),
    ("orders", "Currency", "XAF"),
    ("orders", "Currency", "JPY"),
    ("orders", "TotalRevenue", 0),
    ("orders", "Status", "refunded"),
    ("orders", "OrderItems", []),
    # The contract gives an order's CustomerId and Email as plain strings (no length, no format):
    # an order is accepted whatever they hold, linked to a customer or not (issue 22).
    ("orders", "Email", "bob at example"),
    ("orders", "CustomerId", "c" * 150),
    ("products", "ProductVariants", []),
    ("products", "Taxonomy", ["Home", "Kitchen"]),
    ("products", "IsOfflineExclusive", True),
]

INVALID = [
    ("customers", "Language", "en_US", "language"),
    ("customers", "Language", "en-us", "language"),
    ("customers", "Language", "zzz", "language"),
    ("customers", "Language", "zh-Hans-CN-x-abc", "length"),
    ("customers", "Phone", "07911123456", "phone"),
    ("customers", "Phone", "+44 7911 123456", "phone"),
    ("customers", "Email", "not-an-email", "email"),
    ("customers", "Email", "a@b", "email"),
    ("customers", "CustomerId", "x" * 101, "length"),
    ("customers", "CustomerId", "x" * 99 + "😀", "length"),  # 100 code points, 101 UTF-16 code units
    ("customers", "Email", "dot..dot@example.com", "email"),
    ("customers", "Email", ".a@example.com", "email"),
    ("customers", "Email", "a.@example.com", "email"),
    ("customers", "Email", "a@example", "email"),
    ("customers", "Email", "a@@example.com", "email"),
    ("customers", "Name", "n" * 101, "length"),
    ("customers", "GdprOptin", "yes", "type"),
    ("customers", "CustomerId", 42, "type"),
    ("orders", "OrderDate", "2024-02-30T00:00:00Z", "timestamp"),
    ("orders", "OrderDate", "2024-12-22", "timestamp"),
    ("orders", "OrderDate", "2024-12-22T14:30:00", "timestamp"),
    ("orders", "OrderDate", "2024-12-22T14:30:00+0200", "timestamp"),
    ("orders", "OrderDate", "2024-12-22 14:30:00Z", "timestamp"),
    ("orders", "Currency", "usd", "currency"),
    ("orders", "Currency", "XXX", "currency"),
    ("orders", "Currency", "XAU", "currency"),
    ("orders", "Currency", "ABC", "currency"),
    ("orders", "Currency", "$", "currency"),
    ("orders", "Currency", None, "required"),
    ("orders", "OrderId", None, "required"),
    ("orders", "OrderId", "  ", "required"),
    ("orders", "TotalRevenue", -1, "range"),
    ("orders", "TotalRevenue", "10", "type"),
    ("orders", "TotalQuantity", 1.5, "type"),
    ("orders", "TotalQuantity", -1, "range"),
    ("orders", "Status", "shipped", "choice"),
    ("products", "ProductId", None, "required"),
    ("products", "ProductVariants", None, "required"),
    ("products", "ProductName", "p" * 201, "length"),
    ("products", "ProductName", "p" * 199 + "😀", "length"),  # 200 code points, 201 UTF-16 code units
    ("products", "Taxonomy", "Home", "type"),
]

BASE = {"customers": CUSTOMER, "orders": ORDER, "products": PRODUCT}


def send(api, entity, field, value):
    record = {**BASE[entity], field: value}
    return api.post(f"/{entity}/{api.tenant_id}", json=[record])


@pytest.mark.parametrize("entity,field,value", VALID)
def test_valid_values_are_accepted(api, entity, field, value):
    r = send(api, entity, field, value)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("entity,field,value,kind", INVALID)
def test_invalid_values_are_rejected(api, entity, field, value, kind):
    r = send(api, entity, field, value)
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert list(errors) == [f"[0].{field}"]
    assert errors[f"[0].{field}"], "every error carries a message"


def test_customer_needs_id_or_email(api):
    assert api.post(f"/customers/{api.tenant_id}", json=[{"Email": "only@example.com"}]).status_code == 200
    assert api.post(f"/customers/{api.tenant_id}", json=[{"CustomerId": "only-id"}]).status_code == 200
    r = api.post(f"/customers/{api.tenant_id}", json=[{"CustomerId": "", "Email": None, "Name": "x"}])
    assert r.status_code == 400 and "[0]" in r.json()["errors"]


def test_pascal_case_is_case_sensitive(api):
    r = api.post(f"/customers/{api.tenant_id}", json=[{"customerId": "c1", "email": "a@example.com"}])
    assert r.status_code == 400 and "[0]" in r.json()["errors"]


@pytest.mark.parametrize("item,field", [
    ({"Quantity": 1}, "ProductId"),
    ({"ProductId": "p", "Quantity": 0}, "Quantity"),
    ({"ProductId": "p"}, "Quantity"),
    ({"ProductId": "p", "Quantity": 1, "Price": -0.01}, "Price"),
    ({"ProductId": "p", "Quantity": 1, "OriginalPrice": "9"}, "OriginalPrice"),
    ({"ProductId": "p" * 101, "Quantity": 1}, "ProductId"),
    ({"ProductId": "p", "Quantity": 1, "ProductName": "n" * 201}, "ProductName"),
])
def test_order_item_rules(api, item, field):
    r = api.post(f"/orders/{api.tenant_id}", json=[{**ORDER, "OrderItems": [item]}])
    assert r.status_code == 400
    assert list(r.json()["errors"]) == [f"[0].OrderItems[0].{field}"]


@pytest.mark.parametrize("variant,field", [
    ({}, "VariantId"),
    ({"VariantId": "v", "SalePrice": 3.0}, "Currency"),
    ({"VariantId": "v", "OriginalPrice": 3.0, "Currency": "usd"}, "Currency"),
    ({"VariantId": "v", "ProductUrl": "ftp://example.com/x"}, "ProductUrl"),
    ({"VariantId": "v", "ImageUrl": "/relative.png"}, "ImageUrl"),
    ({"VariantId": "v", "StockQuantity": -2}, "StockQuantity"),
    ({"VariantId": "v", "IsAvailable": 1}, "IsAvailable"),
    ({"VariantId": "v", "Language": "en_GB"}, "Language"),
    ({"VariantId": "v", "Brand": "b" * 101}, "Brand"),
])
def test_product_variant_rules(api, variant, field):
    r = api.post(f"/products/{api.tenant_id}", json=[{**PRODUCT, "ProductVariants": [variant]}])
    assert r.status_code == 400
    assert list(r.json()["errors"]) == [f"[0].ProductVariants[0].{field}"]


def test_valid_variant_with_everything(api):
    variant = {"VariantId": "v", "Sku": "S", "VariantName": "Red", "ProductUrl": "https://shop.example.com/p/1",
               "ImageUrl": "http://cdn.example.com/1.png", "Brand": "B", "Color": "red", "Size": "M",
               "StockQuantity": 0, "IsAvailable": False, "Language": "de-CH", "OriginalPrice": 10,
               "SalePrice": 8.5, "Currency": "CHF"}
    assert api.post(f"/products/{api.tenant_id}", json=[{**PRODUCT, "ProductVariants": [variant]}]).status_code == 200
