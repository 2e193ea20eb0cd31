"""A Shopify store as Fivetran's Shopify connector lands it in a warehouse (schema `shopify`), rebuilt
small and deterministic in DuckDB with the connector's table names, column names and types: the raw
tables with their system columns, not Shopify's JSON export (examples/shopify covers that).

    shop                   id, name, currency (the shop's currency: order_line.price is in it)
    customer               HISTORY MODE: one row per version, primary key (id, _fivetran_start);
                           _fivetran_start / _fivetran_end / _fivetran_active (SCD-2). A deleted
                           customer has no active version (its last one is closed)
    customer_tag           customer_id, index, value
    order                  id, name ('#1001'), number, email, customer_id (NULL for a guest
                           checkout), created_at, processed_at, updated_at, cancelled_at,
                           financial_status, fulfillment_status, currency, presentment_currency,
                           total_price / subtotal_price / total_tax / total_discounts (DOUBLE),
                           test, _fivetran_synced, _fivetran_deleted
    order_line             id, order_id, index, product_id / variant_id (NULL once the product is
                           deleted in Shopify), sku, title, variant_title, vendor, quantity,
                           price NUMERIC(28,4), total_discount, gift_card, _fivetran_synced
    order_shipping_line    id, order_id, title, code, price, _fivetran_synced
    refund, order_line_refund   a refund and its lines (quantity, subtotal, restock_type)
    product                id, title, handle, product_type, vendor, status ('active', 'draft',
                           'archived'), created_at, updated_at, published_at, _fivetran_synced,
                           _fivetran_deleted
    product_variant        id, product_id, title, sku, price / compare_at_price (DOUBLE),
                           inventory_quantity (negative when oversold), barcode, option_1,
                           option_2, created_at, updated_at, _fivetran_synced, _fivetran_deleted

Times are TIMESTAMP WITH TIME ZONE (Fivetran's UTC_DATETIME); ids are BIGINT, some beyond 2^53 (a
double cannot hold them). `_fivetran_synced` is when the connector last wrote the row: the natural
window column. PLANTED lists each planted row with the verdict expected before any run (README.md
has the same table). `build(path)` writes the first load; `advance(path)` applies the connector's
next sync (day 2): re-synced rows whose content did not change, a customer's new version, deletes.

    python examples/fivetran_shopify/generate.py OUT.duckdb [--advance]
"""

import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb

DDL = """
CREATE SCHEMA shopify;
CREATE TABLE shopify.shop(id BIGINT, name VARCHAR, currency VARCHAR, _fivetran_synced TIMESTAMPTZ);
CREATE TABLE shopify.customer(id BIGINT, email VARCHAR, first_name VARCHAR, last_name VARCHAR, phone VARCHAR,
  state VARCHAR, verified_email BOOLEAN, accepts_marketing BOOLEAN, currency VARCHAR, orders_count BIGINT,
  total_spent DOUBLE, note VARCHAR, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, _fivetran_synced TIMESTAMPTZ,
  _fivetran_start TIMESTAMPTZ, _fivetran_end TIMESTAMPTZ, _fivetran_active BOOLEAN);
CREATE TABLE shopify.customer_tag(customer_id BIGINT, "index" BIGINT, value VARCHAR, _fivetran_synced TIMESTAMPTZ);
CREATE TABLE shopify."order"(id BIGINT, name VARCHAR, number BIGINT, order_number BIGINT, email VARCHAR,
  customer_id BIGINT, created_at TIMESTAMPTZ, processed_at TIMESTAMPTZ, updated_at TIMESTAMPTZ,
  cancelled_at TIMESTAMPTZ, cancel_reason VARCHAR, closed_at TIMESTAMPTZ, financial_status VARCHAR,
  fulfillment_status VARCHAR, currency VARCHAR, presentment_currency VARCHAR, total_price DOUBLE,
  subtotal_price DOUBLE, total_tax DOUBLE, total_discounts DOUBLE, total_line_items_price DOUBLE, test BOOLEAN,
  source_name VARCHAR, _fivetran_synced TIMESTAMPTZ, _fivetran_deleted BOOLEAN);
CREATE TABLE shopify.order_line(id BIGINT, order_id BIGINT, "index" BIGINT, product_id BIGINT, variant_id BIGINT,
  sku VARCHAR, title VARCHAR, variant_title VARCHAR, name VARCHAR, vendor VARCHAR, quantity BIGINT,
  price NUMERIC(28, 4), total_discount NUMERIC(28, 4), gift_card BOOLEAN, requires_shipping BOOLEAN,
  fulfillment_status VARCHAR, _fivetran_synced TIMESTAMPTZ);
CREATE TABLE shopify.order_shipping_line(id BIGINT, order_id BIGINT, title VARCHAR, code VARCHAR, price DOUBLE,
  _fivetran_synced TIMESTAMPTZ);
CREATE TABLE shopify.refund(id BIGINT, order_id BIGINT, created_at TIMESTAMPTZ, processed_at TIMESTAMPTZ, note VARCHAR,
  restock BOOLEAN, _fivetran_synced TIMESTAMPTZ);
CREATE TABLE shopify.order_line_refund(id BIGINT, refund_id BIGINT, order_line_id BIGINT, quantity BIGINT,
  subtotal DOUBLE, total_tax DOUBLE, restock_type VARCHAR, _fivetran_synced TIMESTAMPTZ);
CREATE TABLE shopify.product(id BIGINT, title VARCHAR, handle VARCHAR, product_type VARCHAR, vendor VARCHAR,
  status VARCHAR, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, published_at TIMESTAMPTZ,
  _fivetran_synced TIMESTAMPTZ, _fivetran_deleted BOOLEAN);
CREATE TABLE shopify.product_variant(id BIGINT, product_id BIGINT, title VARCHAR, sku VARCHAR, price DOUBLE,
  compare_at_price DOUBLE, inventory_quantity BIGINT, barcode VARCHAR, option_1 VARCHAR, option_2 VARCHAR,
  created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, _fivetran_synced TIMESTAMPTZ, _fivetran_deleted BOOLEAN);
"""

CUSTOMERS, PRODUCTS, ORDERS = 900, 150, 1400
START = datetime(2026, 10, 1, tzinfo=UTC)
FIRST_SYNC = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)   # the historical sync: every row written then
DAY2 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)          # advance(): the connector's next sync
BIG = 2**53 + 1                                          # 9007199254740993: a double holds ...992
FIRST = ["James", "Mary", "Zoë", "José", "Søren", "Chloé", "Wei", "Aiko", "Fatima", "Jürgen"]
LAST = ["Smith", "García", "Müller", "Nguyen", "Øster", "Kowalski", "O'Brien", "Núñez", "Çelik"]
TYPES = ["Shirts", "Pants", "Shoes", "Accessories/Hats", "Accessories/Bags", "Outerwear"]
VENDORS = ["Acme Apparel", "Northwind", "Bäckerei Co", "Oak & Ash"]

# Each planted row: (entity, record id as the sandbox / quarantine names it, expected verdict).
# Written before the first run; README.md has the same table.
PLANTED = {
    # customers (history mode)
    "customer 9007199254740993": ("customers", "email:big@example.com",
                                  "id 2^53+1 (BIGINT): delivered with CustomerId '9007199254740993' exactly"),
    "customer 5001": ("customers", "email:ada.new@example.com",
                      "three versions (history mode), emails ada.old -> ada.mid -> ada.new, the older versions closed at the "
                      "same _fivetran_synced as the newest: only the active version delivered (Ada Newname)"),
    "customer 5002": ("customers", "email:gone@example.com",
                      "deleted before the first load (no active version): not sent, counted rows_deleted, no DELETE"),
    "customer 5003": ("customers", "customerid:5003", "email NULL: delivered, known by its CustomerId"),
    "customer 5004/5005": ("customers", "email:shared@example.com",
                           "5004 deleted (closed) and 5005 active with the same email: 5005 delivered, 5004 deleted, not merged"),
    "customer 5006": ("customers", "email:nooptin@example.com", "accepts_marketing NULL: delivered without EmailOptin"),
    "customer 5007": ("customers", "email:resync@example.com",
                      "advance(): re-synced, only _fivetran_synced changed (a new version with identical content): unchanged, 0 requests"),
    "customer 5008": ("customers", "email:renamed@example.com",
                      "advance(): a new version (last_name Before -> After): delivered again, After"),
    "customer 5009": ("customers", "email:closed@example.com",
                      "advance(): deleted in Shopify (its version closed, none active): one DELETE /customers/.../5009"),
    "customer 5010": ("customers", "email:phone@example.com", "phone '(613) 555-0199' (not E.164): quarantined phone (Phone)"),
    # products
    "product 7001": ("products", "7001", "status draft: delivered, its variants IsAvailable false"),
    "product 7002": ("products", "7002", "status archived: delivered, its variants IsAvailable false"),
    "product 7003": ("products", "7003", "_fivetran_deleted true before the first load: not sent, rows_deleted, no DELETE"),
    "product 7004": ("products", "7004", "variant 70042 _fivetran_deleted: delivered with its live variant 70041 only"),
    "product 7005": ("products", "7005", "variant inventory_quantity -2 (oversold): StockQuantity 0"),
    "product 9007199254740995": ("products", "9007199254740995",
                                 "ids 2^53+3 (product) and 2^53+5 (variant): delivered with both ids exact"),
    "product 7006": ("products", "7006", "product_type '': delivered without Taxonomy"),
    "product 7007": ("products", "7007", "compare_at_price NULL, price 19.99: SalePrice 19.99, no OriginalPrice"),
    "product 7008": ("products", "7008",
                     "advance(): product and variants re-synced with identical content: unchanged, 0 requests"),
    "product 7009": ("products", "7009", "advance(): _fivetran_deleted set: one DELETE /products/.../7009"),
    # orders
    "order 6001": ("orders", "6001", "guest checkout: customer_id NULL, email set: delivered with Email, no CustomerId"),
    "order 6002": ("orders", "6002", "customer_id 2^53+1: CustomerId '9007199254740993' exactly"),
    "order 6003": ("orders", "6003", "currency USD, presentment_currency EUR: Currency USD (the prices' currency)"),
    "order 6004": ("orders", "6004", "financial_status refunded, a refund of every line: Status refunded"),
    "order 6005": ("orders", "6005", "financial_status partially_refunded (one line refunded): Status completed"),
    "order 6006": ("orders", "6006", "cancelled_at set (financial_status voided): Status cancelled"),
    "order 6007": ("orders", "6007", "a line of variant 70042 (_fivetran_deleted): delivered, the line as it was sold"),
    "order 6008": ("orders", "6008",
                   "a line whose product was deleted in Shopify (product_id, variant_id NULL): quarantined required "
                   "(OrderItems.ProductId)"),
    "order 6009": ("orders", "6009", "price NUMERIC 12.3456 x 3: Price 12.3456, TotalRevenue total_price 37.04"),
    "order 6010": ("orders", "6010", "_fivetran_deleted before the first load: not sent, rows_deleted, no DELETE"),
    "order 6011": ("orders", "6011", "test order (test true): left out by the mapping's query, never read"),
    "order 6012": ("orders", "6012", "customer_id NULL, email NULL (a POS sale): delivered with neither"),
    "order 9007199254740997": ("orders", "9007199254740997", "order id 2^53+5: OrderId exact"),
    "order 6013": ("orders", "6013", "advance(): re-synced, only _fivetran_synced changed: unchanged, 0 requests"),
    "order 6014": ("orders", "6014", "advance(): _fivetran_deleted set: one DELETE /orders/.../6014"),
    "order 6015": ("orders", "6015", "advance(): cancelled (cancelled_at set, synced again): delivered again, Status cancelled"),
    "order 6016": ("orders", "6016", "total_price 0.1 + 0.2 lines (0.1 and 0.2 at 1 each): TotalRevenue 0.3"),
}


def money(x: float) -> float:
    return round(x, 2)


def build(path: str, seed: int = 7) -> None:
    rng = random.Random(seed)
    con = duckdb.connect(path)
    con.execute("SET TimeZone = 'UTC'")
    con.execute(DDL)
    con.execute("INSERT INTO shopify.shop VALUES (1, 'Oak & Ash Store', 'USD', ?)", [FIRST_SYNC])

    def at(days: float) -> datetime:
        return START + timedelta(days=days, seconds=rng.randrange(86400))

    def synced() -> datetime:  # the historical sync wrote every row within two hours
        return FIRST_SYNC + timedelta(seconds=rng.randrange(7200))

    # --- customers: history mode, one row per version --------------------------------------------
    customers: list[tuple] = []

    def customer(cid: int, email: str | None, first: str, last: str, versions: int = 1, deleted_at: datetime | None = None,
                 phone: str | None = None, marketing: bool | None = True, sync: datetime | None = None) -> None:
        created = at(rng.randrange(50))
        s = sync or synced()
        for v in range(versions):
            start = created + timedelta(days=v)
            last_version = v == versions - 1
            end = deleted_at if last_version and deleted_at else (None if last_version else start + timedelta(days=1))
            # Fivetran closes the older versions when it writes the newer one: they carry its sync time.
            customers.append((cid, email if last_version or versions == 1 else f"v{v}.{email}", first, last, phone,
                              "enabled", True, marketing, "USD", rng.randrange(6), money(rng.uniform(0, 900)), None,
                              created, start, s, start, end if end else datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                              end is None))

    for i in range(1, CUSTOMERS + 1):
        customer(i, f"customer{i}@example.com", rng.choice(FIRST), rng.choice(LAST), versions=1 + (i % 7 == 0),
                 phone=f"+1613555{i:04d}" if i % 3 else None, marketing=bool(i % 2))
    customer(BIG, "big@example.com", "Big", "Number")
    customers.extend([  # 5001: three versions, emails changed twice; the older two closed by the newest's sync
        (5001, "ada.old@example.com", "Ada", "Oldname", None, "enabled", True, True, "USD", 1, 10.0, None,
         at(1), at(1), FIRST_SYNC, START + timedelta(days=2), START + timedelta(days=20), False),
        (5001, "ada.mid@example.com", "Ada", "Midname", None, "enabled", True, True, "USD", 1, 10.0, None,
         at(1), at(1), FIRST_SYNC, START + timedelta(days=20), START + timedelta(days=40), False),
        (5001, "ada.new@example.com", "Ada", "Newname", None, "enabled", True, True, "USD", 2, 30.0, None,
         at(1), at(1), FIRST_SYNC, START + timedelta(days=40), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), True),
    ])
    customer(5002, "gone@example.com", "Gone", "Before", deleted_at=START + timedelta(days=30))
    customer(5003, None, "No", "Email")
    customer(5004, "shared@example.com", "Old", "Account", deleted_at=START + timedelta(days=10))
    customer(5005, "shared@example.com", "New", "Account")
    customer(5006, "nooptin@example.com", "No", "Optin", marketing=None)
    customer(5007, "resync@example.com", "Re", "Sync")
    customer(5008, "renamed@example.com", "Renamed", "Before")
    customer(5009, "closed@example.com", "Closed", "Tomorrow")
    customer(5010, "phone@example.com", "Bad", "Phone", phone="(613) 555-0199")
    con.executemany("INSERT INTO shopify.customer VALUES (" + ", ".join("?" * 18) + ")", customers)
    con.executemany("INSERT INTO shopify.customer_tag VALUES (?, ?, ?, ?)",
                    [(i, 0, rng.choice(["vip", "wholesale", "newsletter"]), FIRST_SYNC) for i in range(1, CUSTOMERS + 1, 5)])

    # --- products and variants --------------------------------------------------------------------
    products: list[tuple] = []
    variants: list[tuple] = []
    price_of: dict[int, tuple[int, float]] = {}  # variant id -> (product id, price)

    def product(pid: int, title: str, status: str = "active", product_type: str | None = None, deleted: bool = False,
                nvariants: int = 2, variant_ids: list[int] | None = None, prices: list[float] | None = None,
                stock: list[int] | None = None, compare: list[float | None] | None = None,
                deleted_variants: tuple[int, ...] = ()) -> None:
        created = at(rng.randrange(30))
        products.append((pid, title, title.lower().replace(" ", "-"), rng.choice(TYPES) if product_type is None else product_type,
                         rng.choice(VENDORS), status, created, created + timedelta(days=3),
                         created if status == "active" else None, synced(), deleted))
        ids = variant_ids or [pid * 10 + k for k in range(1, nvariants + 1)]
        for k, vid in enumerate(ids):
            price = prices[k] if prices else money(rng.uniform(5, 120))
            cmp = compare[k] if compare else (money(price * 1.25) if k == 0 else None)
            variants.append((vid, pid, ["S", "M", "L", "XL"][k % 4], f"SKU-{vid}", price, cmp,
                             stock[k] if stock else rng.randrange(0, 80), f"0{vid:012d}", ["S", "M", "L", "XL"][k % 4], None,
                             created, created + timedelta(days=3), synced(), vid in deleted_variants))
            price_of[vid] = (pid, price)

    for p in range(1, PRODUCTS + 1):
        product(p, f"Product {p}", nvariants=1 + p % 4)
    product(7001, "Draft Jacket", status="draft")
    product(7002, "Archived Scarf", status="archived")
    product(7003, "Deleted Hat", deleted=True)
    product(7004, "Two Variants, One Gone", variant_ids=[70041, 70042], deleted_variants=(70042,))
    product(7005, "Oversold Socks", nvariants=1, stock=[-2])
    product(BIG + 2, "Big Id Belt", variant_ids=[BIG + 4])
    product(7006, "No Type Cap", product_type="")
    product(7007, "Plain Tee", nvariants=1, prices=[19.99], compare=[None])
    product(7008, "Resynced Mug")
    product(7009, "Deleted Tomorrow Lamp")
    con.executemany("INSERT INTO shopify.product VALUES (" + ", ".join("?" * 11) + ")", products)
    con.executemany("INSERT INTO shopify.product_variant VALUES (" + ", ".join("?" * 14) + ")", variants)

    # --- orders, lines, shipping, refunds ---------------------------------------------------------
    orders: list[tuple] = []
    lines: list[tuple] = []
    shipping: list[tuple] = []
    refunds: list[tuple] = []
    line_refunds: list[tuple] = []
    next_line = [900000]
    live_variants = [v for v in price_of if v not in (70042,) and price_of[v][0] not in (7003,)]

    def order(oid: int, customer_id: int | None, email: str | None, items: list[tuple[int | None, int, Decimal]],
              financial: str = "paid", cancelled: bool = False, presentment: str = "USD", deleted: bool = False,
              test: bool = False, total: float | None = None) -> list[int]:
        created = at(rng.randrange(55))
        subtotal = float(sum(Decimal(q) * p for _, q, p in items))
        ship = 0.0 if subtotal > 75 else 7.5
        tax = money(subtotal * 0.08)
        number = len(orders) + 1000
        orders.append((oid, f"#{number}", number - 999, number, email, customer_id, created, created, created + timedelta(hours=2),
                       created + timedelta(hours=5) if cancelled else None, "customer" if cancelled else None,
                       None, financial, None if cancelled else "fulfilled", "USD", presentment,
                       total if total is not None else money(subtotal + ship + tax), money(subtotal), tax, 0.0, money(subtotal),
                       test, "web", synced(), deleted))
        shipping.append((oid * 10, oid, "Standard", "STD", ship, FIRST_SYNC))
        ids = []
        for index, (vid, qty, price) in enumerate(items):
            next_line[0] += 1
            pid = price_of[vid][0] if vid is not None else None
            lines.append((next_line[0], oid, index, pid, vid, f"SKU-{vid}" if vid else None, f"Item {vid}", "M", f"Item {vid} - M",
                          "Acme Apparel", qty, price, Decimal("0.0000"), False, True, "fulfilled", synced()))
            ids.append(next_line[0])
        return ids

    def price(vid: int) -> Decimal:
        return Decimal(str(price_of[vid][1])).quantize(Decimal("0.0001"))

    for o in range(1, ORDERS + 1):
        cid = rng.randrange(1, CUSTOMERS + 1)
        items = [(v, rng.randrange(1, 4), price(v)) for v in rng.sample(live_variants, rng.randrange(1, 4))]
        order(o, cid, f"customer{cid}@example.com", items, financial=rng.choice(["paid"] * 6 + ["pending", "authorized"]))
    order(6001, None, "guest@example.com", [(11, 1, price(11))])
    order(6002, BIG, "big@example.com", [(21, 2, price(21))])
    order(6003, 3, "customer3@example.com", [(31, 1, price(31))], presentment="EUR")
    refunded = order(6004, 4, "customer4@example.com", [(41, 1, price(41)), (51, 2, price(51))], financial="refunded")
    partial = order(6005, 5, "customer5@example.com", [(61, 1, price(61)), (71, 1, price(71))], financial="partially_refunded")
    order(6006, 6, "customer6@example.com", [(81, 1, price(81))], financial="voided", cancelled=True)
    order(6007, 7, "customer7@example.com", [(70042, 1, price(70042)), (70041, 1, price(70041))])
    order(6008, 8, "customer8@example.com", [(91, 1, price(91)), (None, 1, Decimal("25.0000"))])
    order(6009, 9, "customer9@example.com", [(101, 3, Decimal("12.3456"))], total=37.04)
    order(6010, 10, "customer10@example.com", [(111, 1, price(111))], deleted=True)
    order(6011, 11, "customer11@example.com", [(121, 1, price(121))], test=True)
    order(6012, None, None, [(131, 1, price(131))])
    order(BIG + 4, 12, "customer12@example.com", [(141, 1, price(141))])
    order(6013, 13, "customer13@example.com", [(12, 1, price(12))])
    order(6014, 14, "customer14@example.com", [(22, 1, price(22))])
    order(6015, 15, "customer15@example.com", [(32, 1, price(32))])
    order(6016, 16, "customer16@example.com", [(33, 1, Decimal("0.1")), (52, 1, Decimal("0.2"))], total=0.3)
    for oid, line_ids in ((6004, refunded), (6005, partial[:1])):
        refunds.append((oid * 10 + 1, oid, FIRST_SYNC - timedelta(days=1), FIRST_SYNC - timedelta(days=1), "customer return", True,
                        FIRST_SYNC))
        for lid in line_ids:
            line = next(row for row in lines if row[0] == lid)
            line_refunds.append((lid * 10, oid * 10 + 1, lid, line[10], float(line[11] * line[10]), 0.0, "return", FIRST_SYNC))
    con.executemany('INSERT INTO shopify."order" VALUES (' + ", ".join("?" * 25) + ")", orders)
    con.executemany("INSERT INTO shopify.order_line VALUES (" + ", ".join("?" * 17) + ")", lines)
    con.executemany("INSERT INTO shopify.order_shipping_line VALUES (?, ?, ?, ?, ?, ?)", shipping)
    con.executemany("INSERT INTO shopify.refund VALUES (?, ?, ?, ?, ?, ?, ?)", refunds)
    con.executemany("INSERT INTO shopify.order_line_refund VALUES (?, ?, ?, ?, ?, ?, ?, ?)", line_refunds)
    con.close()


def advance(path: str) -> None:
    """The connector's next sync (DAY2, 09:00-09:30 UTC): what it writes, as it writes it."""
    con = duckdb.connect(path)
    con.execute("SET TimeZone = 'UTC'")
    bump = DAY2 + timedelta(minutes=5)
    # A re-sync with nothing changed in Shopify: history mode writes a new version with identical
    # content and closes the old one; soft-delete tables only move _fivetran_synced.
    con.execute("""
        INSERT INTO shopify.customer SELECT * REPLACE (?::TIMESTAMPTZ AS _fivetran_synced, ?::TIMESTAMPTZ AS _fivetran_start)
        FROM shopify.customer WHERE id = 5007 AND _fivetran_active""", [bump, bump])
    con.execute("""UPDATE shopify.customer SET _fivetran_active = false, _fivetran_end = ?::TIMESTAMPTZ - INTERVAL 1 MILLISECOND,
                   _fivetran_synced = ? WHERE id = 5007 AND _fivetran_start < ?""", [bump, bump, bump])
    # 5008: a real new version (renamed).
    con.execute("""
        INSERT INTO shopify.customer SELECT * REPLACE ('After' AS last_name, ?::TIMESTAMPTZ AS updated_at,
               ?::TIMESTAMPTZ AS _fivetran_synced, ?::TIMESTAMPTZ AS _fivetran_start)
        FROM shopify.customer WHERE id = 5008 AND _fivetran_active""", [bump, bump, bump])
    con.execute("""UPDATE shopify.customer SET _fivetran_active = false, _fivetran_end = ?::TIMESTAMPTZ - INTERVAL 1 MILLISECOND,
                   _fivetran_synced = ? WHERE id = 5008 AND _fivetran_start < ?""", [bump, bump, bump])
    # 5009: deleted in Shopify: its active version is closed, no new one.
    con.execute("UPDATE shopify.customer SET _fivetran_active = false, _fivetran_end = ?, _fivetran_synced = ? "
                "WHERE id = 5009 AND _fivetran_active", [bump, bump])
    con.execute("UPDATE shopify.product SET _fivetran_synced = ? WHERE id = 7008", [bump])
    con.execute("UPDATE shopify.product_variant SET _fivetran_synced = ? WHERE product_id = 7008", [bump])
    con.execute("UPDATE shopify.product SET _fivetran_deleted = true, _fivetran_synced = ? WHERE id = 7009", [bump])
    con.execute('UPDATE shopify."order" SET _fivetran_synced = ? WHERE id = 6013', [bump])
    con.execute("UPDATE shopify.order_line SET _fivetran_synced = ? WHERE order_id = 6013", [bump])
    con.execute('UPDATE shopify."order" SET _fivetran_deleted = true, _fivetran_synced = ? WHERE id = 6014', [bump])
    con.execute("""UPDATE shopify."order" SET cancelled_at = ?, cancel_reason = 'customer', financial_status = 'voided',
                   updated_at = ?, _fivetran_synced = ? WHERE id = 6015""", [DAY2, DAY2, bump])
    con.close()


if __name__ == "__main__":
    build(sys.argv[1])
    if "--advance" in sys.argv[2:]:
        advance(sys.argv[1])
