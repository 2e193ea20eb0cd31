"""A Saleor store (Django + PostgreSQL) replicated raw into DuckDB, with the tables and columns
Saleor creates (`timestamptz` -> TIMESTAMPTZ, money `DECIMAL(20,3)`, order and line ids UUIDs as
text), small and deterministic, and dirty rows planted where they hurt a mapping:

    channel_channel                       id, name, slug, currency_code, is_active, default_country:
                                          default-channel (USD), channel-pln (PLN), channel-eur (EUR)
    account_user                          id, email, first_name, last_name, is_staff, is_active,
                                          language_code (Django's: 'en', 'pt-br', 'zh-hans'),
                                          default_billing_address_id, date_joined, updated_at
    account_address                       id, first_name, last_name, city, country, phone ('' or E.164;
                                          an older import typed some); no timestamps
    product_category                      id, name, slug, parent_id
    product_product                       id, name, slug, category_id (NULL allowed), created_at, updated_at
    product_productchannellisting         product_id, channel_id, is_published, visible_in_listings,
                                          available_for_purchase_at, currency
    product_productvariant                id, sku (NULL allowed), name ('' by default), product_id,
                                          created_at, updated_at
    product_productvariantchannellisting  variant_id, channel_id, currency, price_amount (NULL allowed),
                                          cost_price_amount, prior_price_amount: one price per channel;
                                          no timestamps (a price change moves no updated_at)
    order_order                           id (UUID), number, user_id (NULL: a guest, or a deleted
                                          account), user_email, status (draft, unconfirmed,
                                          unfulfilled, partially_fulfilled, fulfilled,
                                          partially_returned, returned, canceled, expired),
                                          channel_id, currency, total_gross_amount,
                                          undiscounted_total_gross_amount, created_at, updated_at
    order_orderline                       id (UUID), order_id, variant_id (NULL once the variant is
                                          deleted: SET_NULL), product_name, variant_name, product_sku,
                                          quantity, unit_price_gross_amount, currency

`mutate(path)` is the next day: an order canceled, a variant's price changed in the USD channel and
another's in the PLN channel, a customer deactivated. PLANTED lists each planted row with the
verdict expected before any run (VERDICTS.md has them).

    python examples/saleor/generate.py OUT.duckdb
"""

import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import polars as pl

DDL = """
CREATE TABLE channel_channel(id INTEGER, name VARCHAR, slug VARCHAR, currency_code VARCHAR, is_active BOOLEAN,
  default_country VARCHAR);
CREATE TABLE account_address(id INTEGER, first_name VARCHAR, last_name VARCHAR, company_name VARCHAR,
  street_address_1 VARCHAR, city VARCHAR, postal_code VARCHAR, country VARCHAR, phone VARCHAR);
CREATE TABLE account_user(id INTEGER, email VARCHAR, first_name VARCHAR, last_name VARCHAR, is_staff BOOLEAN,
  is_active BOOLEAN, note VARCHAR, language_code VARCHAR, default_billing_address_id INTEGER,
  default_shipping_address_id INTEGER, date_joined TIMESTAMPTZ, updated_at TIMESTAMPTZ, last_login TIMESTAMPTZ);
CREATE TABLE product_category(id INTEGER, name VARCHAR, slug VARCHAR, parent_id INTEGER, updated_at TIMESTAMPTZ);
CREATE TABLE product_product(id INTEGER, name VARCHAR, slug VARCHAR, description VARCHAR, category_id INTEGER,
  product_type_id INTEGER, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
CREATE TABLE product_productchannellisting(id INTEGER, product_id INTEGER, channel_id INTEGER, is_published BOOLEAN,
  visible_in_listings BOOLEAN, available_for_purchase_at TIMESTAMPTZ, published_at TIMESTAMPTZ, currency VARCHAR);
CREATE TABLE product_productvariant(id INTEGER, sku VARCHAR, name VARCHAR, product_id INTEGER,
  track_inventory BOOLEAN, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
CREATE TABLE product_productvariantchannellisting(id INTEGER, variant_id INTEGER, channel_id INTEGER, currency VARCHAR,
  price_amount DECIMAL(20,3), cost_price_amount DECIMAL(20,3), prior_price_amount DECIMAL(20,3));
CREATE TABLE order_order(id VARCHAR, number INTEGER, user_id INTEGER, user_email VARCHAR, status VARCHAR,
  origin VARCHAR, channel_id INTEGER, currency VARCHAR, total_gross_amount DECIMAL(20,3),
  total_net_amount DECIMAL(20,3), undiscounted_total_gross_amount DECIMAL(20,3),
  shipping_price_gross_amount DECIMAL(20,3), created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
CREATE TABLE order_orderline(id VARCHAR, order_id VARCHAR, variant_id INTEGER, product_name VARCHAR,
  variant_name VARCHAR, product_sku VARCHAR, product_variant_id VARCHAR, quantity INTEGER,
  quantity_fulfilled INTEGER, unit_price_gross_amount DECIMAL(20,3), unit_price_net_amount DECIMAL(20,3),
  undiscounted_unit_price_gross_amount DECIMAL(20,3), total_price_gross_amount DECIMAL(20,3), currency VARCHAR);
"""

CHANNELS = {1: ("Default Channel", "default-channel", "USD", "US"), 2: ("Channel-PLN", "channel-pln", "PLN", "PL"),
            3: ("Channel-EUR", "channel-eur", "EUR", "DE")}
RATE = {1: Decimal("1"), 2: Decimal("4"), 3: Decimal("0.9")}
START = datetime(2026, 3, 1, tzinfo=UTC)
NEXT_DAY = datetime(2026, 12, 7, 10, 15, tzinfo=UTC)
USERS, PRODUCTS, ORDERS = 300, 60, 800
DELETED_PRODUCT = 950          # hard-deleted with its variants before the warehouse was copied
SHIPPING = Decimal("4.990")

PLANTED = {
    "users 1001": "email 'Ana.Souza@Example.COM ' (trailing space), language 'pt-br': Email 'Ana.Souza@Example.COM', Language pt-BR",
    "users 1002": "language 'zh-hans': Language zh-Hans",
    "users 1003": "language 'zh-hant': Language zh-Hant",
    "users 1004": "language 'es-co': Language es-CO",
    "users 1005": "email 'maria.silva@gmail' (no dot in the domain): quarantined email (Email)",
    "users 1006": "is_active false (deactivated before the first load): not sent, rows_deleted 1, no DELETE",
    "users 1007": "is_staff: not read",
    "users 1008": "first_name of 120 characters: quarantined max_length (Name)",
    "users 1009": "no default billing address: delivered without Phone",
    "users 1010": "billing phone '': delivered without Phone",
    "users 1011": "billing phone '0601234567' (typed, no country code): delivered without Phone",
    "users 1012": "language 'sr-latn': Language sr-Latn",
    "users 1013": "first_name '' and last_name '': delivered without Name, Surname",
    "users 1014": "phone '+48501234567', language 'pl': Phone +48501234567, Language pl",
    "products 901": "a variant with sku NULL: delivered without Sku",
    "products 902": "variant 9022 listed only in channel-pln: delivered without SalePrice and Currency",
    "products 903": "USD listing with price_amount NULL: delivered without SalePrice and Currency",
    "products 904": "no variants: ProductVariants []",
    "products 905": "not published in default-channel: IsAvailable false",
    "products 906": "name 'Café ☕ Mug – 350 ml': as it is",
    "products 907": "category NULL: no Taxonomy",
    "products 908": "variant name '': no VariantName",
    "products 909": "price 19.990, prior 24.990, cost 7.500: SalePrice 19.99, OriginalPrice 24.99",
    "products 910": "variant 9102 deleted (lines keep variant_id NULL): one variant, 9101",
    "orders 9001": "guest (user_id NULL): delivered without CustomerId, Email guest.buyer@example.org",
    "orders 9002": "draft: not read, its lines neither",
    "orders 9003": "expired: not read",
    "orders 9004": "canceled: Status cancelled",
    "orders 9005": "returned: Status refunded",
    "orders 9006": "partially_returned: Status completed",
    "orders 9007": "channel-pln: Currency PLN, TotalRevenue its PLN total",
    "orders 9008": "a line whose variant was deleted (variant_id NULL): quarantined required (OrderItems.ProductId)",
    "orders 9009": "unconfirmed: Status completed",
    "orders 9010": "3 x 19.990 + shipping 4.990: Price 19.99, TotalRevenue 64.96",
    "orders 9011": "of a deleted account (user_id NULL, user_email kept): delivered without CustomerId",
    "orders 9012": "unfulfilled with no lines: OrderItems [], TotalRevenue 0",
    "orders 9013": "user 1001, user_email ' ANA.SOUZA@example.com': CustomerId 1001, Email trimmed",
}
MUTATED = {
    "users 5": "deactivated (is_active false, updated_at bumped): DELETE /customers/5",
    "orders 10": "canceled (updated_at bumped): Status cancelled",
    "variant 11 USD": "price 10.000 -> 12.500, no updated_at moves: a partition misses it; --all sends it",
    "variant 21 PLN": "PLN price changed: nothing sent (the USD price is the one held)",
}


def _uuid(kind: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"saleor/{kind}/{n}"))


class _Rows:
    def __init__(self):
        self.tables: dict[str, list[tuple]] = {}

    def add(self, table: str, *values) -> None:
        self.tables.setdefault(table, []).append(values)


def _insert(con, r: _Rows) -> None:
    """Each table's rows appended by position (a relation over a Polars frame: no SQL text built;
    executemany took seconds)."""
    for table, values in r.tables.items():
        frame = pl.DataFrame(values, orient="row", infer_schema_length=None)
        con.from_arrow(frame.to_arrow()).insert_into(table)


def _user(r: _Rows, uid: int, email: str, first: str, last: str, at: datetime, *, language: str = "en",
          phone: str | None = "", staff: bool = False, active: bool = True, address: bool = True) -> None:
    aid = uid if address else None
    if address:
        r.add("account_address", uid, first, last, "", f"{uid} Main St", "Springfield", "12345", "US", phone)
    r.add("account_user", uid, email, first, last, staff, active, None, language, aid, aid,
          at - timedelta(days=30), at, at)


def _products(r: _Rows, rng: random.Random) -> dict[int, list[tuple[int, str, str, str]]]:
    """Categories, products, variants, listings; returns per channel what a line may buy:
    (variant, product name, variant name, sku)."""
    cats = [(1, "Apparel", None), (2, "T-shirts", 1), (3, "Groceries", None), (4, "Juices", 3), (5, "Accessories", None)]
    for cid, name, parent in cats:
        r.add("product_category", cid, name, name.lower(), parent, START)
    listing_ids = iter(range(1, 100000))
    sellable: dict[int, list] = {1: [], 2: [], 3: []}

    def product(pid, name, cat, at, published=(True, True, True), listed=(1, 2, 3)):
        r.add("product_product", pid, name, f"p-{pid}", "", cat, 1, at - timedelta(days=10), at)
        for ch in listed:
            pub = published[ch - 1]
            r.add("product_productchannellisting", next(listing_ids), pid, ch, pub, pub, START if pub else None,
                  START if pub else None, CHANNELS[ch][2])

    def variant(vid, pid, sku, name, at, price, channels=(1, 2, 3), usd_price="same", prior=None, cost=None,
                pname=""):
        r.add("product_productvariant", vid, sku, name, pid, True, at - timedelta(days=10), at)
        for ch in channels:
            amount = price * RATE[ch] if price is not None else None
            if ch == 1 and usd_price != "same":
                amount = usd_price
            r.add("product_productvariantchannellisting", next(listing_ids), vid, ch, CHANNELS[ch][2], amount,
                  cost, prior)
            if amount is not None:
                sellable[ch].append((vid, pname, name, sku))

    for pid in range(1, PRODUCTS + 1):
        at = START + timedelta(days=rng.randint(0, 200), hours=rng.randint(0, 23))
        cat = rng.choice([2, 4, 5])
        name = f"Product {pid}"
        product(pid, name, cat, at)
        for k in range(1, rng.randint(1, 3) + 1):
            price = Decimal(rng.randint(5, 80)) + Decimal("0.990")
            variant(pid * 10 + k, pid, f"SKU-{pid}-{k}", f"Size {k}", at + timedelta(hours=k), price, pname=name,
                    cost=price / 2, prior=None)
    # Day 2 changes the USD price of variant 11 from 10.000 and the PLN price of variant 21: fix them.
    r.tables["product_productvariantchannellisting"] = [
        (i, v, ch, cur, Decimal("10.000") if (v, ch) == (11, 1) else p, c, pr)
        for i, v, ch, cur, p, c, pr in r.tables["product_productvariantchannellisting"]]
    sellable[1] = [s for s in sellable[1]]

    at = datetime(2026, 6, 1, 9, tzinfo=UTC)
    product(901, "Plain Tee", 2, at)
    variant(9011, 901, None, "M", at, Decimal("15.000"), pname="Plain Tee")
    product(902, "Pierogi Box", 4, at)
    variant(9021, 902, "PIE-1", "Small", at, Decimal("8.000"), pname="Pierogi Box")
    variant(9022, 902, "PIE-2", "Large", at, Decimal("12.000"), channels=(2,), pname="Pierogi Box")
    product(903, "Mystery Juice", 4, at)
    variant(9031, 903, "MJ-1", "1 l", at, None, pname="Mystery Juice")
    product(904, "Gift Card Shell", 5, at)
    product(905, "Hidden Cap", 5, at, published=(False, True, True))
    variant(9051, 905, "CAP-1", "One size", at, Decimal("9.000"), pname="Hidden Cap")
    product(906, "Café ☕ Mug – 350 ml", 5, at)
    variant(9061, 906, "MUG-1", "White", at, Decimal("11.000"), pname="Café ☕ Mug – 350 ml")
    product(907, "Loose Item", None, at)
    variant(9071, 907, "LOOSE-1", "Default", at, Decimal("3.000"), pname="Loose Item")
    product(908, "Nameless Variant Socks", 2, at)
    variant(9081, 908, "SOCK-1", "", at, Decimal("5.000"), pname="Nameless Variant Socks")
    product(909, "Cold Brew", 4, at)
    variant(9091, 909, "CB-1", "250 ml", at, Decimal("19.990"), channels=(1,), prior=Decimal("24.990"),
            cost=Decimal("7.500"), pname="Cold Brew")
    product(910, "Hoodie", 2, at)
    variant(9101, 910, "HOOD-1", "M", at, Decimal("40.000"), pname="Hoodie")
    return sellable


def _order(r: _Rows, number: int, status: str, channel: int, user_id: int | None, email: str | None,
           created: datetime, lines: list[tuple[int | None, str, str, str | None, int, Decimal]],
           updated: datetime | None = None) -> None:
    oid = _uuid("order", number)
    currency = CHANNELS[channel][2]
    subtotal = sum((q * p for *_, q, p in lines), Decimal("0"))
    shipping = SHIPPING * RATE[channel] if lines else Decimal("0")
    total = subtotal + shipping
    r.add("order_order", oid, number, user_id, email, status, "checkout", channel, currency, total, total,
          total, shipping, created, updated or created + timedelta(hours=2))
    for k, (vid, pname, vname, sku, qty, price) in enumerate(lines):
        r.add("order_orderline", _uuid("line", number * 100 + k), oid, vid, pname, vname, sku,
              f"ProductVariant:{vid}" if vid else None, qty, qty if status == "fulfilled" else 0, price, price,
              price, qty * price, currency)


def build(path, seed: int = 7):
    rng = random.Random(seed)
    con = duckdb.connect(str(path))
    con.execute(DDL)
    r = _Rows()
    for cid, (name, slug, cur, country) in CHANNELS.items():
        r.add("channel_channel", cid, name, slug, cur, True, country)

    languages = ["en"] * 6 + ["pl", "de", "pt-br", "fr"]
    for uid in range(1, USERS + 1):
        at = START + timedelta(days=rng.randint(0, 250), minutes=rng.randint(0, 1439))
        phone = rng.choice(["", f"+1555{uid:07d}"])
        _user(r, uid, f"user{uid}@example.com", f"First{uid}", f"Last{uid}", at, language=rng.choice(languages),
              phone=phone)
    at = datetime(2026, 6, 2, 8, tzinfo=UTC)
    _user(r, 1000, "admin@shop.example", "Admin", "Staff", at, staff=True)
    _user(r, 1001, "Ana.Souza@Example.COM ", "Ana", "Souza", at, language="pt-br")
    _user(r, 1002, "li.wei@example.cn", "Wei", "Li", at, language="zh-hans")
    _user(r, 1003, "chen.mei@example.tw", "Mei", "Chen", at, language="zh-hant")
    _user(r, 1004, "camila@example.co", "Camila", "Rojas", at, language="es-co")
    _user(r, 1005, "maria.silva@gmail", "Maria", "Silva", at)
    _user(r, 1006, "gone@example.com", "Gone", "Away", at, active=False)
    _user(r, 1007, "support@shop.example", "Support", "Staff", at, staff=True)
    _user(r, 1008, "long@example.com", "L" * 120, "Name", at)
    _user(r, 1009, "noaddress@example.com", "No", "Address", at, address=False)
    _user(r, 1010, "blankphone@example.com", "Blank", "Phone", at, phone="")
    _user(r, 1011, "typedphone@example.com", "Typed", "Phone", at, phone="0601234567")
    _user(r, 1012, "milos@example.rs", "Miloš", "Petrović", at, language="sr-latn")
    _user(r, 1013, "anon@example.com", "", "", at)
    _user(r, 1014, "jan@example.pl", "Jan", "Kowalski", at, phone="+48501234567", language="pl")

    sellable = _products(r, rng)
    deleted_lines = [(None, f"Discontinued {k}", "One", f"SKU-{DELETED_PRODUCT}-{k}") for k in (1, 2)]
    statuses = (["fulfilled"] * 70 + ["unfulfilled"] * 10 + ["partially_fulfilled"] * 5 + ["canceled"] * 5
                + ["draft"] * 5 + ["unconfirmed"] * 3 + ["expired"] * 2)
    for number in range(1, ORDERS + 1):
        created = START + timedelta(days=rng.randint(0, 260), minutes=rng.randint(0, 1439))
        channel = rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
        uid = rng.randint(1, USERS) if rng.random() > 0.1 else None
        email = f"user{uid}@example.com" if uid else f"guest{number}@mail.example"
        picks = rng.sample(sellable[channel], rng.randint(1, 3))
        lines = [(v, pn, vn, sku, rng.randint(1, 4), _price(r, v, channel)) for v, pn, vn, sku in picks]
        if created < datetime(2026, 5, 1, tzinfo=UTC) and number % 20 == 0:   # the discontinued product
            v, pn, vn, sku = deleted_lines[number % 2]
            lines.append((v, pn, vn, sku, 1, Decimal("12.000") * RATE[channel]))
        _order(r, number, rng.choice(statuses), channel, uid, email, created, lines)
    at = datetime(2026, 10, 1, 12, tzinfo=UTC)
    tee = (9011, "Plain Tee", "M", None, 1, Decimal("15.000"))
    _order(r, 9001, "fulfilled", 1, None, "guest.buyer@example.org", at, [tee])
    _order(r, 9002, "draft", 1, 5, "user5@example.com", at, [tee])
    _order(r, 9003, "expired", 1, 6, "user6@example.com", at, [tee])
    _order(r, 9004, "canceled", 1, 7, "user7@example.com", at, [tee])
    _order(r, 9005, "returned", 1, 8, "user8@example.com", at, [tee])
    _order(r, 9006, "partially_returned", 1, 9, "user9@example.com", at, [tee])
    _order(r, 9007, "fulfilled", 2, 1014, "jan@example.pl", at,
           [(9021, "Pierogi Box", "Small", "PIE-1", 2, Decimal("32.000")), (9022, "Pierogi Box", "Large", "PIE-2", 1, Decimal("48.000"))])
    _order(r, 9008, "fulfilled", 1, 10, "user10@example.com", at,
           [tee, (None, "Hoodie", "L", "HOOD-2", 1, Decimal("40.000"))])
    _order(r, 9009, "unconfirmed", 1, 11, "user11@example.com", at, [tee])
    _order(r, 9010, "fulfilled", 1, 12, "user12@example.com", at, [(9091, "Cold Brew", "250 ml", "CB-1", 3, Decimal("19.990"))])
    _order(r, 9011, "fulfilled", 1, None, "deleted.account@example.com", at, [tee])
    _order(r, 9012, "unfulfilled", 1, 13, "user13@example.com", at, [])
    _order(r, 9013, "fulfilled", 1, 1001, " ANA.SOUZA@example.com", at, [tee])
    _insert(con, r)
    con.close()
    return path


def _price(r: _Rows, vid: int, channel: int) -> Decimal:
    for _, v, ch, _, amount, _, _ in r.tables["product_productvariantchannellisting"]:
        if (v, ch) == (vid, channel):
            return amount
    raise KeyError((vid, channel))


def mutate(path) -> None:
    """The next day in the warehouse: what Saleor does to these rows, never a rewrite of history."""
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE account_user SET is_active = false, updated_at = ? WHERE id = 5", [NEXT_DAY])
        con.execute("UPDATE order_order SET status = 'canceled', updated_at = ? WHERE number = 10", [NEXT_DAY])
        # Saleor's channel listing has no timestamp of its own: a price update moves nothing a window sees.
        con.execute("UPDATE product_productvariantchannellisting SET price_amount = 12.5 "
                    "WHERE variant_id = 11 AND channel_id = 1")
        con.execute("UPDATE product_productvariantchannellisting SET price_amount = price_amount + 1 "
                    "WHERE variant_id = 21 AND channel_id = 2")


if __name__ == "__main__":
    build(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7)
