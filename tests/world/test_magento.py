"""A Magento 2 warehouse (examples/magento: generate.py builds it with planted dirty rows) through
examples/magento/mapping.yaml, as a user maps it: every record the sandbox stores equals what plain
SQL over the raw Magento tables says (a configurable product's order line counted once, names from
the default store view, variants through catalog_product_super_link, a shared address merged into
its newest customer), each planted dirty row gets its known verdict, the counts close, and an
unchanged warehouse costs nothing the second time."""

import io
import json
from collections import Counter
from contextlib import redirect_stdout

import duckdb
import pytest
import reference
from conftest import EXAMPLES

from replenit_pipelines.cli import main

ISO = "%Y-%m-%dT%H:%M:%S.000Z"
MAPPING = EXAMPLES / "magento" / "mapping.yaml"
STATUS = {"complete": "completed", "canceled": "cancelled", "closed": "refunded"}


@pytest.fixture(scope="module")
def magento(tmp_path_factory):
    # By its package: a bare `generate` is whichever example's was imported first in this process.
    from magento import generate

    path = tmp_path_factory.mktemp("magento") / "magento.duckdb"
    generate.build(str(path))
    return path, generate.PLANTED


def rows(con, sql: str) -> list[dict]:
    return con.sql(sql).pl().to_dicts()


def expected_records(path) -> dict[str, dict[str, dict]]:
    """What the tenant must hold, from the raw tables (never through the project's code). The planted
    dirty rows are left out by their ids: test_planted_rows... checks they are quarantined."""
    con = duckdb.connect(str(path), read_only=True)
    customers: dict[str, dict] = {}
    for c in rows(con, """SELECT * FROM customer_entity QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY updated_at DESC) = 1
                          ORDER BY updated_at"""):  # ascending: under one address the newest is written last
        if c["email"] == "not-an-email":
            continue
        email = c["email"].strip() if c["email"] else None
        key = f"email:{email.lower()}" if email else f"customerid:{c['entity_id']}"
        customers[key] = {"CustomerId": str(c["entity_id"]), "Email": email, "Name": c["firstname"], "Surname": c["lastname"]}
    names = {r["entity_id"]: r["value"] for r in rows(con, "SELECT entity_id, value FROM catalog_product_entity_varchar WHERE store_id = 0 AND attribute_id = 73")}
    prices = {r["entity_id"]: float(r["value"]) for r in rows(con, "SELECT entity_id, value FROM catalog_product_entity_decimal WHERE store_id = 0 AND attribute_id = 77")}
    skus = {r["entity_id"]: r["sku"] for r in rows(con, "SELECT entity_id, sku FROM catalog_product_entity")}
    links = rows(con, "SELECT product_id, parent_id FROM catalog_product_super_link")
    linked = {link["product_id"] for link in links}
    products: dict[str, dict] = {}

    def variant(v: int) -> dict:
        return {"VariantId": str(v), "Sku": skus[v], "VariantName": names.get(v), "SalePrice": prices.get(v), "Currency": "EUR"}

    for p in rows(con, "SELECT entity_id, type_id FROM catalog_product_entity"):
        e = p["entity_id"]
        if e in linked or e == 9001:  # a variant; or the planted negative price
            continue
        own = [variant(e)] if p["type_id"] == "simple" else []
        products[str(e)] = {"ProductId": str(e), "ProductName": names.get(e),
                            "ProductVariants": own + [variant(link["product_id"]) for link in links if link["parent_id"] == e]}
    orders: dict[str, dict] = {}
    for o in rows(con, """SELECT * FROM sales_order WHERE entity_id < 9000
                          QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY updated_at DESC) = 1"""):
        lines = rows(con, f"""SELECT p.*, c.product_id AS child FROM sales_order_item p
                              LEFT JOIN sales_order_item c ON c.parent_item_id = p.item_id
                              WHERE p.order_id = {o['entity_id']} AND p.parent_item_id IS NULL""")  # noqa: S608 - an int
        items = [{"ProductId": str(li["product_id"]), "VariantId": str(li["child"] or li["product_id"]), "Sku": li["sku"],
                  "ProductName": li["name"], "Quantity": int(li["qty_ordered"]), "Price": float(li["price"]),
                  "OriginalPrice": float(li["original_price"])} for li in lines]
        orders[str(o["entity_id"])] = {
            "OrderId": str(o["entity_id"]), "CustomerId": str(o["customer_id"]), "Email": o["customer_email"],
            "Currency": o["order_currency_code"].upper(), "OrderDate": o["created_at"].strftime(ISO),
            "TotalRevenue": float(o["grand_total"]), "Status": STATUS.get(o["status"]), "OrderItems": items,
            "TotalQuantity": sum(i["Quantity"] for i in items), "UniqueQuantity": len({i["ProductId"] for i in items})}
    con.close()
    return {"customers": customers, "products": products, "orders": orders}


def test_a_magento_warehouse_is_stored_as_its_tables_say_and_each_planted_row_gets_its_verdict(world, magento):
    path, planted = magento
    world.use(path, MAPPING)
    expected = expected_records(path)
    # The shapes are there: configurable lines twice in sales_order_item, a configurable without variants.
    assert sum(len(o["OrderItems"]) for o in expected["orders"].values()) > 700
    assert expected["products"]["1020"]["ProductVariants"] == []
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert code == 0, counts
        assert counts["rows_read"] == (counts["rows_delivered"] + counts["rows_quarantined"] + counts["rows_superseded"]
                                       + counts["rows_unchanged"] + counts["rows_dead_lettered"] + counts["rows_held_back"])
        assert counts["records_sent"] == len(expected[entity]) and len(sent) == 1 and sent[0]["status"] == 200
        result = reference.compare(world.stored(entity), expected[entity])
        assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
    out = io.StringIO()  # the quarantine, as `replenit state` reads it
    with redirect_stdout(out):
        assert main(["state", "SELECT entity, record_id, rule, field FROM quarantine", "--json"]) == 0
    got = Counter((q["entity"], "row" if q["record_id"].startswith("row ") else q["record_id"], q["rule"], q["field"])
                  for q in json.loads(out.getvalue()))
    assert got == Counter(planted)
    # Unchanged: nothing to send.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, counts["rows_delivered"], sent) == (0, 0, [])
