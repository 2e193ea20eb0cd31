"""A Stripe account as Airbyte's Stripe source lands it in DuckDB (Destinations V2 typed tables,
append mode: every extraction appends its rows, nothing is deduplicated), small and deterministic.

    customers            id 'cus_...', email, name (one full name), phone (free text), preferred_locales
                         (JSON list), deleted (true on a deleted customer's last row, else NULL),
                         created / updated (epoch seconds), livemode, metadata (JSON)
    products             id 'prod_...', name, active, default_price, created / updated (epoch seconds),
                         deleted, metadata
    prices               id 'price_...', product, unit_amount (the currency's MINOR units: cents;
                         zero-decimal currencies such as JPY in whole units), unit_amount_decimal
                         (text), currency (lowercase), active, type, billing_scheme ('tiered': no
                         unit_amount), recurring (JSON), created
    invoices             id 'in_...', number, customer, customer_email, currency, subtotal / total
                         (minor units), status (draft, open, paid, void, uncollectible), created (epoch)
    invoice_line_items   id 'il_...', invoice_id, price (JSON: the price object, or its id alone as a
                         JSON string), quantity, amount (the line's total, minor units), currency
    charges              id 'ch_...', invoice, customer, amount, amount_refunded, refunded, status

Every table carries Airbyte's columns: `_airbyte_raw_id` (a UUID per row written),
`_airbyte_extracted_at` (TIMESTAMPTZ: when the connector read the record), `_airbyte_meta` (JSON,
`{"sync_id": N, "changes": []}`) and `_airbyte_generation_id`. Within one extraction the rows are
extracted in the order of their `updated` (the connector's incremental cursor), 10 ms apart.

PLANTED names each planted row with the verdict written before any run (VERDICTS.md has them with
the counts). `build(path)` writes the first full extraction (EXTRACT1) and the same day's
incremental one (EXTRACT2); `mutate(path)` the next day's (EXTRACT3).

    python examples/stripe_airbyte/generate.py OUT.duckdb [--mutate]
"""

import json
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta

import duckdb

DDL = """
CREATE TABLE customers(_airbyte_raw_id VARCHAR, _airbyte_extracted_at TIMESTAMPTZ, _airbyte_meta JSON,
  _airbyte_generation_id BIGINT, id VARCHAR, object VARCHAR, email VARCHAR, name VARCHAR, phone VARCHAR,
  preferred_locales JSON, deleted BOOLEAN, created BIGINT, updated BIGINT, livemode BOOLEAN, metadata JSON);
CREATE TABLE products(_airbyte_raw_id VARCHAR, _airbyte_extracted_at TIMESTAMPTZ, _airbyte_meta JSON,
  _airbyte_generation_id BIGINT, id VARCHAR, object VARCHAR, name VARCHAR, active BOOLEAN, default_price VARCHAR,
  description VARCHAR, created BIGINT, updated BIGINT, deleted BOOLEAN, metadata JSON);
CREATE TABLE prices(_airbyte_raw_id VARCHAR, _airbyte_extracted_at TIMESTAMPTZ, _airbyte_meta JSON,
  _airbyte_generation_id BIGINT, id VARCHAR, object VARCHAR, product VARCHAR, unit_amount BIGINT,
  unit_amount_decimal VARCHAR, currency VARCHAR, active BOOLEAN, type VARCHAR, billing_scheme VARCHAR,
  recurring JSON, created BIGINT, updated BIGINT);
CREATE TABLE invoices(_airbyte_raw_id VARCHAR, _airbyte_extracted_at TIMESTAMPTZ, _airbyte_meta JSON,
  _airbyte_generation_id BIGINT, id VARCHAR, object VARCHAR, number VARCHAR, customer VARCHAR,
  customer_email VARCHAR, currency VARCHAR, subtotal BIGINT, total BIGINT, status VARCHAR, created BIGINT,
  updated BIGINT);
CREATE TABLE invoice_line_items(_airbyte_raw_id VARCHAR, _airbyte_extracted_at TIMESTAMPTZ, _airbyte_meta JSON,
  _airbyte_generation_id BIGINT, id VARCHAR, object VARCHAR, invoice_id VARCHAR, price JSON, quantity BIGINT,
  amount BIGINT, currency VARCHAR, description VARCHAR);
CREATE TABLE charges(_airbyte_raw_id VARCHAR, _airbyte_extracted_at TIMESTAMPTZ, _airbyte_meta JSON,
  _airbyte_generation_id BIGINT, id VARCHAR, object VARCHAR, invoice VARCHAR, customer VARCHAR, amount BIGINT,
  amount_refunded BIGINT, refunded BOOLEAN, currency VARCHAR, status VARCHAR, created BIGINT);
"""

CUSTOMERS, PRODUCTS, INVOICES = 200, 30, 300
START = datetime(2026, 9, 1, tzinfo=UTC)
EXTRACT1 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)    # the first full extraction
EXTRACT2 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)    # the same day's incremental extraction
EXTRACT3 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)    # mutate(): the next day's
FIRST = ["Ada", "Grace", "Zoë", "José", "Søren", "Chloé", "Wei", "Aiko", "Fatima", "Jürgen"]
LAST = ["Lovelace", "Hopper", "Müller", "Nguyen", "Øster", "Kowalski", "O'Brien", "Núñez", "Çelik"]
GOODS = ["Coffee beans", "Filter papers", "Descaler", "Oat milk", "Green tea", "Dog food", "Vitamins",
         "Razor blades", "Contact lenses", "Cat litter"]
# Stripe's zero-decimal currencies: an amount in them is in whole units (JPY 500 is ¥500).
ZERO_DECIMAL = ("bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                "xof", "xpf")

PLANTED = {
    # customers
    "cus_BADEMAIL01": ("customers", "customerid:cus_BADEMAIL01", "email 'bob@@example.com': quarantined email (Email)"),
    "cus_BADEMAIL02": ("customers", "customerid:cus_BADEMAIL02", "email 'jane.doe at example.com': quarantined email"),
    "cus_NOEMAIL001": ("customers", "customerid:cus_NOEMAIL001", "email NULL: held by its CustomerId"),
    "cus_SHORTPHONE": ("customers", "email:shortphone@example.com", "phone '+1 555': '+1555', quarantined phone"),
    "cus_LOCALPHONE": ("customers", "email:localphone@example.com", "phone '(555) 010-2040' (no '+'): held, no Phone"),
    "cus_INTLPHONE1": ("customers", "email:intlphone@example.com", "phone '+44 20 7946 0958': Phone '+442079460958'"),
    "cus_LOCALE0001": ("customers", "email:locale1@example.com", "preferred_locales ['de-DE', 'en']: Language 'de-DE'"),
    "cus_LOCALE0002": ("customers", "email:locale2@example.com", "preferred_locales ['en_us']: Language 'en-US'"),
    "cus_LOCALE0003": ("customers", "email:locale3@example.com", "preferred_locales []: no Language"),
    "cus_SHAREDOLD1": ("customers", "email:shared@example.com",
                       "same email as cus_SHAREDNEW1 (a second checkout), updated earlier: merged into it"),
    "cus_SHAREDNEW1": ("customers", "email:shared@example.com", "'Shared@Example.com', updated later: held, Name 'New'"),
    "cus_DELETED001": ("customers", "email:deleted1@example.com",
                       "deleted before the first extraction: never sent, rows_deleted 1, no DELETE"),
    "cus_RENAMED001": ("customers", "email:renamed@example.com",
                       "EXTRACT2: renamed (Before -> After, newer updated): held as After, the older row superseded"),
    "cus_RESYNCED01": ("customers", "email:resynced@example.com",
                       "EXTRACT2: re-extracted, identical (same updated): one row superseded, nothing tied"),
    "cus_ONEWORD001": ("customers", "email:oneword@example.com", "name 'Cher': Name 'Cher', no Surname"),
    "cus_GOESAWAY01": ("customers", "email:goesaway@example.com", "mutate(): deleted (full row): one DELETE"),
    "cus_GOESAWAY02": ("customers", "email:goesaway2@example.com",
                       "mutate(): deleted, a stub row (id, deleted, updated; email NULL): one DELETE"),
    # products
    "prod_LONGNAME01": ("products", "prod_LONGNAME01", "name of 250 characters: quarantined max_length (ProductName)"),
    "prod_ARCHIVED01": ("products", "prod_ARCHIVED01", "active false: held, its variants IsAvailable false"),
    "prod_NOPRICES01": ("products", "prod_NOPRICES01", "no prices: held with ProductVariants []"),
    "prod_DELETED001": ("products", "prod_DELETED001", "deleted: never sent, rows_deleted 1"),
    "prod_PRICED0001": ("products", "prod_PRICED0001",
                        "price_CENTS00001 1999 usd: SalePrice 19.99 USD; price_YEN0000001 500 jpy: 500 JPY; "
                        "price_TIERED0001 tiered (unit_amount NULL): no SalePrice; mutate(): price_CENTS00001 "
                        "archived and price_CENTS00002 2499 usd added: both held, the old IsAvailable false"),
    "price_ORPHAN0001": ("products", "prod_MISSING001", "a price of a product with no row: quarantined required (ProductId)"),
    "price_DUPLICATE1": ("products", "prod_PRICED0001", "EXTRACT2: re-extracted identical: one row superseded"),
    # orders
    "in_NULLPRICE01": ("orders", "in_NULLPRICE01", "paid, a line whose price is NULL: quarantined required "
                                                   "(OrderItems.ProductId), both its lines"),
    "in_QTYZERO0001": ("orders", "in_QTYZERO0001", "paid, a line of quantity 0: quarantined range (OrderItems.Quantity)"),
    "in_BADEMAIL001": ("orders", "in_BADEMAIL001", "customer_email 'nobody at mail': held with that Email (no rule)"),
    "in_YEN00000001": ("orders", "in_YEN00000001", "jpy: total 1500 -> TotalRevenue 1500, line Price 500, JPY"),
    "in_PRICEID0001": ("orders", "in_PRICEID0001",
                       "a line whose price is the id alone (JSON string): ProductId from the prices table"),
    "in_NOLINES0001": ("orders", "in_NOLINES0001", "paid, no lines: OrderItems [], TotalRevenue from total"),
    "in_OPENTHENPAID": ("orders", "in_OPENTHENPAID", "open at EXTRACT1, paid at EXTRACT2: held completed, "
                                                     "its line rows of EXTRACT1 superseded"),
    "in_REFUNDED001": ("orders", "in_REFUNDED001", "paid, its charge refunded in full: Status refunded"),
    "in_THIRDS00001": ("orders", "in_THIRDS00001", "a line of amount 1000 cents, quantity 3: Price 10/3"),
    "in_SHAREDOLD01": ("orders", "in_SHAREDOLD01", "of cus_SHAREDOLD1 (merged): CustomerId cus_SHAREDOLD1, "
                                                   "Email shared@example.com"),
    "in_GOESVOID001": ("orders", "in_GOESVOID001", "open (not read); mutate(): voided: held, Status cancelled"),
    "il_ORPHAN00001": ("orders", "in_MISSING0001", "a line of an invoice with no row: quarantined required (OrderId)"),
}


def _rid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _meta(sync_id: int) -> str:
    return json.dumps({"sync_id": sync_id, "changes": []})


def _epoch(t: datetime) -> int:
    return int(t.timestamp())


class _Extraction:
    """One Airbyte sync: stamps each row it writes with a fresh _airbyte_raw_id and an extraction time
    10 ms after the previous one's."""

    def __init__(self, rng: random.Random, at: datetime, sync_id: int):
        self.rng, self.at, self.sync_id, self.n = rng, at, sync_id, 0

    def stamp(self) -> tuple:
        self.n += 1
        return (_rid(self.rng), self.at + timedelta(milliseconds=10 * self.n), _meta(self.sync_id), 0)


def _customers(rng: random.Random) -> list[dict]:
    out = []
    for i in range(1, CUSTOMERS + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = START + timedelta(days=rng.randrange(0, 80), seconds=rng.randrange(86400))
        out.append({"id": f"cus_GEN{i:07d}", "email": f"customer{i}@example.com", "name": f"{first} {last}",
                    "phone": None if i % 3 else f"+1 555 01{i % 100:02d} {i % 10}{i % 7}{i % 9}{i % 4}",
                    "preferred_locales": json.dumps(["en-US"] if i % 4 else []), "deleted": None,
                    "created": _epoch(created), "updated": _epoch(created + timedelta(days=rng.randrange(0, 10)))})
    base = _epoch(datetime(2026, 11, 20, tzinfo=UTC))

    def planted(cid, email, name="Plant Ed", phone=None, locales=("en",), updated=base, deleted=None):
        out.append({"id": cid, "email": email, "name": name, "phone": phone, "preferred_locales": json.dumps(list(locales)),
                    "deleted": deleted, "created": base - 86400, "updated": updated})

    planted("cus_BADEMAIL01", "bob@@example.com")
    planted("cus_BADEMAIL02", "jane.doe at example.com")
    planted("cus_NOEMAIL001", None)
    planted("cus_SHORTPHONE", "shortphone@example.com", phone="+1 555")
    planted("cus_LOCALPHONE", "localphone@example.com", phone="(555) 010-2040")
    planted("cus_INTLPHONE1", "intlphone@example.com", phone="+44 20 7946 0958")
    planted("cus_LOCALE0001", "locale1@example.com", locales=("de-DE", "en"))
    planted("cus_LOCALE0002", "locale2@example.com", locales=("en_us",))
    planted("cus_LOCALE0003", "locale3@example.com", locales=())
    planted("cus_SHAREDOLD1", "shared@example.com", name="Old Checkout", updated=base + 60)
    planted("cus_SHAREDNEW1", "Shared@Example.com", name="New Checkout", updated=base + 120)
    planted("cus_DELETED001", "deleted1@example.com", deleted=True)
    planted("cus_RENAMED001", "renamed@example.com", name="Renamed Before")
    planted("cus_RESYNCED01", "resynced@example.com", name="Re Synced")
    planted("cus_ONEWORD001", "oneword@example.com", name="Cher")
    planted("cus_GOESAWAY01", "goesaway@example.com", name="Goes Away")
    planted("cus_GOESAWAY02", "goesaway2@example.com", name="Goes Away")
    return out


def _catalog(rng: random.Random) -> tuple[list[dict], list[dict]]:
    products, prices = [], []
    base = _epoch(datetime(2026, 11, 1, tzinfo=UTC))
    for i in range(1, PRODUCTS + 1):
        pid = f"prod_GEN{i:07d}"
        products.append({"id": pid, "name": f"{GOODS[i % len(GOODS)]} {i}", "active": True,
                         "created": base - 86400 * 30, "updated": base + i * 60, "deleted": None})
        for j, currency in enumerate(("usd", "eur", "jpy")[: 1 + i % 3]):
            amount = 500 + 100 * (i % 20) if currency == "jpy" else 199 + 250 * (i % 13) + 100 * j
            prices.append({"id": f"price_GEN{i:04d}{currency}", "product": pid, "unit_amount": amount, "currency": currency,
                           "active": True, "billing_scheme": "per_unit", "created": base + i * 60, "updated": base + i * 60})
    planted = base + 86400 * 10

    def product(pid, name, active=True, deleted=None):
        products.append({"id": pid, "name": name, "active": active, "created": planted - 86400, "updated": planted,
                         "deleted": deleted})

    def price(prid, pid, amount, currency, scheme="per_unit", active=True):
        prices.append({"id": prid, "product": pid, "unit_amount": amount, "currency": currency, "active": active,
                       "billing_scheme": scheme, "created": planted, "updated": planted})

    product("prod_LONGNAME01", "Subscription box " + "x" * 233)
    price("price_LONGNAME01", "prod_LONGNAME01", 2900, "usd")
    product("prod_ARCHIVED01", "Old blend", active=False)
    price("price_ARCHIVED01", "prod_ARCHIVED01", 1200, "eur")
    product("prod_NOPRICES01", "Gift wrapping")
    product("prod_DELETED001", "Never sold", active=False, deleted=True)
    product("prod_PRICED0001", "Espresso roast")
    price("price_CENTS00001", "prod_PRICED0001", 1999, "usd")
    price("price_YEN0000001", "prod_PRICED0001", 500, "jpy")
    price("price_TIERED0001", "prod_PRICED0001", None, "usd", scheme="tiered")
    price("price_DUPLICATE1", "prod_PRICED0001", 1799, "eur")
    price("price_ORPHAN0001", "prod_MISSING001", 999, "usd")
    return products, prices


def _row_customer(c: dict) -> tuple:
    return (c["id"], "customer", c["email"], c["name"], c["phone"], c["preferred_locales"], c["deleted"], c["created"],
            c["updated"], False, json.dumps({}))


def _row_product(p: dict) -> tuple:
    default = f"price_GEN{int(p['id'][8:]):04d}usd" if p["id"].startswith("prod_GEN") else None
    return (p["id"], "product", p["name"], p["active"], default, None, p["created"], p["updated"], p["deleted"], json.dumps({}))


def _row_price(p: dict) -> tuple:
    amount = p["unit_amount"]
    return (p["id"], "price", p["product"], amount, None if amount is None else str(amount), p["currency"], p["active"],
            "one_time", p["billing_scheme"], None, p["created"], p["updated"])


def _price_object(p: dict) -> str:
    return json.dumps({"id": p["id"], "object": "price", "product": p["product"], "unit_amount": p["unit_amount"],
                       "currency": p["currency"]})


def _invoices(rng: random.Random, customers: list[dict], prices: list[dict]) -> tuple[list[dict], list[dict]]:
    """Invoices (each with its lines) and charges (the charge of each paid invoice)."""
    generated = [c for c in customers if c["id"].startswith("cus_GEN")]
    by_currency: dict[str, list[dict]] = {}
    for p in prices:
        if p["id"].startswith("price_GEN"):
            by_currency.setdefault(p["currency"], []).append(p)
    invoices, charges = [], []
    for i in range(1, INVOICES + 1):
        c = generated[(i * 7) % len(generated)]
        currency = ("usd", "usd", "eur", "jpy")[i % 4]
        status = rng.choices(["paid", "void", "uncollectible", "open", "draft"], [85, 4, 2, 5, 4])[0]
        created = START + timedelta(days=rng.randrange(0, 90), seconds=rng.randrange(86400))
        inv = {"id": f"in_GEN{i:07d}", "customer": c["id"], "customer_email": c["email"], "currency": currency,
               "status": status, "created": _epoch(created), "lines": []}
        for k in range(rng.choice((1, 1, 2, 3))):
            p = rng.choice(by_currency[currency])
            qty = rng.choice((1, 1, 2, 3))
            inv["lines"].append({"id": f"il_GEN{i:05d}{k}", "price": _price_object(p), "quantity": qty,
                                 "amount": p["unit_amount"] * qty, "currency": currency})
        invoices.append(inv)

    def planted(iid, lines, status="paid", customer="cus_GEN0000001", email="customer1@example.com", currency="usd"):
        inv = {"id": iid, "customer": customer, "customer_email": email, "currency": currency, "status": status,
               "created": _epoch(datetime(2026, 11, 25, 12, 0, tzinfo=UTC)), "lines": []}
        for k, (price, qty, amount) in enumerate(lines):
            inv["lines"].append({"id": f"il_{iid[3:]}{k}", "price": price, "quantity": qty, "amount": amount,
                                 "currency": currency})
        invoices.append(inv)

    cents = next(p for p in prices if p["id"] == "price_CENTS00001")
    yen = next(p for p in prices if p["id"] == "price_YEN0000001")
    usd = by_currency["usd"][0]
    planted("in_NULLPRICE01", [(_price_object(cents), 1, 1999), (None, 1, 500)])
    planted("in_QTYZERO0001", [(_price_object(cents), 1, 1999), (_price_object(usd), 0, 0)])
    planted("in_BADEMAIL001", [(_price_object(cents), 2, 3998)], email="nobody at mail")
    planted("in_YEN00000001", [(_price_object(yen), 3, 1500)], currency="jpy")
    planted("in_PRICEID0001", [(json.dumps(cents["id"]), 1, 1999)])
    planted("in_NOLINES0001", [])
    planted("in_OPENTHENPAID", [(_price_object(cents), 1, 1999)], status="open")
    planted("in_REFUNDED001", [(_price_object(cents), 1, 1999)])
    planted("in_THIRDS00001", [(_price_object(cents), 3, 1000)])
    planted("in_SHAREDOLD01", [(_price_object(cents), 1, 1999)], customer="cus_SHAREDOLD1", email="shared@example.com")
    planted("in_GOESVOID001", [(_price_object(cents), 1, 1999)], status="open")
    for inv in invoices:
        inv["total"] = inv["subtotal"] = sum(line["amount"] for line in inv["lines"])
        if inv["id"] == "in_NOLINES0001":
            inv["total"] = inv["subtotal"] = 4900
        if inv["status"] == "paid":
            refunded = inv["id"] == "in_REFUNDED001"
            charges.append({"id": "ch_" + inv["id"][3:], "invoice": inv["id"], "customer": inv["customer"],
                            "amount": inv["total"], "amount_refunded": inv["total"] if refunded else 0,
                            "refunded": refunded, "currency": inv["currency"], "created": inv["created"]})
    return invoices, charges


def _row_invoice(inv: dict) -> tuple:
    return (inv["id"], "invoice", inv["id"][3:], inv["customer"], inv["customer_email"], inv["currency"], inv["subtotal"],
            inv["total"], inv["status"], inv["created"], inv["created"])


def _row_line(inv_id: str, line: dict) -> tuple:
    return (line["id"], "line_item", inv_id, line["price"], line["quantity"], line["amount"], line["currency"], None)


def _row_charge(ch: dict) -> tuple:
    return (ch["id"], "charge", ch["invoice"], ch["customer"], ch["amount"], ch["amount_refunded"], ch["refunded"],
            ch["currency"], "succeeded", ch["created"])


INSERTS = {table: "INSERT INTO " + table + " VALUES (" + ", ".join("?" * width) + ")"  # noqa: S608 - fixed names
           for table, width in (("customers", 15), ("products", 14), ("prices", 16), ("invoices", 15),
                                ("invoice_line_items", 12), ("charges", 14))}


def _insert(con, table: str, ex: _Extraction, rows: list[tuple]) -> None:
    con.executemany(INSERTS[table], [ex.stamp() + r for r in rows])


def build(path, seed: int = 7):
    """The first full extraction (EXTRACT1) and the same day's incremental one (EXTRACT2)."""
    rng = random.Random(seed)
    customers = _customers(rng)
    products, prices = _catalog(rng)
    invoices, charges = _invoices(rng, customers, prices)
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(DDL)
    ex = _Extraction(rng, EXTRACT1, 1)
    _insert(con, "customers", ex, [_row_customer(c) for c in sorted(customers, key=lambda c: (c["updated"], c["id"]))])
    _insert(con, "products", ex, [_row_product(p) for p in sorted(products, key=lambda p: (p["updated"], p["id"]))])
    _insert(con, "prices", ex, [_row_price(p) for p in prices])
    _insert(con, "invoices", ex, [_row_invoice(inv) for inv in invoices])
    _insert(con, "invoice_line_items", ex, [_row_line(inv["id"], line) for inv in invoices for line in inv["lines"]])
    _insert(con, "invoice_line_items", ex, [("il_ORPHAN00001", "line_item", "in_MISSING0001",
                                             _price_object(prices[0]), 1, prices[0]["unit_amount"], "usd", None)])
    _insert(con, "charges", ex, [_row_charge(ch) for ch in charges])

    # EXTRACT2: the same day's incremental sync re-reads what changed, and (at its cursor's edge)
    # some records again unchanged.
    ex = _Extraction(rng, EXTRACT2, 2)
    later = _epoch(EXTRACT2) - 3600
    renamed = next(c for c in customers if c["id"] == "cus_RENAMED001")
    resynced = next(c for c in customers if c["id"] == "cus_RESYNCED01")
    _insert(con, "customers", ex, [_row_customer(resynced), _row_customer(renamed | {"name": "Renamed After", "updated": later})])
    _insert(con, "prices", ex, [_row_price(next(p for p in prices if p["id"] == "price_DUPLICATE1"))])
    paid = next(inv for inv in invoices if inv["id"] == "in_OPENTHENPAID") | {"status": "paid"}
    _insert(con, "invoices", ex, [_row_invoice(paid)])
    _insert(con, "invoice_line_items", ex, [_row_line(paid["id"], line) for line in paid["lines"]])
    _insert(con, "charges", ex, [_row_charge({"id": "ch_OPENTHENPAID", "invoice": paid["id"], "customer": paid["customer"],
                                              "amount": paid["total"], "amount_refunded": 0, "refunded": False,
                                              "currency": "usd", "created": later})])
    con.close()
    return path


def mutate(path) -> None:
    """The next day's extraction (EXTRACT3): two customers deleted (one as a full row, one as the stub
    Stripe lists for a deleted customer), an open invoice voided, a price replaced (Stripe's prices
    are immutable: the old one is archived, a new one created and made the product's default)."""
    rng = random.Random(11)
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    ex = _Extraction(rng, EXTRACT3, 3)
    now = _epoch(EXTRACT3) - 3600
    con.execute("""
        INSERT INTO customers SELECT * REPLACE (?::VARCHAR AS _airbyte_raw_id, ?::TIMESTAMPTZ AS _airbyte_extracted_at,
               ?::JSON AS _airbyte_meta, true AS deleted, ?::BIGINT AS updated)
        FROM customers WHERE id = 'cus_GOESAWAY01'""", [_rid(rng), ex.stamp()[1], _meta(3), now])
    _insert(con, "customers", ex, [("cus_GOESAWAY02", "customer", None, None, None, None, True, None, now + 1, None, None)])
    con.execute("""
        INSERT INTO invoices SELECT * REPLACE (?::VARCHAR AS _airbyte_raw_id, ?::TIMESTAMPTZ AS _airbyte_extracted_at,
               ?::JSON AS _airbyte_meta, 'void' AS status, ?::BIGINT AS updated)
        FROM invoices WHERE id = 'in_GOESVOID001'""", [_rid(rng), ex.stamp()[1], _meta(3), now])
    con.execute("""
        INSERT INTO invoice_line_items SELECT * REPLACE (?::VARCHAR AS _airbyte_raw_id,
               ?::TIMESTAMPTZ AS _airbyte_extracted_at, ?::JSON AS _airbyte_meta)
        FROM invoice_line_items WHERE invoice_id = 'in_GOESVOID001'""", [_rid(rng), ex.stamp()[1], _meta(3)])
    con.execute("""
        INSERT INTO prices SELECT * REPLACE (?::VARCHAR AS _airbyte_raw_id, ?::TIMESTAMPTZ AS _airbyte_extracted_at,
               ?::JSON AS _airbyte_meta, false AS active, ?::BIGINT AS updated)
        FROM prices WHERE id = 'price_CENTS00001'""", [_rid(rng), ex.stamp()[1], _meta(3), now])
    _insert(con, "prices", ex, [_row_price({"id": "price_CENTS00002", "product": "prod_PRICED0001", "unit_amount": 2499,
                                            "currency": "usd", "active": True, "billing_scheme": "per_unit",
                                            "created": now, "updated": now})])
    con.execute("""
        INSERT INTO products SELECT * REPLACE (?::VARCHAR AS _airbyte_raw_id, ?::TIMESTAMPTZ AS _airbyte_extracted_at,
               ?::JSON AS _airbyte_meta, 'price_CENTS00002' AS default_price, ?::BIGINT AS updated)
        FROM products WHERE id = 'prod_PRICED0001'""", [_rid(rng), ex.stamp()[1], _meta(3), now])
    con.close()


if __name__ == "__main__":
    build(sys.argv[1])
    if "--mutate" in sys.argv[2:]:
        mutate(sys.argv[1])
