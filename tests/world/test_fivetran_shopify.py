"""Shopify as Fivetran's connector lands it (examples/fivetran_shopify: the connector's raw tables in
DuckDB, `customer` in history mode, `_fivetran_synced` as the window, `_fivetran_deleted` soft
deletes, BIGINT ids beyond 2^53, NUMERIC(28,4) line prices, and dirt planted with known verdicts)
through examples/fivetran_shopify/mapping.yaml: every stored record equals what plain SQL over the
raw tables says, each planted row gets its verdict, the rows close, an unchanged warehouse costs
nothing, and the connector's next sync (re-synced rows with identical content, a new customer
version, deletes) costs exactly its changes, in the partitions that read it."""

import math

import duckdb
import pytest
import reference
from conftest import EXAMPLES, closes

from replenit_pipelines.lib.contract.entities import ENTITIES

MAPPING = EXAMPLES / "fivetran_shopify" / "mapping.yaml"
BIG = 2**53 + 1
QUARANTINED = {  # the planted rows the contract refuses: (entity, record id, rule, field)
    ("customers", "email:phone@example.com", "phone", "Phone"),
    ("orders", "6008", "required", "OrderItems.ProductId"),
}


@pytest.fixture
def fivetran(tmp_path):
    # Imported as a package of examples/ (on the path from conftest): `generate` alone is the name
    # of the other examples' generators too.
    from fivetran_shopify import generate

    path = tmp_path / "fivetran.duckdb"
    generate.build(str(path))
    return path, generate


def rows(con, sql: str) -> list[dict]:
    return con.sql(sql).pl().to_dicts()


def status(o: dict) -> str | None:
    if o["cancelled_at"] is not None:
        return "cancelled"
    return {"refunded": "refunded", "paid": "completed", "partially_refunded": "completed"}.get(o["financial_status"])


def expected_records(path) -> dict[str, dict[str, dict]]:
    """What the tenant must hold, from the raw tables (never through the project's code): the planted
    rows the contract refuses are left out by id (the test checks their quarantine)."""
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    customers = {}
    # Each id's newest version; a customer without an active version is deleted. One address, one customer.
    for c in rows(con, """
            SELECT * FROM shopify.customer WHERE id <> 5010
            QUALIFY row_number() OVER (PARTITION BY id ORDER BY _fivetran_start DESC) = 1"""):
        if not c["_fivetran_active"]:
            continue
        identity = f"email:{c['email'].strip().lower()}" if c["email"] else f"customerid:{c['id']}"
        assert identity not in customers, identity  # no live address is shared in this warehouse
        customers[identity] = reference._clean({"CustomerId": str(c["id"]), "Email": c["email"], "Name": c["first_name"],
                                                "Surname": c["last_name"], "Phone": c["phone"], "EmailOptin": c["accepts_marketing"]})
    [(currency,)] = con.sql("SELECT currency FROM shopify.shop").fetchall()
    variants: dict[int, list[dict]] = {}
    for v in rows(con, """SELECT v.*, p.status FROM shopify.product_variant v JOIN shopify.product p ON p.id = v.product_id
                          WHERE NOT v._fivetran_deleted"""):
        variants.setdefault(v["product_id"], []).append(reference._clean({
            "VariantId": str(v["id"]), "Sku": v["sku"], "VariantName": v["title"], "SalePrice": v["price"],
            "OriginalPrice": v["compare_at_price"], "Currency": currency, "StockQuantity": max(v["inventory_quantity"], 0),
            "IsAvailable": v["status"] == "active"}))
    products = {}
    for p in rows(con, "SELECT * FROM shopify.product WHERE NOT _fivetran_deleted"):
        products[str(p["id"])] = reference._clean({"ProductId": str(p["id"]), "ProductName": p["title"],
                                                   "Taxonomy": p["product_type"].split("/") if p["product_type"] else None,
                                                   "ProductVariants": variants.get(p["id"], [])})
    lines: dict[int, list[dict]] = {}
    for li in rows(con, "SELECT * FROM shopify.order_line"):
        lines.setdefault(li["order_id"], []).append(reference._clean({
            "ProductId": None if li["product_id"] is None else str(li["product_id"]),
            "VariantId": None if li["variant_id"] is None else str(li["variant_id"]), "Sku": li["sku"],
            "ProductName": li["title"], "Quantity": li["quantity"], "Price": float(li["price"])}))
    orders = {}
    for o in rows(con, """
            SELECT *, strftime(processed_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS order_date FROM shopify."order"
            WHERE NOT test AND NOT _fivetran_deleted AND id <> 6008"""):
        items = lines.get(o["id"], [])
        orders[str(o["id"])] = reference._clean({
            "OrderId": str(o["id"]), "CustomerId": None if o["customer_id"] is None else str(o["customer_id"]),
            "Email": o["email"], "Currency": o["currency"], "OrderDate": o["order_date"], "TotalRevenue": o["total_price"],
            "Status": status(o), "OrderItems": items, "TotalQuantity": sum(i["Quantity"] for i in items),
            "UniqueQuantity": len({i["ProductId"] for i in items})})
    con.close()
    return {"customers": customers, "products": products, "orders": orders}



def closes_clean(counts: dict) -> bool:
    return closes(counts) and counts["rows_dead_lettered"] == counts["rows_held_back"] == 0


def test_fivetran_shopify_is_stored_as_its_tables_say_and_each_planted_row_gets_its_verdict(world, fivetran):
    path, generate = fivetran
    world.use(path, MAPPING)
    expected = expected_records(path)
    first = {}
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert code == 0 and closes_clean(counts), counts
        assert counts["records_sent"] == len(expected[entity])
        assert len(sent) == math.ceil(len(expected[entity]) / ENTITIES[entity].hard_max)
        assert all(r["method"] == "POST" for r in sent)  # nothing Replenit never held is deleted
        result = reference.compare(world.stored(entity), expected[entity])
        assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
        first[entity] = counts
    assert world.verdicts() == QUARANTINED
    # Soft-deleted before the first load, never sent: customers 5002 and 5004 (closed in history mode),
    # product 7003 (its 2 variants), order 6010.
    assert [first[e]["rows_deleted"] for e in ("customers", "products", "orders")] == [2, 2, 1]
    assert [first[e]["records_deleted"] for e in ("customers", "products", "orders")] == [0, 0, 0]

    customers, products, orders = world.stored("customers"), world.stored("products"), world.stored("orders")
    assert customers["email:big@example.com"]["CustomerId"] == str(BIG) == "9007199254740993"
    assert (customers["email:ada.new@example.com"]["Surname"], customers["email:ada.new@example.com"]["CustomerId"]) == ("Newname", "5001")
    assert not {"email:ada.old@example.com", "email:ada.mid@example.com", "email:gone@example.com"} & set(customers)
    assert customers["email:shared@example.com"]["CustomerId"] == "5005" and first["customers"]["records_merged"] == 0
    assert customers["customerid:5003"].get("Email") is None and customers["email:nooptin@example.com"].get("EmailOptin") is None
    assert [v["IsAvailable"] for v in products["7001"]["ProductVariants"] + products["7002"]["ProductVariants"]] == [False] * 4
    assert "7003" not in products and [v["VariantId"] for v in products["7004"]["ProductVariants"]] == ["70041"]
    assert products["7005"]["ProductVariants"][0]["StockQuantity"] == 0 and products["7006"].get("Taxonomy") is None
    assert products["9007199254740995"]["ProductVariants"][0]["VariantId"] == "9007199254740997"
    assert (products["7007"]["ProductVariants"][0]["SalePrice"], products["7007"]["ProductVariants"][0].get("OriginalPrice")) == (19.99, None)
    assert (orders["6001"].get("CustomerId"), orders["6001"]["Email"]) == (None, "guest@example.com")
    assert orders["6002"]["CustomerId"] == "9007199254740993" and orders["6003"]["Currency"] == "USD"
    assert [orders[o]["Status"] for o in ("6004", "6005", "6006")] == ["refunded", "completed", "cancelled"]
    assert {i["VariantId"] for i in orders["6007"]["OrderItems"]} == {"70041", "70042"}
    assert (orders["6009"]["OrderItems"][0]["Price"], orders["6009"]["TotalRevenue"], orders["6009"]["TotalQuantity"]) == (12.3456, 37.04, 3)
    assert not {"6008", "6010", "6011"} & set(orders)
    assert orders["6012"].get("CustomerId") is None and orders["6012"].get("Email") is None
    assert "9007199254740997" in orders and orders["6016"]["TotalRevenue"] == 0.3

    # An unchanged warehouse: nothing sent.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity

    # The connector's next sync: each partition that reads it sends its changes and nothing else.
    generate.advance(str(path))
    expected = expected_records(path)
    code, counts, sent = world.sync("customers", "--partition", "2026-12-01")
    assert code == 0 and closes_clean(counts), counts
    # 5007 re-synced as an identical version: unchanged; 5008 renamed: sent; 5009 closed: deleted.
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in sent][1:] == [("DELETE", "5009")]
    assert (counts["records_sent"], counts["records_deleted"]) == (1, 1)
    assert world.stored("customers")["email:renamed@example.com"]["Surname"] == "After"
    code, counts, sent = world.sync("products", "--partition", "2026-12-01-09:00")
    assert code == 0 and closes_clean(counts), counts
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in sent] == [("DELETE", "7009")]  # 7008 re-synced: unchanged
    assert counts["rows_unchanged"] == 2
    code, counts, sent = world.sync("orders", "--partition", "2026-12-01-09:00")
    assert code == 0 and closes_clean(counts), counts
    assert [r["method"] for r in sent] == ["POST", "DELETE"] and sent[1]["path"].endswith("/6014")
    assert (counts["records_sent"], counts["rows_unchanged"]) == (1, 1)  # 6015 cancelled; 6013 re-synced: unchanged
    assert world.stored("orders")["6015"]["Status"] == "cancelled"
    for entity in ("customers", "products", "orders"):
        result = reference.compare(world.stored(entity), expected[entity])
        assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
    # The same partitions again, and the whole source: nothing to send, nothing to delete.
    for entity, partition in (("customers", "2026-12-01"), ("products", "2026-12-01-09:00"), ("orders", "2026-12-01-09:00")):
        for args in (("--partition", partition), ("--all", "--mirror")):
            code, counts, sent = world.sync(entity, *args)
            assert (code, sent, counts["records_sent"]) == (0, [], 0), (entity, args)
