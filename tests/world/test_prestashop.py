"""A PrestaShop store (examples/prestashop: ps_customer with MySQL zero dates in a text date_upd,
guests sharing an address with their later account, products priced by combination impacts, orders
in Paris wall time with a split cart's shared reference, orders awaiting payment left out, an orphan
line) through examples/prestashop/mapping.yaml: the verdicts of examples/prestashop/VERDICTS.md
(written before the first run) against what the sandbox holds; the rows close, an unchanged
warehouse costs nothing, and the next day's deleted customer, refunded order and combination price
(no update time: `--all` only) reach the tenant."""

import duckdb
import pytest
from conftest import EXAMPLES, closes

MAPPING = EXAMPLES / "prestashop" / "mapping.yaml"


@pytest.fixture
def prestashop(tmp_path):
    from prestashop import generate  # a package of examples/ (on the path from conftest)

    return generate.build(tmp_path / "prestashop.duckdb"), generate


def raw_totals(path) -> dict[str, tuple[float, int]]:
    """Each order's total and item count over its lines, by plain SQL, for the orders the mapping reads."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT o.id_order, o.total_paid_tax_incl, sum(d.product_quantity) FROM ps_orders o "
                           "JOIN ps_order_detail d USING (id_order) WHERE o.current_state NOT IN (1, 8, 10) "
                           "GROUP BY ALL").fetchall()
    return {str(o): (float(t), int(q)) for o, t, q in rows}


def test_prestashop_is_stored_as_the_verdicts_written_before_the_run_say(world, prestashop):
    path, generate = prestashop
    world.use(path, MAPPING)
    first = {entity: counts for entity, (counts, _) in world.load_all().items()}
    c, p, o = first["customers"], first["products"], first["orders"]
    assert (c["rows_read"], c["records_sent"], c["rows_quarantined"], c["rows_superseded"], c["rows_deleted"]) == (40, 36, 2, 1, 1)
    assert (p["rows_read"], p["rows_delivered"], p["records_sent"], p["rows_quarantined"]) == (16, 14, 12, 2)
    assert (o["rows_read"], o["rows_delivered"], o["records_sent"], o["rows_quarantined"]) == (59, 54, 28, 5)
    assert world.verdicts() == {
        ("customers", "customerid:32", "email", "Email"), ("customers", "email:long@example.fr", "max_length", "Surname"),
        ("orders", "26", "required", "Currency"), ("orders", "27", "range", "OrderItems.Quantity"),
        ("orders", "row 58", "required", "OrderId"), ("products", "11", "range", "ProductVariants.SalePrice")}

    customers, products, orders = world.stored("customers"), world.stored("products"), world.stored("orders")
    by_id = {r["CustomerId"]: r for r in customers.values()}
    assert sorted(by_id, key=int) == [str(i) for i in range(1, 31)] + ["34", "35", "37", "38", "39", "40"]
    assert customers["email:invite@example.fr"]["CustomerId"] == "34"     # the guest row 33 merged into it
    assert by_id["37"]["Email"] == "Marie.Curie@Example.FR"
    assert [by_id[i].get("Language") for i in ("1", "38", "40")] == ["fr-FR", None, "en-US"]
    assert (by_id["1"]["EmailOptin"], by_id["2"]["EmailOptin"]) == (True, False)

    assert sorted(orders, key=int) == [str(i) for i in [*range(1, 23), 25, *range(28, 33)]]
    assert [orders[n]["Status"] for n in ("1", "21", "22")] == ["completed", "cancelled", "refunded"]
    assert orders["25"]["Currency"] == "GBP"
    assert orders["1"]["OrderDate"] == "2026-11-10T14:00:00.000Z"        # 15:00 in Paris
    assert orders["30"]["OrderDate"] == "2026-10-25T00:30:00.000Z"       # 02:30 lived twice: the earlier
    assert [(i["ProductId"], i["VariantId"], i["Sku"], i["Quantity"], i["Price"]) for i in orders["32"]["OrderItems"]] == [
        ("5", "5-12", "REF-005-M", 2, 18.0)]
    assert orders["31"]["OrderItems"][0]["VariantId"] == "999-0"
    for number, (total, quantity) in raw_totals(path).items():
        if number in orders:
            assert (orders[number]["TotalRevenue"], orders[number]["TotalQuantity"]) == (total, quantity), number

    def variants(pid: str) -> list[tuple]:
        return [(v["VariantId"], v.get("Sku"), v["SalePrice"], v["Currency"], v["IsAvailable"])
                for v in products[pid]["ProductVariants"]]
    assert sorted(products, key=int) == [str(i) for i in [*range(1, 11), 12, 13]]
    assert variants("1") == [("1-0", "REF-001", 11.0, "EUR", True)]
    assert variants("5") == [("5-11", "REF-005-S", 15.0, "EUR", True), ("5-12", "REF-005-M", 17.5, "EUR", True),
                             ("5-13", None, 14.0, "EUR", True)]
    assert variants("12")[0][4] is False
    assert (products["1"]["ProductName"], products["13"].get("ProductName")) == ("Produit 1", None)
    assert sum(len(r["ProductVariants"]) for r in products.values()) == 14

    # An unchanged warehouse: nothing sent.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity

    # The next day, by its partitions (Paris wall times, UTC partitions).
    generate.mutate(path)
    code, counts, sent = world.sync("customers", "--partition", "2026-11-25")
    assert (code, counts["records_deleted"], counts["records_sent"]) == (0, 1, 1) and closes(counts)
    customers = world.stored("customers")
    assert "email:client5@example.fr" not in customers and customers["email:nouvelle@example.fr"]["CustomerId"] == "6"
    code, counts, sent = world.sync("orders", "--partition", "2026-11-25-11:00")
    assert (code, counts["records_sent"]) == (0, 1) and closes(counts)
    assert world.stored("orders")["3"]["Status"] == "refunded"
    code, counts, sent = world.sync("products", "--partition", "2026-11-25-11:00")
    assert (code, counts["rows_read"], sent) == (0, 0, [])
    code, counts, sent = world.sync("products", "--all")
    assert (code, counts["records_sent"]) == (0, 1) and closes(counts)
    assert world.stored("products")["5"]["ProductVariants"][1]["SalePrice"] == 18.0
