"""The sandbox over real HTTP: auth, request rules, upserts, deletes (shared/replenit-api.md)."""

import gzip
import uuid

import httpx
import orjson
import pytest
from helpers import CUSTOMER, ORDER, PRODUCT


def post(api, entity, records, **kw):
    return api.post(f"/{entity}/{api.tenant_id}", json=records, **kw)


# --- authentication and tenants, in the documented order -------------------------------------

def test_missing_key_is_401(sandbox, tenant):
    r = httpx.post(f"{sandbox.url}/customers/{tenant[0]}", json=[CUSTOMER])
    assert r.status_code == 401
    assert r.json() == {"success": False, "message": "Unauthorized.", "data": {}}


def test_unknown_key_is_401_even_for_unknown_tenant(sandbox):
    r = httpx.post(f"{sandbox.url}/customers/not-a-guid", json=[CUSTOMER], headers={"x-replenit-auth-key": "bm9wZQ=="})
    assert r.status_code == 401


@pytest.mark.parametrize("tenant_id", ["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "not-a-guid"])
def test_unknown_or_malformed_tenant_is_404(api, tenant_id):
    r = api.post(f"/customers/{tenant_id}", json=[CUSTOMER])
    assert r.status_code == 404
    assert r.json() == {"success": False, "message": "Tenant not found.", "data": {}}


def test_key_without_access_to_tenant_is_403(sandbox, api):
    other, _ = sandbox.add_tenant()
    r = api.post(f"/customers/{other}", json=[CUSTOMER])
    assert r.status_code == 403
    assert r.json()["message"] == "Forbidden."


def test_404_comes_before_403_and_400(api):
    r = api.post(f"/customers/{uuid.uuid4()}", json=[{"Name": "no id"}])
    assert r.status_code == 404


def test_one_key_for_two_tenants(sandbox):
    t1, key = sandbox.add_tenant()
    t2, _ = sandbox.add_tenant(key=key)
    for t in (t1, t2):
        r = httpx.post(f"{sandbox.url}/customers/{t}", json=[CUSTOMER], headers={"x-replenit-auth-key": key})
        assert r.status_code == 200, r.text


# --- request-level rules ------------------------------------------------------------------------

def test_success_envelope(api):
    r = post(api, "customers", [CUSTOMER, {**CUSTOMER, "CustomerId": "c2", "Email": "b@example.com"}])
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and body["message"] == "Customers saved."
    assert body["data"]["count"] == 2
    assert body["data"]["processedAt"].endswith("Z")


@pytest.mark.parametrize("entity,message", [("orders", "Orders saved."), ("products", "Products saved.")])
def test_success_messages(api, entity, message):
    r = post(api, entity, [ORDER if entity == "orders" else PRODUCT])
    assert r.status_code == 200, r.text
    assert r.json()["message"] == message


def test_wrong_content_type_is_415(api):
    r = api.post(f"/customers/{api.tenant_id}", content=orjson.dumps([CUSTOMER]), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert "$" in r.json()["errors"]


def test_charset_is_allowed(api):
    r = api.post(f"/customers/{api.tenant_id}", content=orjson.dumps([CUSTOMER]),
                 headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200


@pytest.mark.parametrize("body", [b"{not json", b'{"CustomerId": "c1"}', b"[]", b"[NaN]", b"[1e999]"])
def test_bad_bodies_are_400_under_dollar(api, body):
    r = api.post(f"/customers/{api.tenant_id}", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    problem = r.json()
    assert problem["status"] == 400 and problem["title"] == "One or more validation errors occurred."
    assert list(problem["errors"]) == ["$"]


@pytest.mark.parametrize("entity,hard_max,record", [("customers", 1000, CUSTOMER), ("orders", 500, ORDER), ("products", 200, PRODUCT)])
def test_hard_batch_maxima(api, entity, hard_max, record):
    def batch(n):
        key = {"customers": "CustomerId", "orders": "OrderId", "products": "ProductId"}[entity]
        out = [{**record, key: f"id{i}"} for i in range(n)]
        if entity == "customers":
            out = [{**r, "Email": f"u{i}@example.com"} for i, r in enumerate(out)]
        return out
    assert post(api, entity, batch(hard_max)).status_code == 200
    r = post(api, entity, batch(hard_max + 1))
    assert r.status_code == 400
    assert str(hard_max) in r.json()["errors"]["$"][0]


def test_body_over_5mb_is_413(api):
    big = [{**CUSTOMER, "CustomerId": f"c{i}", "Name": "x" * 100, "Surname": "y" * 100} for i in range(900)]
    body = orjson.dumps(big)
    body = body[:-1] + b"," + b" " * (5_000_001 - len(body)) + b"]"
    assert len(body) > 5_000_000
    r = api.post(f"/customers/{api.tenant_id}", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_gzip_body_is_accepted(api, sandbox, records_in_sandbox):
    body = gzip.compress(orjson.dumps([CUSTOMER]))
    r = api.post(f"/customers/{api.tenant_id}", content=body,
                 headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200
    assert "email:ada@example.com" in records_in_sandbox(sandbox, api.tenant_id, "customers")


def test_bad_gzip_is_400(api):
    r = api.post(f"/customers/{api.tenant_id}", content=b"not gzip",
                 headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 400


def test_whole_batch_rejected_with_indexed_keys(api, sandbox, records_in_sandbox):
    batch = [CUSTOMER, {"Name": "nobody"}, {**CUSTOMER, "CustomerId": "x" * 101, "Email": "c@example.com"}]
    r = post(api, "customers", batch)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert errors["[1]"] == ["At least one of the following properties must have a value: CustomerId, Email"]
    assert errors["[2].CustomerId"] == ["The field CustomerId must be a string with a maximum length of 100."]
    assert records_in_sandbox(sandbox, api.tenant_id, "customers") == {}


def test_nested_error_paths(api):
    bad = {**ORDER, "OrderItems": [ORDER["OrderItems"][0], {"ProductId": "p2", "Quantity": 0}]}
    r = post(api, "orders", [ORDER, bad])
    assert r.status_code == 400
    assert list(r.json()["errors"]) == ["[1].OrderItems[1].Quantity"]


# --- upserts --------------------------------------------------------------------------------------

def test_customers_upsert_by_email_by_default(api, sandbox, records_in_sandbox):
    post(api, "customers", [CUSTOMER])
    post(api, "customers", [{**CUSTOMER, "CustomerId": "other-id", "Name": "Ada L."}])
    recs = records_in_sandbox(sandbox, api.tenant_id, "customers")
    assert list(recs) == ["email:ada@example.com"]
    assert recs["email:ada@example.com"]["writes"] == 2
    assert recs["email:ada@example.com"]["record"]["Name"] == "Ada L."


def test_customers_upsert_by_customerid_priority(sandbox, records_in_sandbox):
    tenant_id, key = sandbox.add_tenant(customer_priority="customerid")
    h = {"x-replenit-auth-key": key}
    httpx.post(f"{sandbox.url}/customers/{tenant_id}", json=[CUSTOMER], headers=h)
    httpx.post(f"{sandbox.url}/customers/{tenant_id}", json=[{**CUSTOMER, "Email": "new@example.com"}], headers=h)
    recs = records_in_sandbox(sandbox, tenant_id, "customers")
    assert list(recs) == ["customerid:c1"]
    assert recs["customerid:c1"]["record"]["Email"] == "new@example.com"


def test_nested_arrays_are_replaced_on_update(api, sandbox, records_in_sandbox):
    post(api, "orders", [ORDER])
    post(api, "orders", [{**ORDER, "OrderItems": [{"ProductId": "p9", "Quantity": 1}]}])
    rec = records_in_sandbox(sandbox, api.tenant_id, "orders")["o1"]
    assert rec["record"]["OrderItems"] == [{"ProductId": "p9", "Quantity": 1}]
    assert rec["writes"] == 2


# --- deletes ----------------------------------------------------------------------------------------

def test_delete_customer_then_404(api, sandbox, records_in_sandbox):
    post(api, "customers", [CUSTOMER])
    r = api.delete(f"/customers/{api.tenant_id}/c1")
    assert r.status_code == 200 and r.json()["message"] == "Customer deleted." and r.json()["data"]["count"] == 1
    assert records_in_sandbox(sandbox, api.tenant_id, "customers") == {}
    r = api.delete(f"/customers/{api.tenant_id}/c1")
    assert r.status_code == 404 and r.json()["message"] == "Customer not found."


def test_delete_order_and_line_item(api, sandbox, records_in_sandbox):
    post(api, "orders", [ORDER])
    r = api.delete(f"/orders/{api.tenant_id}/o1/items", params={"productId": "p2"})
    assert r.status_code == 200
    assert [i["ProductId"] for i in records_in_sandbox(sandbox, api.tenant_id, "orders")["o1"]["record"]["OrderItems"]] == ["p1"]
    assert api.delete(f"/orders/{api.tenant_id}/o1/items", params={"productId": "p2"}).status_code == 404
    assert api.delete(f"/orders/{api.tenant_id}/o1").status_code == 200
    assert api.delete(f"/orders/{api.tenant_id}/o1").status_code == 404


def test_delete_product_variant_and_product(api, sandbox, records_in_sandbox):
    post(api, "products", [PRODUCT])
    assert api.delete(f"/products/{api.tenant_id}/p1/variants/v2").status_code == 200
    variants = records_in_sandbox(sandbox, api.tenant_id, "products")["p1"]["record"]["ProductVariants"]
    assert [v["VariantId"] for v in variants] == ["v1"]
    assert api.delete(f"/products/{api.tenant_id}/p1").status_code == 200
    assert api.delete(f"/products/{api.tenant_id}/p1/variants/v1").status_code == 404


def test_delete_variant_by_sku_priority(sandbox):
    tenant_id, key = sandbox.add_tenant(product_priority="sku")
    h = {"x-replenit-auth-key": key}
    httpx.post(f"{sandbox.url}/products/{tenant_id}", json=[PRODUCT], headers=h)
    assert httpx.delete(f"{sandbox.url}/products/{tenant_id}/p1/variants/v1", headers=h).status_code == 404
    assert httpx.delete(f"{sandbox.url}/products/{tenant_id}/p1/variants/SKU-1", headers=h).status_code == 200


def test_delete_on_unknown_tenant_is_404_tenant(api):
    r = api.delete(f"/customers/{uuid.uuid4()}/c1")
    assert r.status_code == 404 and r.json()["message"] == "Tenant not found."


# --- inspection ------------------------------------------------------------------------------------

def test_request_log_never_holds_the_key(api, sandbox, tenant):
    post(api, "customers", [CUSTOMER])
    log = httpx.get(f"{sandbox.url}/_sandbox/requests").json()
    entry = [e for e in log if api.tenant_id in e["path"]][-1]
    assert entry["method"] == "POST" and entry["status"] == 200 and entry["records"] == 1 and entry["bytes"] > 0
    assert tenant[1] not in httpx.get(f"{sandbox.url}/_sandbox/requests").text
    assert tenant[1] not in httpx.get(f"{sandbox.url}/_sandbox/stats").text
