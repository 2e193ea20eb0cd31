"""theLook eCommerce (examples/thelook: Google's public BigQuery dataset rebuilt in DuckDB with its
real names and types, order_items one row per unit, users sharing emails, float32 prices, no
currency, no variants, no update times, and dirt planted with known verdicts) through
examples/thelook/mapping.yaml: every stored record equals what plain SQL over the raw tables says,
each planted row gets its verdict, the rows close, and an unchanged warehouse costs nothing."""

import math

import duckdb
import pytest
import reference
from conftest import CLOSING, EXAMPLES

from replenit_pipelines.lib.contract.entities import ENTITIES

MAPPING = EXAMPLES / "thelook" / "mapping.yaml"
STATUS = {"Complete": "completed", "Cancelled": "cancelled", "Returned": "refunded"}
QUARANTINED = {  # the planted rows the contract refuses: (entity, record id, rule, field)
    ("customers", "customerid:50010", "email", "Email"),
    ("customers", "email:u50011@example.com", "max_length", "Name"),
    ("products", "90002", "max_length", "ProductVariants.Brand"),
    ("products", "90003", "range", "ProductVariants.SalePrice"),
    ("products", "90007", "max_length", "ProductName"),
    ("orders", "80001", "total_underivable", "TotalRevenue"),
    ("orders", "80002", "range", "OrderItems.Price"),
    ("orders", "80014", "max_length", "OrderItems.ProductName"),
    ("orders", "row", "required", "OrderId"),                     # order_items 999999 of no order 88888
}


@pytest.fixture(scope="module")
def thelook(tmp_path_factory):
    # By its package: a bare `generate` is whichever example's was imported first in this process.
    from thelook import generate

    path = tmp_path_factory.mktemp("thelook") / "thelook.duckdb"
    generate.build(str(path))
    return path


def rows(con, sql: str) -> list[dict]:
    return con.sql(sql).pl().to_dicts()


def expected_records(path) -> dict[str, dict[str, dict]]:
    """What the tenant must hold, from the raw tables (never through the project's code): the planted
    rows the contract refuses are left out by id (the test checks their quarantine)."""
    con = duckdb.connect(str(path), read_only=True)
    # One customer per address (lower-cased, trimmed), the newest by created_at; an undated user
    # loses to a dated one of its address.
    customers = {}
    for u in rows(con, """
            WITH u AS (SELECT DISTINCT * FROM users WHERE id NOT IN (50010, 50011))
            SELECT *, CASE WHEN email IS NULL THEN 'customerid:' || id ELSE 'email:' || lower(trim(email)) END AS identity
            FROM u QUALIFY row_number() OVER (PARTITION BY identity ORDER BY created_at DESC NULLS LAST) = 1"""):
        customers[u["identity"]] = reference._clean({"CustomerId": str(u["id"]), "Email": u["email"] and u["email"].strip(),
                                                     "Name": u["first_name"], "Surname": u["last_name"]})
    products = {}
    for p in rows(con, "SELECT * FROM products WHERE id NOT IN (90002, 90003, 90007)"):
        variant = {"VariantId": str(p["id"]), "Sku": p["sku"], "Brand": p["brand"], "Currency": "USD",
                   "SalePrice": None if p["retail_price"] is None else round(p["retail_price"], 2)}
        taxonomy = [t for t in (p["department"], p["category"]) if t]
        products[str(p["id"])] = reference._clean({"ProductId": str(p["id"]), "ProductName": p["name"] or None,
                                                   "Taxonomy": taxonomy or None, "ProductVariants": [variant]})
    lines: dict[int, list[dict]] = {}
    for li in rows(con, """
            SELECT i.order_id, i.product_id, i.sale_price, count(DISTINCT i.id) AS units, any_value(p.name) AS name,
                   any_value(p.sku) AS sku
            FROM order_items i LEFT JOIN products p ON p.id = i.product_id GROUP BY ALL"""):
        lines.setdefault(li["order_id"], []).append(reference._clean({
            "ProductId": str(li["product_id"]), "VariantId": str(li["product_id"]), "Sku": li["sku"], "ProductName": li["name"],
            "Quantity": li["units"], "Price": None if li["sale_price"] is None else round(li["sale_price"], 2)}))
    orders = {}
    for o in rows(con, """
            SELECT o.*, u.email, strftime(o.created_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS order_date
            FROM orders o LEFT JOIN (SELECT DISTINCT id, email FROM users) u ON u.id = o.user_id
            WHERE o.order_id NOT IN (80001, 80002, 80014)"""):
        items = lines.get(o["order_id"], [])
        orders[str(o["order_id"])] = reference._clean({
            "OrderId": str(o["order_id"]), "CustomerId": str(o["user_id"]), "Email": o["email"] and o["email"].strip(),
            "Currency": "USD", "OrderDate": o["order_date"], "Status": STATUS.get(o["status"]), "OrderItems": items,
            "TotalRevenue": sum(i["Price"] * i["Quantity"] for i in items), "TotalQuantity": sum(i["Quantity"] for i in items),
            "UniqueQuantity": len({i["ProductId"] for i in items})})
    con.close()
    return {"customers": customers, "products": products, "orders": orders}


def test_thelook_is_stored_as_its_tables_say_and_each_planted_row_gets_its_verdict(world, thelook):
    world.use(thelook, MAPPING)
    expected = expected_records(thelook)
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert code == 0, counts
        assert counts["rows_read"] == sum(counts[k] for k in CLOSING), counts
        assert counts["rows_dead_lettered"] == counts["rows_held_back"] == 0
        assert counts["records_sent"] == len(expected[entity])
        assert len(sent) == math.ceil(len(expected[entity]) / ENTITIES[entity].hard_max)
        result = reference.compare(world.stored(entity), expected[entity])
        assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
    with duckdb.connect(str(world.state_dir / "state.duckdb"), read_only=True) as con:
        got = {(e, "row" if r.startswith("row ") else r, rule, f)
               for e, r, rule, f in con.sql("SELECT entity, record_id, rule, field FROM quarantine").fetchall()}
    assert got == QUARANTINED
    customers, orders, products = world.stored("customers"), world.stored("orders"), world.stored("products")
    # Shared emails: the newest user of an address is sent; an undated user loses to a dated one.
    assert customers["email:shared@example.com"]["CustomerId"] == "50003"
    assert customers["email:twin@example.com"]["CustomerId"] == "50004"
    assert customers["email:nulltime@example.com"]["CustomerId"] == "50008"
    assert customers["email:mixed.case@example.com"]["Email"] == "Mixed.Case@Example.COM"
    assert customers["email:u50009@example.com"]["Surname"] == "Ñúñez-Çelik 名前"
    assert "customerid:50013" in customers and "email:nodate@example.com" in customers
    # Orders: units counted once each, microseconds cut to milliseconds (never rounded up a day).
    assert [(i["Quantity"], i["Price"]) for i in orders["80006"]["OrderItems"]] == [(2, round(products["7"]["ProductVariants"][0]["SalePrice"], 2))]
    assert (orders["80007"]["TotalQuantity"], orders["80007"]["UniqueQuantity"], len(orders["80007"]["OrderItems"])) == (3, 1, 1)
    assert orders["80008"]["OrderDate"] == "2026-11-30T23:59:59.999Z"
    assert orders["80009"]["OrderItems"] == [] and orders["80009"]["TotalRevenue"] == 0
    assert orders["80005"]["Status"] == "refunded" and orders["80011"].get("Status") is None
    assert (orders["80012"]["CustomerId"], orders["80012"]["Email"]) == ("50002", "shared@example.com")
    assert orders["80013"]["TotalRevenue"] == 0.3  # three units at 0.1: cents, not 0.30000000000000004
    assert (orders["80015"]["TotalQuantity"], orders["80015"]["UniqueQuantity"], orders["80015"]["TotalRevenue"]) == (3, 1, 55.0)
    assert orders["80016"]["Email"] == "Mixed.Case@Example.COM" and orders["80017"]["Email"] == "not an email"
    assert orders["80004"]["CustomerId"] == "99999" and orders["80004"].get("Email") is None
    assert next(i for i in orders["80003"]["OrderItems"] if i["ProductId"] == "99999").get("ProductName") is None
    assert products["90001"].get("ProductName") is None and products["90006"]["Taxonomy"] == ["Women"]
    assert products["90004"]["ProductVariants"][0].get("SalePrice") is None and products["90008"]["ProductVariants"][0].get("Sku") is None
    # An unchanged warehouse: nothing sent.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity
