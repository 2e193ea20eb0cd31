"""A Spree / Solidus store (examples/spree: a Rails database's spree_* tables in DuckDB, with carts,
guest checkouts, master and option variants, one price row per currency, soft deletes, and dirt
planted with known verdicts) through examples/spree/mapping.yaml: every stored record equals what
plain SQL over the raw tables says, each planted row gets its verdict, the rows close, an unchanged
warehouse costs nothing, and the next day's soft deletes, hard delete (mirror), refund and
completed cart reach the tenant."""

import math
from datetime import datetime
from decimal import Decimal

import duckdb
import pytest
import reference
from conftest import CLOSING, EXAMPLES

from replenit_pipelines.lib.contract.entities import ENTITIES

MAPPING = EXAMPLES / "spree" / "mapping.yaml"
STATUS = {"complete": "completed", "awaiting_return": "completed", "canceled": "cancelled", "returned": "refunded"}


@pytest.fixture
def spree(tmp_path):
    # Imported as a package of examples/ (on the path from conftest): `generate` alone is the name
    # of the other examples' generators too.
    from spree import generate

    return generate.build(tmp_path / "spree.duckdb"), generate


def rows(con, sql: str) -> list[dict]:
    return con.sql(sql).pl().to_dicts()


def phone(raw: str | None, iso: str | None) -> str | None:
    """E.164 as the mapping means it: a '+' number's digits, or a US number of ten digits."""
    if raw is None:
        return None
    digits = "".join(ch for ch in raw if ch.isdigit())
    if raw.strip().startswith("+"):
        return "+" + digits
    return "+1" + digits if iso == "US" and len(digits) == 10 else None


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def expected_records(path, quarantined: set[str]) -> dict[str, dict[str, dict]]:
    """What the tenant must hold, from the raw tables (never through the project's code); the
    records the contract refuses (`quarantined`) are left out by id."""
    con = duckdb.connect(str(path), read_only=True)
    now = datetime.now()  # noqa: DTZ005 - the warehouse's times are naive UTC, as DuckDB's current_timestamp compares them
    customers: dict[str, dict] = {}
    # One customer per address, the newest user (by the newer of the user's and its address's
    # update) wins; an address whose newest user is soft-deleted is not held.
    for u in rows(con, """
            SELECT u.*, a.firstname, a.lastname, a.phone, c.iso, greatest(u.updated_at, a.updated_at) AS changed
            FROM spree_users u LEFT JOIN spree_addresses a ON a.id = u.bill_address_id
            LEFT JOIN spree_countries c ON c.id = a.country_id ORDER BY changed"""):
        if f"customerid:{u['id']}" in quarantined:
            continue
        key = f"email:{u['email'].strip().lower()}"
        customers[key] = reference._clean({"CustomerId": str(u["id"]), "Email": u["email"], "Name": u["firstname"],
                                           "Surname": u["lastname"], "Phone": phone(u["phone"], u["iso"]),
                                           "deleted": u["deleted_at"] is not None})
    customers = {k: {f: v for f, v in c.items() if f != "deleted"} for k, c in customers.items() if not c["deleted"]}
    variants: dict[int, list[dict]] = {}
    for v in rows(con, """
            SELECT v.*, p.available_on, p.discontinue_on,
                   (SELECT amount FROM spree_prices WHERE variant_id = v.id AND currency = 'USD' AND deleted_at IS NULL) AS usd,
                   (SELECT sum(count_on_hand) FROM spree_stock_items WHERE variant_id = v.id AND deleted_at IS NULL) AS stock,
                   (SELECT count(*) FROM spree_variants o WHERE o.product_id = v.product_id AND NOT o.is_master
                    AND o.deleted_at IS NULL) AS options
            FROM spree_variants v JOIN spree_products p ON p.id = v.product_id WHERE v.deleted_at IS NULL"""):
        if v["is_master"] and v["options"]:
            continue  # a product with options sells them, not its master
        available = (v["available_on"] is not None and v["available_on"] <= now
                     and (v["discontinue_on"] is None or v["discontinue_on"] > now))
        variants.setdefault(v["product_id"], []).append(reference._clean({
            "VariantId": str(v["id"]), "Sku": v["sku"], "SalePrice": money(v["usd"]),
            "Currency": "USD" if v["usd"] is not None else None, "StockQuantity": None if v["stock"] is None else int(v["stock"]), "IsAvailable": available}))
    products = {}
    for p in rows(con, """
            SELECT p.*, (SELECT list(t.name ORDER BY t.name) FROM spree_products_taxons pt JOIN spree_taxons t
                         ON t.id = pt.taxon_id AND t.taxonomy_id = 1 WHERE pt.product_id = p.id) AS categories
            FROM spree_products p WHERE p.deleted_at IS NULL"""):
        if str(p["id"]) in quarantined:
            continue
        products[str(p["id"])] = reference._clean({"ProductId": str(p["id"]), "ProductName": p["name"],
                                                   "Taxonomy": p["categories"] or None,
                                                   "ProductVariants": variants.get(p["id"], [])})
    lines: dict[int, list[dict]] = {}
    for li in rows(con, """
            SELECT li.*, v.product_id, v.sku, p.name FROM spree_line_items li
            LEFT JOIN spree_variants v ON v.id = li.variant_id LEFT JOIN spree_products p ON p.id = v.product_id"""):
        lines.setdefault(li["order_id"], []).append(reference._clean({
            "ProductId": str(li["product_id"]), "VariantId": str(li["variant_id"]), "Sku": li["sku"],
            "ProductName": li["name"], "Quantity": li["quantity"], "Price": money(li["price"])}))
    orders = {}
    for o in rows(con, "SELECT * FROM spree_orders WHERE completed_at IS NOT NULL"):
        if o["number"] in quarantined:
            continue
        items = lines.get(o["id"], [])
        orders[o["number"]] = reference._clean({
            "OrderId": o["number"], "CustomerId": None if o["user_id"] is None else str(o["user_id"]),
            "Email": o["email"] and o["email"].strip(), "Currency": o["currency"],
            "OrderDate": o["completed_at"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "TotalRevenue": money(o["total"]),
            "Status": STATUS.get(o["state"]), "OrderItems": items, "TotalQuantity": sum(i["Quantity"] for i in items),
            "UniqueQuantity": len({i["ProductId"] for i in items})})
    con.close()
    return {"customers": customers, "products": products, "orders": orders}



def sync_all(world, expected, *args: str) -> dict[str, dict]:
    """`sync ENTITY --all` for each entity, its counts closing and the tenant then holding `expected`."""
    out = {}
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all", *args)
        assert code == 0, counts
        assert counts["rows_read"] == sum(counts[k] for k in CLOSING), counts
        assert counts["rows_dead_lettered"] == counts["rows_held_back"] == 0, counts
        result = reference.compare(world.stored(entity), expected[entity])
        assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
        out[entity] = counts | {"requests": sent}
    return out


def test_spree_is_stored_as_its_tables_say_and_each_planted_row_gets_its_verdict(world, spree):
    path, generate = spree
    world.use(path, MAPPING)
    refused = {record for _, record, _, _ in generate.QUARANTINED}
    expected = expected_records(path, refused)
    # The shapes are there: carts, guests, masters beside options, two currencies, soft deletes.
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM spree_orders WHERE completed_at IS NULL").fetchall() == [(150,)]
        assert con.sql("SELECT count(DISTINCT variant_id) FROM spree_prices WHERE currency = 'EUR'").fetchall()[0][0] > 50
    first = sync_all(world, expected)
    for entity in ("customers", "products", "orders"):
        assert first[entity]["records_sent"] == len(expected[entity])
        assert len(first[entity]["requests"]) == math.ceil(len(expected[entity]) / ENTITIES[entity].hard_max)
        assert all(r["method"] == "POST" for r in first[entity]["requests"])  # nothing Replenit never held is deleted
    assert world.verdicts() == generate.QUARANTINED
    # Soft-deleted, never sent: counted, not requested (5002 and 5008, whose email 5009 took again,
    # not a merge of 5009; 907).
    assert (first["customers"]["rows_deleted"], first["customers"]["records_merged"], first["products"]["rows_deleted"]) == (2, 0, 1)
    assert first["orders"]["rows_read"] == first["orders"]["rows_delivered"] + 2  # carts never read; R900000003's 2 lines

    customers, products, orders = world.stored("customers"), world.stored("products"), world.stored("orders")
    assert customers["email:john.smith@example.com"]["Email"] == "John.Smith@Example.COM"
    assert "customerid:5002" not in customers and "email:gone@example.com" not in customers
    assert (customers["email:u5003@example.com"]["Phone"], customers["email:u5004@example.com"]["Phone"]) == ("+15550102040", "+442079460958")
    assert customers["email:u5005@example.com"].get("Phone") is None
    assert set(reference._clean(customers["email:u5006@example.com"])) == {"CustomerId", "Email"}
    assert customers["email:reuse@example.com"]["CustomerId"] == "5009"
    assert [v["Sku"] for v in products["901"]["ProductVariants"]] == ["SKU-901"]
    assert sorted(v["Sku"] for v in products["902"]["ProductVariants"]) == ["SKU-902-1", "SKU-902-2"]
    assert (products["903"]["ProductVariants"][0]["SalePrice"], products["903"]["ProductVariants"][0]["Currency"]) == (20.0, "USD")
    assert not {"SalePrice", "Currency"} & set(reference._clean(products["904"]["ProductVariants"][0]))
    assert products["905"]["ProductVariants"][0].get("SalePrice") is None
    assert [v["IsAvailable"] for v in products["906"]["ProductVariants"]] == [False]
    assert "907" not in products and products["908"].get("Taxonomy") is None
    assert products["909"]["ProductVariants"][0]["IsAvailable"] is False and products["910"]["ProductName"] == "Café – ☕ Mug"
    assert not any(o.startswith("R2") for o in orders)  # carts
    assert orders["R900000001"].get("CustomerId") is None and orders["R900000001"]["Email"] == "JOHN.SMITH@example.com"
    assert orders["R900000002"]["OrderItems"][0]["Sku"] == "SKU-902-3"
    assert (orders["R900000004"]["Status"], orders["R900000004"]["OrderDate"]) == ("refunded", "2026-10-15T10:15:00.000Z")
    assert [orders[n].get("Status") for n in ("R900000005", "R900000006")] == ["cancelled", "completed"]
    assert (orders["R900000007"]["Currency"], orders["R900000007"]["OrderItems"][0]["Price"]) == ("EUR", 18.4)
    assert orders["R900000008"]["CustomerId"] == "5002"
    assert (orders["R900000009"]["OrderItems"], orders["R900000009"]["TotalRevenue"]) == ([], 0.0)
    assert (orders["R900000010"]["OrderItems"][0]["Price"], orders["R900000010"]["TotalRevenue"]) == (19.99, 64.97)
    assert orders["R900000011"]["OrderItems"][0]["ProductId"] == "901"

    # An unchanged warehouse: nothing sent.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity

    # The next day: soft deletes reach the tenant as DELETEs, a hard delete only with --mirror.
    generate.mutate(path)
    expected = expected_records(path, refused)
    code, counts, sent = world.sync("products", "--all")
    assert (code, counts["records_absent"], counts["records_deleted"]) == (0, 0, 1), counts  # absence is looked for with --mirror
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in sent if r["method"] == "DELETE"] == [("DELETE", "2")]
    assert "909" in world.stored("products")
    code, counts, sent = world.sync("products", "--all", "--mirror")
    assert (code, counts["records_absent"], counts["records_deleted"]) == (0, 1, 1), counts
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in sent] == [("DELETE", "909")]
    nxt = sync_all(world, expected)
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in nxt["customers"]["requests"]] == [("DELETE", "1")]
    assert nxt["orders"]["records_sent"] == 2  # the refund and the completed cart
    orders = world.stored("orders")
    assert orders["R900000010"]["Status"] == "refunded" and "R200000001" in orders
    assert [v["Sku"] for v in world.stored("products")["902"]["ProductVariants"]] == ["SKU-902-1"]
