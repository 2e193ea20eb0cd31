"""A Saleor store (examples/saleor: account_user with its billing address, products and variants
with one price per channel in three currencies, orders with guests, drafts, expired orders and
lines of deleted variants, dirt planted with known verdicts) through examples/saleor/mapping.yaml:
the verdicts of examples/saleor/VERDICTS.md (written before the first run) against what the sandbox
holds, checked against plain SQL over the raw tables; the rows close, an unchanged warehouse costs
nothing, and the next day's deactivated user, canceled order and USD price change reach the tenant
(the price, whose channel listing has no timestamp, by `--all` only)."""

import duckdb
import pytest
from conftest import EXAMPLES, closes

MAPPING = EXAMPLES / "saleor" / "mapping.yaml"
STATUS = {"canceled": "cancelled", "returned": "refunded"}  # every other status read is a completed sale


@pytest.fixture
def saleor(tmp_path):
    from saleor import generate  # a package of examples/ (on the path from conftest)

    return generate.build(tmp_path / "saleor.duckdb"), generate


def raw_orders(path) -> dict[str, tuple[str, float, str]]:
    """Every order the mapping reads, by plain SQL: number -> (status, total, currency)."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT number, status, total_gross_amount, currency FROM order_order "
                           "WHERE status NOT IN ('draft', 'expired')").fetchall()
    return {str(n): (s, float(t), c) for n, s, t, c in rows}


def orders_of_deleted_variants(path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT o.number FROM order_orderline l JOIN order_order o ON o.id = l.order_id "
                           "WHERE l.variant_id IS NULL AND o.status NOT IN ('draft', 'expired')").fetchall()
    return {str(r[0]) for r in rows}


def test_saleor_is_stored_as_the_verdicts_written_before_the_run_say(world, saleor):
    path, generate = saleor
    world.use(path, MAPPING)
    first = {entity: counts for entity, (counts, _) in world.load_all().items()}
    c, p, o = first["customers"], first["products"], first["orders"]
    assert (c["rows_read"], c["records_sent"], c["rows_quarantined"], c["rows_deleted"], c["rows_superseded"]) == (313, 310, 2, 1, 0)
    assert (p["rows_read"], p["rows_delivered"], p["records_sent"], p["rows_quarantined"], p["rows_superseded"]) == (116, 116, 70, 0, 0)
    assert (o["rows_read"], o["rows_delivered"], o["records_sent"], o["rows_quarantined"]) == (1539, 1513, 751, 26)

    bad_orders = orders_of_deleted_variants(path)
    assert bad_orders == {"40", "100", "300", "400", "480", "580", "640", "700", "720", "9008"}
    assert world.verdicts() == {("customers", "customerid:1005", "email", "Email"),
                                ("customers", "email:long@example.com", "max_length", "Name")} | {
        ("orders", n, "required", "OrderItems.ProductId") for n in bad_orders}

    customers, products, orders = world.stored("customers"), world.stored("products"), world.stored("orders")
    assert (len(customers), len(products), len(orders)) == (310, 70, 751)
    by_id = {r.get("CustomerId"): r for r in customers.values()}
    assert not {"1000", "1005", "1006", "1007", "1008"} & set(by_id)
    assert customers["email:ana.souza@example.com"]["Email"] == "Ana.Souza@Example.COM"
    assert [by_id[u]["Language"] for u in ("1001", "1002", "1003", "1004", "1012", "1014")] == [
        "pt-BR", "zh-Hans", "zh-Hant", "es-CO", "sr-Latn", "pl"]
    assert [by_id[u].get("Phone") for u in ("1009", "1010", "1011", "1014")] == [None, None, None, "+48501234567"]
    assert (by_id["1013"].get("Name"), by_id["1013"].get("Surname")) == (None, None)

    def variants(pid: str) -> list[tuple]:
        return [(v["VariantId"], v.get("Sku"), v.get("VariantName"), v.get("SalePrice"), v.get("OriginalPrice"),
                 v.get("Currency"), v["IsAvailable"]) for v in products[pid]["ProductVariants"]]
    assert variants("901") == [("9011", None, "M", 15.0, None, "USD", True)]
    assert variants("902") == [("9021", "PIE-1", "Small", 8.0, None, "USD", True),
                               ("9022", "PIE-2", "Large", None, None, None, False)]   # listed in PLN only
    assert variants("903") == [("9031", "MJ-1", "1 l", None, None, None, False)]
    assert products["904"]["ProductVariants"] == []
    assert variants("905") == [("9051", "CAP-1", "One size", 9.0, None, "USD", False)]  # unpublished in USD
    assert products["906"]["ProductName"] == "Café ☕ Mug – 350 ml"
    assert products["907"].get("Taxonomy") is None and products["901"]["Taxonomy"] == ["Apparel", "T-shirts"]
    assert variants("908")[0][2] is None
    assert variants("909") == [("9091", "CB-1", "250 ml", 19.99, 24.99, "USD", True)]   # cost 7.5 nowhere
    assert [v[0] for v in variants("910")] == ["9101"]
    # Every variant with a price has the default channel's, in USD.
    assert {v["Currency"] for r in products.values() for v in r["ProductVariants"] if v.get("SalePrice")} == {"USD"}

    raw = raw_orders(path)
    assert set(orders) == set(raw) - bad_orders
    for number, record in orders.items():
        status, total, currency = raw[number]
        assert (record["Status"], record["TotalRevenue"], record["Currency"]) == (
            STATUS.get(status, "completed"), total, currency), number
    assert not {"9002", "9003", "9008"} & set(orders)
    assert [(orders[n].get("CustomerId"), orders[n]["Email"]) for n in ("9001", "9011", "9013")] == [
        (None, "guest.buyer@example.org"), (None, "deleted.account@example.com"), ("1001", "ANA.SOUZA@example.com")]
    assert (orders["9007"]["Currency"], orders["9007"]["TotalRevenue"]) == ("PLN", 131.96)
    assert sorted((i["VariantId"], i["Quantity"], i["Price"]) for i in orders["9007"]["OrderItems"]) == [
        ("9021", 2, 32.0), ("9022", 1, 48.0)]
    assert [(i["ProductId"], i["Quantity"], i["Price"]) for i in orders["9010"]["OrderItems"]] == [("909", 3, 19.99)]
    assert (orders["9012"]["OrderItems"], orders["9012"]["TotalRevenue"]) == ([], 0.0)

    # An unchanged warehouse: nothing sent.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity

    # The next day, by its partitions.
    generate.mutate(path)
    code, counts, sent = world.sync("customers", "--partition", "2026-12-07")
    assert (code, counts["records_deleted"]) == (0, 1) and closes(counts)
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in sent] == [("DELETE", "5")]
    code, counts, sent = world.sync("orders", "--partition", "2026-12-07-10:00")
    assert (code, counts["records_sent"]) == (0, 1) and closes(counts)
    assert world.stored("orders")["10"]["Status"] == "cancelled"
    # A channel listing has no timestamp: the hour's partition cannot see the new price ...
    code, counts, sent = world.sync("products", "--partition", "2026-12-07-10:00")
    assert (code, counts["rows_read"], sent) == (0, 0, [])
    # ... the reconciliation sends it, and the PLN price change costs nothing.
    code, counts, sent = world.sync("products", "--all")
    assert (code, counts["records_sent"]) == (0, 1) and closes(counts)
    products = world.stored("products")
    assert products["1"]["ProductVariants"][0]["SalePrice"] == 12.5
    assert "email:user5@example.com" not in world.stored("customers") and len(world.stored("customers")) == 309
