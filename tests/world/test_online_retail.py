"""UCI "Online Retail II" (examples/online_retail: one wide table of invoice lines, built by
generate.py with the dataset's quirks and planted rows) through examples/online_retail/mapping.yaml,
as a user maps it: customers, products and orders all derived from one table by `query:` sources.
Every record the sandbox stores equals what plain SQL over the raw table says (written here from
the dataset's description and the contract, never through the project's code), each planted row
gets its verdict, the rows close, and an unchanged warehouse costs no request."""

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest
import reference
from conftest import CLOSING, EXAMPLES

from replenit_pipelines.lib.contract.entities import ENTITIES

MAPPING = EXAMPLES / "online_retail" / "mapping.yaml"
LONDON = ZoneInfo("Europe/London")
ISO = "%Y-%m-%dT%H:%M:%S.000Z"
# A product is a StockCode of five digits (and maybe letters); a sale is not a stock adjustment
# (no customer at price 0). Both as the dataset's description of StockCode says.
PRODUCT_LINE = """regexp_matches(StockCode, '^[0-9]{5}') AND NOT (Price = 0 AND "Customer ID" IS NULL)"""


@pytest.fixture(scope="module")
def retail(tmp_path_factory):
    # As a package of examples/ (on the path: conftest.py), never as a bare `generate`, which
    # test_magento.py imports from its own folder under that name.
    from online_retail.generate import PLANTED, build

    return build(tmp_path_factory.mktemp("online_retail") / "online_retail.duckdb"), PLANTED


def utc(local: datetime) -> str | None:
    """A naive London wall time as the API's UTC text; None for a time the clocks skipped."""
    aware = local.replace(tzinfo=LONDON)
    if aware.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) != local:
        return None  # 01:30 on the last Sunday of March: no such instant
    return aware.astimezone(UTC).strftime(ISO)  # fold=0: a repeated hour's earlier instant


def expected_records(path) -> tuple[dict[str, dict[str, dict]], set[str]]:
    """What the tenant must hold, and the invoices that must be quarantined instead."""
    con = duckdb.connect(str(path), read_only=True)
    customers = {f"customerid:{r[0]}": {"CustomerId": str(r[0])} for r in con.sql(
        'SELECT DISTINCT CAST("Customer ID" AS BIGINT) FROM online_retail WHERE "Customer ID" IS NOT NULL').fetchall()}
    products = {}
    for code, name, price in con.sql(f"""
            SELECT StockCode,
                   max_by(Description, InvoiceDate) FILTER (WHERE Description IS NOT NULL AND Description <> '?'),
                   max_by(Price, InvoiceDate) FILTER (WHERE Price > 0)
            FROM online_retail WHERE {PRODUCT_LINE} AND Quantity > 0 AND NOT starts_with(Invoice, 'C')
            GROUP BY StockCode""").fetchall():  # noqa: S608 - a constant
        products[code] = {"ProductId": code, "ProductName": name,
                          "ProductVariants": [{"VariantId": code, "SalePrice": price, "Currency": "GBP"}]}
    orders, quarantined = {}, set()
    lines: dict[str, list[tuple]] = {}
    for row in con.sql(f"""SELECT DISTINCT Invoice, "Customer ID", InvoiceDate, StockCode, Description, Quantity, Price
                           FROM online_retail WHERE {PRODUCT_LINE}""").fetchall():  # noqa: S608 - a constant
        lines.setdefault(row[0], []).append(row)
    for invoice, rows in lines.items():
        cancellation = invoice.startswith("C")
        items = [{"ProductId": code, "ProductName": None if name == "?" else name,
                  "Quantity": -qty if cancellation else qty, "Price": price} for _, _, _, code, name, qty, price in rows]
        newest = max(r[2] for r in rows)
        if any(i["Quantity"] < 1 for i in items) or utc(newest) is None:
            quarantined.add(invoice)
            continue
        customer = rows[0][1]
        orders[invoice] = {
            "OrderId": invoice, "CustomerId": str(int(customer)) if customer is not None else None, "Currency": "GBP",
            "OrderDate": utc(newest), "Status": "cancelled" if cancellation else "completed", "OrderItems": items,
            "TotalRevenue": sum(i["Quantity"] * i["Price"] for i in items),
            "TotalQuantity": sum(i["Quantity"] for i in items), "UniqueQuantity": len({i["ProductId"] for i in items})}
    con.close()
    return {"customers": customers, "products": products, "orders": orders}, quarantined


def test_online_retail_is_stored_as_its_one_table_says_and_each_planted_row_gets_its_verdict(world, retail):
    path, planted = retail
    world.use(path, MAPPING)
    expected, quarantined = expected_records(path)
    assert quarantined == {"581500", "581506"}  # the skipped 01:30, a negative quantity on a sale
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert code == 0, counts
        assert counts["rows_read"] == sum(counts[k] for k in CLOSING), counts
        assert counts["rows_dead_lettered"] == counts["rows_held_back"] == 0
        records = len(expected[entity])
        assert counts["records_sent"] == records and len(sent) == math.ceil(records / ENTITIES[entity].hard_max)
        result = reference.compare(world.stored(entity), expected[entity])
        assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
        if entity == "orders":  # each quarantined invoice's rows, and nothing else
            assert counts["rows_quarantined"] == 3 and counts["rows_superseded"] > 0  # the duplicated lines
    with duckdb.connect(str(world.state_dir / "state.duckdb"), read_only=True) as con:
        verdicts = set(con.sql("SELECT entity, record_id, rule, field FROM quarantine").fetchall())
    assert verdicts == {("orders", "581500", "timestamp", "OrderDate"), ("orders", "581506", "range", "OrderItems.Quantity")}

    # Each planted row's verdict (generate.PLANTED), on the stored records themselves.
    orders, products, customers = world.stored("orders"), world.stored("products"), world.stored("customers")
    assert set(planted) == {"big_order", "big_cancel", "cancel_with_discount", "fee_only_cancel", "bad_debt", "dst_skipped",
                            "dst_skipped_customer", "dst_repeated", "summer_time", "duplicate_row", "same_code_twice",
                            "free_line", "negative_sale", "guest", "two_minutes", "adjustments", "float_id",
                            "two_countries", "renamed", "question_mark", "free_only", "cancelled_only", "non_products"}
    assert orders["581483"]["OrderItems"][0]["Quantity"] == 80995 and orders["581483"]["TotalRevenue"] == pytest.approx(168469.6)
    assert (orders["C581484"]["Status"], orders["C581484"]["OrderItems"][0]["Quantity"]) == ("cancelled", 80995)
    assert sorted(i["ProductId"] for i in orders["C581490"]["OrderItems"]) == ["22178", "23144"]  # not the 'D' Discount
    assert not {"C581491", "A563185", "581500", "581506", "581517", "581518", "581519", "581520", "C581520"} & set(orders)
    # Its only line is at the skipped 01:30: the customer is sent (a customer has no date field).
    assert customers["customerid:18001"] == {"CustomerId": "18001"}
    assert orders["581501"]["OrderDate"] == "2010-10-31T00:30:00.000Z"  # the repeated 01:30: the earlier, BST
    assert orders["581502"]["OrderDate"] == "2011-06-15T11:00:00.000Z"  # 12:00 BST
    assert [i["ProductId"] for i in orders["581503"]["OrderItems"]].count("22423") == 1  # the duplicate row: one line
    assert sorted(i["Quantity"] for i in orders["581504"]["OrderItems"]) == [6, 12]
    assert (orders["581504"]["TotalQuantity"], orders["581504"]["UniqueQuantity"]) == (18, 1)
    assert 0.0 in [i["Price"] for i in orders["581505"]["OrderItems"]]
    assert orders["581507"].get("CustomerId") is None
    assert (len(orders["581508"]["OrderItems"]), orders["581508"]["OrderDate"]) == (3, "2011-11-20T11:00:00.000Z")
    assert customers["customerid:12346"]["CustomerId"] == "12346" and "customerid:12346.0" not in customers
    assert "customerid:12370" in customers
    assert products["85123A"]["ProductName"] == "CREAM HANGING HEART T-LIGHT HOLDER"
    assert (products["21000"]["ProductName"], products["21000"]["ProductVariants"][0]["SalePrice"]) == (
        "SET 2 TEA TOWELS I LOVE LONDON", 3.25)
    assert products["21001"]["ProductVariants"][0].get("SalePrice") is None
    assert not {"21002", "21003", "21004", "21005", "POST", "DOT", "M", "D", "C2", "BANK CHARGES", "AMAZONFEE", "CRUK",
                "PADS", "ADJUST", "B", "TEST001"} & set(products)

    # An unchanged warehouse: nothing sent.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity


def test_online_retail_an_hourly_partition_in_summer_reads_the_invoices_of_that_hour_in_london_time(world, retail):
    """581502 was invoiced at 12:00 in London on 2011-06-15 (BST, UTC+1): the 11:00 UTC partition
    reads it, with the invoices of its 6 hours of lookback (05:00-12:00 UTC: 06:00-13:00 BST)."""
    path, _ = retail
    world.use(path, MAPPING, partitions_start="2009-12-01")
    expected, _ = expected_records(path)
    want = {k: r for k, r in expected["orders"].items()
            if "2011-06-15T05:00:00.000Z" <= r["OrderDate"] < "2011-06-15T12:00:00.000Z"}
    code, counts, _ = world.sync("orders", "--partition", "2011-06-15-11:00")
    assert "581502" in want and code == 0 and counts["records_sent"] == len(want)
    result = reference.compare(world.stored("orders"), want)
    assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
