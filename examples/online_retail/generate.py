"""An "Online Retail II"-shaped warehouse (UCI: a UK gift-ware retailer's invoices, 2009-12-01 to
2011-12-09) as one wide DuckDB table with the real dataset's column names and types:

    online_retail(Invoice VARCHAR, StockCode VARCHAR, Description VARCHAR, Quantity INTEGER,
                  InvoiceDate TIMESTAMP, Price DOUBLE, "Customer ID" DOUBLE, Country VARCHAR)

One row per invoice line. Its quirks, as the dataset has them: an invoice starting with 'C' is a
cancellation (credit note) with negative quantities; an 'A' invoice adjusts bad debt at a negative
price; StockCodes that are not products (POST, DOT, M, D, C2, BANK CHARGES, AMAZONFEE, CRUK, PADS,
ADJUST, B, TEST001); stock adjustments with no customer, price 0 and a NULL, '?' or 'damaged'
description; one StockCode under several descriptions; exact duplicate rows; one StockCode on
several rows of one invoice; Customer ID a DOUBLE (12346.0), NULL for about a fifth of the rows;
no email, no name; InvoiceDate naive, in UK wall time (GMT in winter, BST in summer).

PLANTED maps each planted row (a label) to (entity, the record's id as the tenant keys it, the
verdict expected for it under examples/online_retail/mapping.yaml). The verdicts were written
before the first run: README.md says which held.

    python examples/online_retail/generate.py OUT.duckdb
"""

import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

DDL = """CREATE TABLE online_retail(Invoice VARCHAR, StockCode VARCHAR, Description VARCHAR, Quantity INTEGER,
  InvoiceDate TIMESTAMP, Price DOUBLE, "Customer ID" DOUBLE, Country VARCHAR)"""

WORDS = ["WHITE", "RED", "PINK", "BLUE", "GREEN", "VINTAGE", "RETROSPOT", "HEART", "STAR", "REGENCY", "JUMBO",
         "PAPER", "GLASS", "WOODEN", "CERAMIC", "ZINC", "LACE", "POLKADOT", "SPACEBOY", "DOLLY GIRL"]
THINGS = ["T-LIGHT HOLDER", "LUNCH BAG", "CAKE STAND", "MUG", "BUNTING", "CANDLE", "DOORMAT", "TEACUP AND SAUCER",
          "NAPKINS", "ALARM CLOCK", "HOT WATER BOTTLE", "CHALKBOARD", "PHOTO FRAME", "BAKING SET", "STORAGE TIN"]
PRICES = [0.42, 0.55, 0.65, 0.85, 1.25, 1.45, 1.65, 2.1, 2.55, 2.95, 3.75, 4.25, 4.95, 5.95, 7.95, 12.75]
QUANTITIES = [1, 1, 2, 2, 3, 4, 6, 6, 8, 10, 12, 12, 24, 48]
COUNTRIES = ["United Kingdom"] * 17 + ["EIRE", "Germany", "France", "Netherlands", "Spain", "Channel Islands",
                                      "Unspecified", "European Community", "RSA"]
START = datetime(2009, 12, 1)
END = datetime(2011, 12, 9)

# label: (entity, record id, verdict). A record id is the invoice (orders), the StockCode
# (products) or customerid:<id> (customers); "-" when no record of the entity has the row.
PLANTED: dict[str, tuple[str, str, str]] = {
    "big_order": ("orders", "581483", "delivered: 80995 x PAPER CRAFT , LITTLE BIRDIE at 2.08, TotalRevenue 168469.6"),
    "big_cancel": ("orders", "C581484", "delivered as a cancellation: Status cancelled, Quantity 80995 (not -80995)"),
    "cancel_with_discount": ("orders", "C581490",
                             "delivered cancelled with its 2 product lines; the 'D' Discount line is not a line"),
    "fee_only_cancel": ("orders", "C581491", "absent: AMAZONFEE is not a product, so the invoice has no line to send"),
    "bad_debt": ("orders", "A563185", "absent: 'B' Adjust bad debt (Price -11062.06) is not a sale"),
    "dst_skipped": ("orders", "581500",
                    "quarantined timestamp on OrderDate: 2010-03-28 01:30 never happened in London"),
    "dst_skipped_customer": ("customers", "customerid:18001",
                             "delivered: its only row is at the skipped 01:30, which the 00:00 UTC window reads "
                             "(predicted: not sent, counted unparsable; README.md)"),
    "dst_repeated": ("orders", "581501", "delivered, OrderDate 2010-10-31T00:30:00.000Z (the earlier 01:30, BST)"),
    "summer_time": ("orders", "581502", "delivered, OrderDate 2011-06-15T11:00:00.000Z (12:00 BST)"),
    "duplicate_row": ("orders", "581503",
                      "delivered with ONE line of 22423 (the exact duplicate row is the same line read twice: "
                      "1 row superseded)"),
    "same_code_twice": ("orders", "581504", "delivered with two lines of 22720 (6 and 12), TotalQuantity 18, "
                                            "UniqueQuantity 1"),
    "free_line": ("orders", "581505", "delivered, a line at Price 0 (a free gift)"),
    "negative_sale": ("orders", "581506", "quarantined range on OrderItems.Quantity: -2 on an invoice that is "
                                          "not a cancellation"),
    "guest": ("orders", "581507", "delivered without CustomerId (Customer ID NULL)"),
    "two_minutes": ("orders", "581508", "delivered once with its 3 lines, OrderDate its newest row's "
                                        "(2011-11-20T11:00:00.000Z)"),
    "adjustments": ("orders", "-", "absent: stock adjustments (no customer, Price 0, NULL/'?'/damaged) are not sales"),
    "float_id": ("customers", "customerid:12346", "delivered as CustomerId '12346', never '12346.0'"),
    "two_countries": ("customers", "customerid:12370", "one customer (Country is no API field)"),
    "renamed": ("products", "85123A", "ProductName the newest description, CREAM HANGING HEART T-LIGHT HOLDER"),
    "question_mark": ("products", "21000", "ProductName the newest real description, not '?' on its newest row"),
    "free_only": ("products", "21001", "delivered, its variant without SalePrice (never sold above 0)"),
    "cancelled_only": ("products", "21002", "absent: never sold, only cancelled (the products query reads sales)"),
    "non_products": ("products", "-", "absent: POST, DOT, M, D, C2, BANK CHARGES, AMAZONFEE, CRUK, PADS, ADJUST, "
                                      "B, TEST001 are not products"),
}

NOT_PRODUCTS = [("POST", "POSTAGE", 18.0), ("DOT", "DOTCOM POSTAGE", 11.17), ("M", "Manual", 2.5),
                ("C2", "CARRIAGE", 50.0), ("BANK CHARGES", "Bank Charges", 15.0), ("PADS", "PADS TO MATCH ALL CUSHIONS", 0.001),
                ("TEST001", "This is a test product.", 4.5)]


def build(path: str | Path, invoices: int = 420, seed: int = 11) -> Path:
    rng = random.Random(seed)
    path = Path(path)
    con = duckdb.connect(str(path))
    con.execute(DDL)
    products = [(f"{22000 + i}{rng.choice(['', '', '', 'A', 'B', 'C'])}",
                 f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(THINGS)}", rng.choice(PRICES)) for i in range(110)]
    products = list({p[0]: p for p in products}.values())
    customers = [(12347.0 + i, rng.choice(COUNTRIES)) for i in range(160)]
    rows: list[tuple] = []
    bought: dict[float, list[tuple]] = {}

    # The ordinary invoices: numbered in time order, in shop hours, 78% with a customer.
    span = (END - START).days
    times = sorted(START + timedelta(days=rng.randrange(span), hours=rng.randint(7, 19), minutes=rng.randrange(60))
                   for _ in range(invoices))
    for n, at in enumerate(times):
        number = str(489434 + n)
        customer = rng.choice(customers) if rng.random() < 0.78 else (None, "United Kingdom")
        lines = []
        for code, name, price in rng.sample(products, rng.randint(1, 12)):
            qty = rng.choice(QUANTITIES)
            lines.append((number, code, name, qty, at, round(price * 0.85, 2) if qty >= 24 else price, *customer))
        if customer[1] != "United Kingdom" and customer[0] is not None:
            lines.append((number, "POST", "POSTAGE", rng.randint(1, 3), at, 18.0, *customer))
        if rng.random() < 0.04:
            code, name, price = rng.choice(NOT_PRODUCTS)
            lines.append((number, code, name, 1, at, price, *customer))
        if rng.random() < 0.03:  # a line entered twice: the dataset's exact duplicate rows
            lines.append(lines[0])
        rows += lines
        if customer[0] is not None:
            bought.setdefault(customer[0], []).extend(lines)
        # A cancellation of part of the invoice, some days later, for about 4% of invoices.
        if customer[0] is not None and rng.random() < 0.04:
            later = at + timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 2))
            if later < END and later.hour in range(7, 20):
                cancelled = [line for line in lines if line[1][0].isdigit()][:2]
                rows += [(f"C{number}", c[1], c[2], -c[3], later, c[5], *customer) for c in cancelled]
        # Stock adjustments: no customer, price 0, a missing or useless description.
        if rng.random() < 0.05:
            code = rng.choice(products)[0]
            rows.append((str(489434 + n), code, rng.choice([None, "?", "damaged", "check"]), -rng.randint(1, 40), at, 0.0,
                         None, "United Kingdom"))

    # The planted rows (PLANTED gives their verdicts).
    uk = "United Kingdom"
    rows += [("581483", "23843", "PAPER CRAFT , LITTLE BIRDIE", 80995, datetime(2011, 12, 9, 9, 15), 2.08, 16446.0, uk),
             ("C581484", "23843", "PAPER CRAFT , LITTLE BIRDIE", -80995, datetime(2011, 12, 9, 9, 27), 2.08, 16446.0, uk),
             ("C581490", "22178", "VICTORIAN GLASS HANGING T-LIGHT", -12, datetime(2011, 12, 9, 9, 57), 1.95, 14397.0, uk),
             ("C581490", "23144", "ZINC T-LIGHT HOLDER STARS SMALL", -11, datetime(2011, 12, 9, 9, 57), 0.83, 14397.0, uk),
             ("C581490", "D", "Discount", -1, datetime(2011, 12, 9, 9, 57), 5.76, 14397.0, uk),
             ("C581491", "AMAZONFEE", "AMAZON FEE", -1, datetime(2011, 12, 9, 10, 2), 1008.96, None, uk),
             ("A563185", "B", "Adjust bad debt", 1, datetime(2011, 8, 12, 14, 50), -11062.06, None, uk),
             ("581500", "22633", "HAND WARMER UNION JACK", 6, datetime(2010, 3, 28, 1, 30), 2.1, 18001.0, uk),
             ("581501", "22632", "HAND WARMER RED POLKA DOT", 6, datetime(2010, 10, 31, 1, 30), 2.1, 12348.0, "Finland"),
             ("581502", "22961", "JAM MAKING SET PRINTED", 12, datetime(2011, 6, 15, 12, 0), 1.45, 12349.0, "Italy"),
             ("581503", "22423", "REGENCY CAKESTAND 3 TIER", 1, datetime(2011, 7, 1, 10, 5), 12.75, 12350.0, "Norway"),
             ("581503", "22423", "REGENCY CAKESTAND 3 TIER", 1, datetime(2011, 7, 1, 10, 5), 12.75, 12350.0, "Norway"),
             ("581503", "22699", "ROSES REGENCY TEACUP AND SAUCER", 6, datetime(2011, 7, 1, 10, 5), 2.95, 12350.0, "Norway"),
             ("581504", "22720", "SET OF 3 CAKE TINS PANTRY DESIGN", 6, datetime(2011, 7, 2, 11, 0), 4.95, 12352.0, uk),
             ("581504", "22720", "SET OF 3 CAKE TINS PANTRY DESIGN", 12, datetime(2011, 7, 2, 11, 0), 4.95, 12352.0, uk),
             ("581505", "21001", "PINK FAIRY CAKE CHILDRENS APRON", 1, datetime(2011, 7, 3, 12, 0), 0.0, 12353.0, uk),
             ("581505", "22961", "JAM MAKING SET PRINTED", 4, datetime(2011, 7, 3, 12, 0), 1.45, 12353.0, uk),
             ("581506", "22633", "HAND WARMER UNION JACK", 10, datetime(2011, 7, 4, 13, 0), 2.1, 12355.0, uk),
             ("581506", "22632", "HAND WARMER RED POLKA DOT", -2, datetime(2011, 7, 4, 13, 0), 2.1, 12355.0, uk),
             ("581507", "22961", "JAM MAKING SET PRINTED", 3, datetime(2011, 7, 5, 14, 0), 1.45, None, uk),
             ("581508", "22178", "VICTORIAN GLASS HANGING T-LIGHT", 2, datetime(2011, 11, 20, 10, 59), 1.95, 12356.0, uk),
             ("581508", "23144", "ZINC T-LIGHT HOLDER STARS SMALL", 4, datetime(2011, 11, 20, 11, 0), 0.83, 12356.0, uk),
             ("581508", "22633", "HAND WARMER UNION JACK", 1, datetime(2011, 11, 20, 11, 0), 2.1, 12356.0, uk),
             ("581509", "22961", "JAM MAKING SET PRINTED", 2, datetime(2011, 1, 5, 9, 0), 1.45, 12346.0, uk),
             ("581510", "22961", "JAM MAKING SET PRINTED", 2, datetime(2011, 2, 5, 9, 0), 1.45, 12370.0, "Cyprus"),
             ("581511", "22633", "HAND WARMER UNION JACK", 2, datetime(2011, 3, 5, 9, 0), 2.1, 12370.0, "Austria"),
             ("581512", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, datetime(2010, 5, 5, 9, 0), 2.55, 12357.0, uk),
             ("581513", "85123A", "CREAM HANGING HEART T-LIGHT HOLDER", 32, datetime(2011, 9, 5, 9, 0), 2.55, 12358.0, uk),
             ("581514", "21000", "SET 2 TEA TOWELS I LOVE LONDON", 6, datetime(2011, 1, 6, 9, 0), 2.95, 12359.0, uk),
             ("581515", "21000", "?", 6, datetime(2011, 2, 6, 9, 0), 3.25, 12359.0, uk),
             ("C581516", "21002", "SPACEBOY BIRTHDAY CARD", -12, datetime(2011, 3, 6, 9, 0), 0.42, 12359.0, uk),
             # Stock adjustments: no customer, price 0; not sales, not products of their own.
             ("581517", "21003", None, -20, datetime(2011, 4, 6, 9, 0), 0.0, None, uk),
             ("581518", "21004", "?", 15, datetime(2011, 4, 6, 9, 5), 0.0, None, uk),
             ("581519", "21005", "damaged", -3, datetime(2011, 4, 6, 9, 10), 0.0, None, uk)]
    rows += [("581520", code, name, 1, datetime(2011, 5, 6, 9, 0), price, 12360.0, uk) for code, name, price in NOT_PRODUCTS]
    rows += [("C581520", "CRUK", "CRUK Commission", -1, datetime(2011, 5, 6, 9, 30), 1.6, None, uk),
             ("581521", "ADJUST", "Adjustment by john on 26/01/2010 16", 1, datetime(2011, 5, 6, 9, 40), 96.46, 12361.0, uk)]
    con.executemany("INSERT INTO online_retail VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()
    return path


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "online_retail.duckdb"))
