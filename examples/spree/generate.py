"""A Spree / Solidus store (Ruby on Rails e-commerce) replicated into DuckDB, with the tables and
columns of Spree's db/schema.rb (Rails `datetime` -> TIMESTAMP holding UTC, `decimal(10,2)` ->
DECIMAL(10,2), `boolean` -> BOOLEAN), small and deterministic, and dirty rows planted where they
hurt a mapping:

    spree_countries        id, iso, iso3, name
    spree_addresses        id, firstname, lastname, address1, city, zipcode, phone (as typed:
                           '555-010-2040', '+44 20 7946 0958'), country_id, user_id, times
    spree_users            id, email (unique among live users; a soft-deleted user's email may be
                           taken again), bill_address_id, ship_address_id, created_at, updated_at,
                           deleted_at (soft delete, the `paranoia` gem)
    spree_products         id, name, slug, description, available_on, discontinue_on, deleted_at, times
    spree_variants         id, product_id, sku, is_master (EVERY product has one master variant;
                           products with options have option variants beside it), position,
                           deleted_at, times
    spree_prices           id, variant_id, amount DECIMAL(10,2) (NULL allowed), currency: ONE ROW
                           PER CURRENCY per variant (a multi-currency store: USD and EUR)
    spree_taxonomies, spree_taxons, spree_products_taxons   categories (a tree)
    spree_stock_locations, spree_stock_items               count_on_hand per location
    spree_orders           id, number ('R123456789'), item_total, total, state (cart, address,
                           delivery, payment, confirm: a checkout not finished; complete, canceled,
                           returned, awaiting_return), user_id (NULL for a guest checkout), email,
                           completed_at (NULL until complete), currency, times
    spree_line_items       id, order_id, variant_id, quantity, price DECIMAL(10,2), currency, times

`mutate(path)` is the next day: soft deletes, a hard-deleted product, a refund, a cart completed.
PLANTED lists each planted row with the verdict expected before any run (README.md shows the table).

    python examples/spree/generate.py OUT.duckdb
"""

import random
import sys
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb

DDL = """
CREATE TABLE spree_countries(id INTEGER, iso VARCHAR, iso3 VARCHAR, name VARCHAR);
CREATE TABLE spree_addresses(id INTEGER, firstname VARCHAR, lastname VARCHAR, address1 VARCHAR, city VARCHAR,
  zipcode VARCHAR, phone VARCHAR, country_id INTEGER, user_id INTEGER, created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE spree_users(id INTEGER, email VARCHAR, encrypted_password VARCHAR, login VARCHAR, bill_address_id INTEGER,
  ship_address_id INTEGER, created_at TIMESTAMP, updated_at TIMESTAMP, deleted_at TIMESTAMP);
CREATE TABLE spree_products(id INTEGER, name VARCHAR, description VARCHAR, slug VARCHAR, available_on TIMESTAMP,
  discontinue_on TIMESTAMP, deleted_at TIMESTAMP, created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE spree_variants(id INTEGER, product_id INTEGER, sku VARCHAR, is_master BOOLEAN, position INTEGER,
  weight DECIMAL(8,2), deleted_at TIMESTAMP, created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE spree_prices(id INTEGER, variant_id INTEGER, amount DECIMAL(10,2), currency VARCHAR, deleted_at TIMESTAMP,
  created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE spree_taxonomies(id INTEGER, name VARCHAR);
CREATE TABLE spree_taxons(id INTEGER, taxonomy_id INTEGER, parent_id INTEGER, name VARCHAR, permalink VARCHAR);
CREATE TABLE spree_products_taxons(id INTEGER, product_id INTEGER, taxon_id INTEGER, position INTEGER);
CREATE TABLE spree_stock_locations(id INTEGER, name VARCHAR);
CREATE TABLE spree_stock_items(id INTEGER, stock_location_id INTEGER, variant_id INTEGER, count_on_hand INTEGER,
  backorderable BOOLEAN, deleted_at TIMESTAMP, created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE spree_orders(id INTEGER, number VARCHAR, item_total DECIMAL(10,2), total DECIMAL(10,2), state VARCHAR,
  user_id INTEGER, completed_at TIMESTAMP, email VARCHAR, currency VARCHAR, shipment_state VARCHAR,
  payment_state VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE spree_line_items(id INTEGER, order_id INTEGER, variant_id INTEGER, quantity INTEGER,
  price DECIMAL(10,2), currency VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP);
"""

USERS, PRODUCTS, ORDERS, CARTS = 1000, 200, 1500, 150
START = datetime(2026, 10, 1)
SHIPPING = Decimal("5.00")
COUNTRIES = [(1, "US", "USA", "United States"), (2, "GB", "GBR", "United Kingdom"), (3, "DE", "DEU", "Germany")]
FIRST = ["James", "Mary", "Zoë", "José", "Søren", "Chloé", "Wei", "Aiko", "Fatima", "Jürgen"]
LAST = ["Smith", "García", "Müller", "Nguyen", "Øster", "Kowalski", "O'Brien", "Núñez", "Çelik"]
TAXONS = [(1, 1, None, "Categories"), (2, 1, 1, "Clothing"), (3, 1, 2, "Shirts"), (4, 1, 2, "T-Shirts"),
          (5, 1, 1, "Bags"), (6, 1, 1, "Mugs"), (7, 2, None, "Brand"), (8, 2, 7, "Ruby"), (9, 2, 7, "Solidus")]
CART_STATES = ["cart", "address", "delivery", "payment", "confirm"]
DONE_STATES = ["complete"] * 12 + ["canceled", "returned", "awaiting_return"]

# Each planted row: (entity, record id as the sandbox / quarantine names it, expected verdict).
# Written before the first run; README.md has the same table.
PLANTED = {
    "users 5001": ("customers", "email:john.smith@example.com",
                   "email 'John.Smith@Example.COM': delivered, Email as written, matched lower-cased"),
    "users 5002": ("customers", "customerid:5002",
                   "soft-deleted (deleted_at), never delivered: counted rows_deleted, no DELETE sent (the ledger never held it)"),
    "users 5003": ("customers", "email:u5003@example.com", "US phone '555-010-2040': Phone +15550102040"),
    "users 5004": ("customers", "email:u5004@example.com", "GB phone '+44 20 7946 0958': Phone +442079460958"),
    "users 5005": ("customers", "email:u5005@example.com", "DE phone '030 1234567' (no country code): delivered without Phone"),
    "users 5006": ("customers", "email:u5006@example.com", "no bill address: delivered without Name, Surname, Phone"),
    "users 5007": ("customers", "customerid:5007", "email 'not-an-email': quarantined email (Email)"),
    "users 5008/5009": ("customers", "email:reuse@example.com",
                        "5008 soft-deleted 2026-10-05, 5009 registered 2026-10-10 with its email: 5009 delivered, no DELETE"),
    "products 901": ("products", "901", "only its master variant: one variant, the master"),
    "products 902": ("products", "902", "master + 3 option variants, one soft-deleted: the 2 live option variants, no master"),
    "products 903": ("products", "903", "a variant priced in USD and EUR: SalePrice the USD amount, Currency USD"),
    "products 904": ("products", "904", "a variant priced in EUR only: delivered, that variant without SalePrice and Currency"),
    "products 905": ("products", "905", "a USD price row with amount NULL: delivered, that variant without SalePrice"),
    "products 906": ("products", "906", "discontinued (discontinue_on 2026-09-01): IsAvailable false"),
    "products 907": ("products", "907", "soft-deleted: not sent, rows_deleted, no DELETE (the ledger never held it)"),
    "products 908": ("products", "908", "in no taxon: delivered without Taxonomy"),
    "products 909": ("products", "909", "available_on NULL: IsAvailable false"),
    "products 910": ("products", "910", "name 'Café – ☕ Mug': delivered as it is"),
    "carts": ("orders", None, "150 orders in cart/address/delivery/payment/confirm (completed_at NULL): never sent, never quarantined"),
    "orders R900000001": ("orders", "R900000001",
                          "guest checkout, email ' JOHN.SMITH@example.com' (user 5001's): delivered without CustomerId, Email trimmed"),
    "orders R900000002": ("orders", "R900000002", "a line of a soft-deleted variant: delivered with that line"),
    "orders R900000003": ("orders", "R900000003", "a line of quantity 0: quarantined range (OrderItems.Quantity)"),
    "orders R900000004": ("orders", "R900000004",
                          "completed 2026-10-15, returned (updated_at 2026-11-02): Status refunded, OrderDate its completed_at"),
    "orders R900000005": ("orders", "R900000005", "canceled: Status cancelled"),
    "orders R900000006": ("orders", "R900000006", "awaiting_return: Status completed"),
    "orders R900000007": ("orders", "R900000007", "an order in EUR: Currency EUR, its EUR line prices"),
    "orders R900000008": ("orders", "R900000008", "an order of the soft-deleted user 5002: delivered with CustomerId 5002"),
    "orders R900000009": ("orders", "R900000009", "complete with no line items: OrderItems [], TotalRevenue its total 0"),
    "orders R900000010": ("orders", "R900000010", "3 x 19.99 (DECIMAL): Price 19.99, TotalRevenue 64.97 (its total, shipping in)"),
    "orders R900000011": ("orders", "R900000011", "a line of a master-only product: ProductId 901, VariantId its master"),
}
QUARANTINED = {("customers", "customerid:5007", "email", "Email"),
               ("orders", "R900000003", "range", "OrderItems.Quantity")}


def _users(con, at, rng) -> None:
    """spree_users with their bill addresses, the planted users among them."""
    users, addresses = [], []

    def user(uid: int, email: str | None, created: datetime, phone: str | None = "555-010-1000", country: int = 1,
             first: str | None = None, last: str | None = None, deleted: datetime | None = None, address: bool = True) -> None:
        address_id = None
        if address:
            address_id = len(addresses) + 1
            addresses.append((address_id, first or rng.choice(FIRST), last or rng.choice(LAST), f"{uid} Main St", "Springfield",
                              "12345", phone, country, uid, created, created))
        users.append((uid, email, "x" * 20, email, address_id, address_id, created, deleted or created, deleted))

    for i in range(1, USERS + 1):
        country = rng.choice([1, 1, 1, 2, 3])
        phone = {1: f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                 2: f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                 3: f"+49 30 {rng.randint(100000, 999999)}"}[country]
        user(i, f"u{i}@example.com", at(rng.uniform(0, 24 * 20)), phone, country)
    user(5001, "John.Smith@Example.COM", at(24 * 2), "+1 555 010 1001", 1, "John", "Smith")
    user(5002, "gone@example.com", at(24 * 3), deleted=at(24 * 4))
    user(5003, "u5003@example.com", at(24 * 5), "555-010-2040", 1)
    user(5004, "u5004@example.com", at(24 * 5), "+44 20 7946 0958", 2)
    user(5005, "u5005@example.com", at(24 * 5), "030 1234567", 3)
    user(5006, "u5006@example.com", at(24 * 5), address=False)
    user(5007, "not-an-email", at(24 * 6))
    user(5008, "reuse@example.com", datetime(2026, 10, 1, 9), deleted=datetime(2026, 10, 5, 9))
    user(5009, "reuse@example.com", datetime(2026, 10, 10, 9))
    con.executemany("INSERT INTO spree_addresses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", addresses)
    con.executemany("INSERT INTO spree_users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", users)


def build(path, seed: int = 7):
    """Writes the warehouse to `path` (a new DuckDB file) and returns the path."""
    rng = random.Random(seed)
    con = duckdb.connect(str(path))
    con.execute(DDL)

    def at(hours: float) -> datetime:  # Rails keeps microseconds
        return START + timedelta(hours=hours, microseconds=rng.randint(0, 999_999))

    con.executemany("INSERT INTO spree_countries VALUES (?, ?, ?, ?)", COUNTRIES)
    con.executemany("INSERT INTO spree_taxonomies VALUES (?, ?)", [(1, "Categories"), (2, "Brand")])
    con.executemany("INSERT INTO spree_taxons VALUES (?, ?, ?, ?, ?)",
                    [(i, tx, parent, name, name.lower()) for i, tx, parent, name in TAXONS])
    con.executemany("INSERT INTO spree_stock_locations VALUES (?, ?)", [(1, "default"), (2, "warehouse B")])

    _users(con, at, rng)

    # --- products, variants, prices, stock, taxons ----------------------------------------------
    products, variants, prices, stock, classified = [], [], [], [], []
    sellable: dict[int, list[int]] = {}  # product -> the variants a line item may reference

    def product(pid: int, name: str, options: int, created: datetime, available: datetime | None = START - timedelta(days=30),
                discontinue: datetime | None = None, deleted: datetime | None = None, taxon: int | None = 3,
                price: Decimal | None = None, eur: bool = False) -> list[int]:
        products.append((pid, name, f"About {name}", f"product-{pid}", available, discontinue, deleted, created,
                         deleted or created))
        if taxon is not None:
            classified.append((len(classified) + 1, pid, taxon, 1))
            classified.append((len(classified) + 1, pid, rng.choice([8, 9]), 1))
        base = price if price is not None else Decimal(rng.randint(500, 9999)) / 100
        ids = []
        for position in range(options + 1):
            vid = len(variants) + 1
            ids.append(vid)
            variants.append((vid, pid, f"SKU-{pid}-{position}" if position else f"SKU-{pid}", position == 0, position,
                             Decimal("1.50"), None, created, created))
            amount = base + position
            prices.append((len(prices) + 1, vid, amount, "USD", None, created, created))
            if eur:
                prices.append((len(prices) + 1, vid, (amount * Decimal("0.92")).quantize(Decimal("0.01")), "EUR", None, created, created))
            for location in (1, 2):
                stock.append((len(stock) + 1, location, vid, rng.randint(0, 40), False, None, created, created))
        sellable[pid] = ids[1:] or ids[:1]
        return ids

    for p in range(1, PRODUCTS + 1):
        product(p, f"{rng.choice(['Ruby', 'Solidus', 'Rails'])} {rng.choice(['Tote', 'Shirt', 'Mug', 'Hoodie'])} #{p}",
                rng.choice([0, 0, 1, 2, 3]), at(rng.uniform(-24 * 30, 0)), taxon=rng.choice([3, 4, 5, 6]), eur=p % 3 == 0)
    day0 = START - timedelta(days=20)
    product(901, "Master Only Mug", 0, day0, taxon=6)
    v902 = product(902, "Option Shirt", 3, day0)
    variants[v902[3] - 1] = (*variants[v902[3] - 1][:6], datetime(2026, 10, 3), day0, datetime(2026, 10, 3))
    sellable[902] = v902[1:]  # the soft-deleted one was sold before it was deleted
    v903 = product(903, "Two Currency Tote", 0, day0, price=Decimal("20.00"), eur=True)
    v904 = product(904, "Euro Only Tote", 0, day0, price=Decimal("30.00"))
    prices[-1] = (*prices[-1][:3], "EUR", *prices[-1][4:])
    v905 = product(905, "Unpriced Tote", 0, day0)
    prices[-1] = (prices[-1][0], prices[-1][1], None, *prices[-1][3:])
    product(906, "Discontinued Hoodie", 1, day0, discontinue=datetime(2026, 9, 1))
    product(907, "Deleted Hoodie", 1, day0, deleted=datetime(2026, 10, 2))
    product(908, "Unclassified Thing", 0, day0, taxon=None)
    product(909, "Unreleased Thing", 0, day0, available=None)
    product(910, "Café – ☕ Mug", 0, day0, taxon=6)
    con.executemany("INSERT INTO spree_products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", products)
    con.executemany("INSERT INTO spree_variants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", variants)
    con.executemany("INSERT INTO spree_prices VALUES (?, ?, ?, ?, ?, ?, ?)", prices)
    con.executemany("INSERT INTO spree_stock_items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", stock)
    con.executemany("INSERT INTO spree_products_taxons VALUES (?, ?, ?, ?)", classified)
    assert v903 and v904 and v905

    # --- orders and line items --------------------------------------------------------------------
    usd = {(v[1], v[3]): v[2] for v in prices}  # (variant, currency) -> amount
    orders, lines = [], []

    def order(number: str, state: str, user_id: int | None, email: str | None, created: datetime,
              items: list[tuple[int, int, Decimal | None]], currency: str = "USD", updated: datetime | None = None) -> None:
        oid = len(orders) + 1
        item_total = sum((price or Decimal(0)) * qty for _, qty, price in items)
        total = item_total + SHIPPING if items else Decimal("0.00")
        completed = None if state in CART_STATES else created + timedelta(minutes=15)
        for variant, qty, price in items:
            lines.append((len(lines) + 1, oid, variant, qty, price, currency, created, created))
        orders.append((oid, number, item_total, total, state, user_id, completed, email, currency,
                       "shipped" if completed else None, "paid" if completed else None, created, updated or completed or created))

    def pick(currency: str = "USD") -> tuple[int, int, Decimal | None]:
        pid = rng.randint(1, PRODUCTS)
        variant = rng.choice(sellable[pid])
        return variant, rng.choice([1, 1, 1, 2, 3]), usd.get((variant, currency))

    for n in range(1, ORDERS + 1):
        uid = rng.randint(1, USERS)
        guest = n % 10 == 0
        order(f"R{100000000 + n * 7919 % 100000000:09d}", rng.choice(DONE_STATES), None if guest else uid,
              f"guest{n}@example.com" if guest else f"u{uid}@example.com", at(rng.uniform(0, 24 * 55)),
              [pick() for _ in range(rng.choice([1, 1, 2, 2, 3, 4]))])
    for n in range(1, CARTS + 1):  # checkouts not finished: never sales
        uid = rng.randint(1, USERS)
        order(f"R{200000000 + n:09d}", rng.choice(CART_STATES), uid, f"u{uid}@example.com", at(rng.uniform(0, 24 * 55)),
              [pick() for _ in range(rng.choice([1, 2]))])
    when = datetime(2026, 10, 15, 10)
    order("R900000001", "complete", None, " JOHN.SMITH@example.com", when, [pick()])
    order("R900000002", "complete", 3, "u3@example.com", datetime(2026, 10, 2, 10), [(v902[3], 1, usd[(v902[3], "USD")])])
    order("R900000003", "complete", 4, "u4@example.com", when, [pick(), (v902[1], 0, usd[(v902[1], "USD")])])
    order("R900000004", "returned", 5, "u5@example.com", when, [pick()], updated=datetime(2026, 11, 2, 9, 30))
    order("R900000005", "canceled", 6, "u6@example.com", when, [pick()])
    order("R900000006", "awaiting_return", 7, "u7@example.com", when, [pick()])
    order("R900000007", "complete", 8, "u8@example.com", when, [(v903[0], 2, usd[(v903[0], "EUR")])], currency="EUR")
    order("R900000008", "complete", 5002, "gone@example.com", datetime(2026, 10, 3, 12), [pick()])
    order("R900000009", "complete", 9, "u9@example.com", when, [])
    order("R900000010", "complete", 10, "u10@example.com", when, [(sellable[1][0], 3, Decimal("19.99"))])
    order("R900000011", "complete", 11, "u11@example.com", when, [(sellable[901][0], 1, usd[(sellable[901][0], "USD")])])
    con.executemany("INSERT INTO spree_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", orders)
    con.executemany("INSERT INTO spree_line_items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", lines)
    con.close()
    return path


NEXT_DAY = datetime(2026, 12, 1, 8)
# What mutate() does, and the verdict expected of the next runs.
MUTATED = {
    "users 1": ("customers", "email:u1@example.com", "soft-deleted after delivery: a DELETE /customers/1, gone from the tenant"),
    "products 2": ("products", "2", "soft-deleted after delivery: a DELETE /products/2"),
    "products 909": ("products", "909", "never sold, its rows removed from the warehouse (hard delete): records_absent 1; --mirror sends DELETE /products/909"),
    "products 902": ("products", "902", "a second option variant soft-deleted: re-sent with its one live option variant"),
    "orders R900000010": ("orders", "R900000010", "complete -> returned (updated_at bumped): re-sent with Status refunded"),
    "carts R200000001": ("orders", "R200000001", "the cart completes (state complete, completed_at set): sent"),
}


def mutate(path) -> None:
    """The next day in the warehouse: what Spree does to these rows, never a rewrite of history."""
    con = duckdb.connect(str(path))
    con.execute("UPDATE spree_users SET deleted_at = ?, updated_at = ? WHERE id = 1", [NEXT_DAY, NEXT_DAY])
    con.execute("UPDATE spree_products SET deleted_at = ?, updated_at = ? WHERE id = 2", [NEXT_DAY, NEXT_DAY])
    con.execute("DELETE FROM spree_prices WHERE variant_id IN (SELECT id FROM spree_variants WHERE product_id = 909)")
    con.execute("DELETE FROM spree_stock_items WHERE variant_id IN (SELECT id FROM spree_variants WHERE product_id = 909)")
    con.execute("DELETE FROM spree_variants WHERE product_id = 909")
    con.execute("DELETE FROM spree_products_taxons WHERE product_id = 909")
    con.execute("DELETE FROM spree_products WHERE id = 909")
    con.execute("""UPDATE spree_variants SET deleted_at = ?, updated_at = ?
                   WHERE product_id = 902 AND NOT is_master AND deleted_at IS NULL AND position = 2""", [NEXT_DAY, NEXT_DAY])
    con.execute("UPDATE spree_products SET updated_at = ? WHERE id = 902", [NEXT_DAY])  # Spree's variant touches its product
    con.execute("UPDATE spree_orders SET state = 'returned', updated_at = ? WHERE number = 'R900000010'", [NEXT_DAY])
    con.execute("""UPDATE spree_orders SET state = 'complete', completed_at = ?, updated_at = ?, shipment_state = 'shipped',
                   payment_state = 'paid' WHERE number = 'R200000001'""", [NEXT_DAY, NEXT_DAY])
    con.close()


if __name__ == "__main__":
    build(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7)
