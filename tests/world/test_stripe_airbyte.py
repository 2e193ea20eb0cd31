"""Stripe as Airbyte's Stripe source lands it in DuckDB (examples/stripe_airbyte: Destinations V2
typed tables in append mode, a row per extraction; epoch times; amounts in minor units with
zero-decimal currencies; dirt planted with known verdicts) through examples/stripe_airbyte/mapping.yaml:
the verdicts of examples/stripe_airbyte/VERDICTS.md (written before the first run) against what the
sandbox holds, totals checked against plain SQL over the raw tables; the rows close, an unchanged
warehouse costs nothing, and the next day's deleted customers (one a stub without its email), voided
invoice and replaced price reach the tenant by their partitions."""

import duckdb
import pytest
from conftest import EXAMPLES, closes

MAPPING = EXAMPLES / "stripe_airbyte" / "mapping.yaml"
ZERO_DECIMAL = ("jpy",)  # the only zero-decimal currency the generator uses


@pytest.fixture
def stripe(tmp_path):
    # Imported as a package of examples/ (on the path from conftest): `generate` alone is the name
    # of the other examples' generators too.
    from stripe_airbyte import generate

    return generate.build(tmp_path / "stripe.duckdb"), generate


def final_invoices(path) -> dict[str, tuple[str, float, str]]:
    """Every invoice the mapping reads, by plain SQL over its newest row: id -> (status, total in
    major units, currency)."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("""
            SELECT id, status, total, currency FROM invoices
            QUALIFY row_number() OVER (PARTITION BY id ORDER BY _airbyte_extracted_at DESC) = 1""").fetchall()
    return {i: (s, float(t) if c in ZERO_DECIMAL else t / 100, c.upper())
            for i, s, t, c in rows if s in ("paid", "void", "uncollectible")}


def test_stripe_through_airbyte_is_stored_as_the_verdicts_written_before_the_run_say(world, stripe):
    path, generate = stripe
    world.use(path, MAPPING)
    first = {}
    for entity, (counts, sent) in world.load_all().items():
        assert all(r["method"] == "POST" for r in sent) and counts["rows_tied"] == 0, entity
        first[entity] = counts
    c, p, o = first["customers"], first["products"], first["orders"]
    assert (c["rows_read"], c["rows_delivered"], c["rows_quarantined"], c["rows_superseded"], c["rows_deleted"],
            c["records_merged"], c["records_sent"]) == (219, 212, 3, 3, 1, 1, 212)
    assert (p["rows_read"], p["rows_delivered"], p["rows_quarantined"], p["rows_superseded"], p["rows_deleted"],
            p["records_sent"], p["records_without_children"]) == (70, 66, 2, 1, 1, 33, 1)
    assert (o["rows_read"], o["rows_delivered"], o["rows_quarantined"], o["rows_superseded"], o["records_sent"]) == (
        508, 502, 5, 1, 294)

    verdicts = world.verdicts()
    assert {v for v in verdicts if not v[1].startswith("row ")} == {
        ("customers", "customerid:cus_BADEMAIL01", "email", "Email"),
        ("customers", "customerid:cus_BADEMAIL02", "email", "Email"),
        ("customers", "email:shortphone@example.com", "phone", "Phone"),
        ("products", "prod_LONGNAME01", "max_length", "ProductName"),
        ("orders", "in_NULLPRICE01", "required", "OrderItems.ProductId"),
        ("orders", "in_QTYZERO0001", "range", "OrderItems.Quantity"),
    }
    # The orphan price and the orphan line belong to no record: `row N`, the id they name as the value.
    assert {(e, rule, f) for e, r, rule, f in verdicts if r.startswith("row ")} == {
        ("products", "required", "ProductId"), ("orders", "required", "OrderId")}

    customers, products, orders = world.stored("customers"), world.stored("products"), world.stored("orders")
    assert (len(customers), len(products), len(orders)) == (212, 33, 294)
    # Customers.
    assert customers["customerid:cus_NOEMAIL001"].get("Email") is None
    assert customers["email:localphone@example.com"].get("Phone") is None
    assert customers["email:intlphone@example.com"]["Phone"] == "+442079460958"
    assert [customers[f"email:locale{i}@example.com"].get("Language") for i in (1, 2, 3)] == ["de-DE", "en-US", None]
    shared = customers["email:shared@example.com"]
    assert (shared["CustomerId"], shared["Email"], shared["Name"], shared["Surname"]) == (
        "cus_SHAREDNEW1", "Shared@Example.com", "New", "Checkout")
    assert customers["email:renamed@example.com"]["Surname"] == "After"
    assert (customers["email:oneword@example.com"]["Name"], customers["email:oneword@example.com"].get("Surname")) == ("Cher", None)
    assert "email:deleted1@example.com" not in customers
    # Products: prices in major units, zero-decimal currencies whole, currencies upper-cased.
    variants = {v["VariantId"]: v for v in products["prod_PRICED0001"]["ProductVariants"]}
    assert {k: (v.get("SalePrice"), v["Currency"], v["IsAvailable"]) for k, v in variants.items()} == {
        "price_CENTS00001": (19.99, "USD", True), "price_YEN0000001": (500, "JPY", True),
        "price_TIERED0001": (None, "USD", True), "price_DUPLICATE1": (17.99, "EUR", True)}
    assert [(v["SalePrice"], v["IsAvailable"]) for v in products["prod_ARCHIVED01"]["ProductVariants"]] == [(12.0, False)]
    assert products["prod_NOPRICES01"]["ProductVariants"] == []
    assert not {"prod_LONGNAME01", "prod_DELETED001", "prod_MISSING001"} & set(products)
    # Orders: ids, statuses and totals as the raw tables say.
    raw = final_invoices(path)
    assert set(orders) == set(raw) - {"in_NULLPRICE01", "in_QTYZERO0001"}
    for oid, record in orders.items():
        status, total, currency = raw[oid]
        expected = "refunded" if oid == "in_REFUNDED001" else "completed" if status == "paid" else "cancelled"
        assert (record["Status"], record["TotalRevenue"], record["Currency"]) == (expected, total, currency), oid
    assert orders["in_BADEMAIL001"]["Email"] == "nobody at mail"
    yen = orders["in_YEN00000001"]
    assert (yen["TotalRevenue"], yen["OrderItems"][0]["Price"], yen["OrderItems"][0]["Quantity"]) == (1500, 500, 3)
    assert (orders["in_PRICEID0001"]["OrderItems"][0]["ProductId"], orders["in_PRICEID0001"]["OrderItems"][0]["VariantId"]) == (
        "prod_PRICED0001", "price_CENTS00001")
    assert (orders["in_NOLINES0001"]["OrderItems"], orders["in_NOLINES0001"]["TotalRevenue"]) == ([], 49.0)
    assert orders["in_THIRDS00001"]["OrderItems"][0]["Price"] == pytest.approx(10 / 3)
    assert (orders["in_SHAREDOLD01"]["CustomerId"], orders["in_SHAREDOLD01"]["Email"]) == ("cus_SHAREDOLD1", "shared@example.com")
    assert orders["in_OPENTHENPAID"]["OrderDate"] == "2026-11-25T12:00:00.000Z"
    assert "in_GOESVOID001" not in orders

    # An unchanged warehouse: nothing sent.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity

    # The next day, by its partitions. cus_GOESAWAY02 is deleted by a stub row without its email:
    # it is still deleted at the address Replenit holds it by.
    generate.mutate(path)
    code, counts, sent = world.sync("customers", "--partition", "2026-12-02")
    assert code == 0 and closes(counts)
    assert sorted((r["method"], r["path"].rsplit("/", 1)[-1]) for r in sent) == [
        ("DELETE", "cus_GOESAWAY01"), ("DELETE", "cus_GOESAWAY02")]
    customers = world.stored("customers")
    assert len(customers) == 210 and not any("goesaway" in k for k in customers)
    code, counts, sent = world.sync("products", "--partition", "2026-12-02-02:00")
    assert (code, counts["records_sent"]) == (0, 1) and closes(counts)
    variants = {v["VariantId"]: v for v in world.stored("products")["prod_PRICED0001"]["ProductVariants"]}
    assert (variants["price_CENTS00001"]["IsAvailable"], variants["price_CENTS00002"]["SalePrice"]) == (False, 24.99)
    code, counts, sent = world.sync("orders", "--partition", "2026-12-02-02:00")
    assert (code, counts["records_sent"]) == (0, 1) and closes(counts)
    assert world.stored("orders")["in_GOESVOID001"]["Status"] == "cancelled"
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent) == (0, []), entity
