"""theLook eCommerce (Google's public BigQuery dataset `bigquery-public-data.thelook_ecommerce`, a
clothing store) rebuilt small and deterministic in DuckDB, with its real table and column names
and types (BigQuery INT64 -> BIGINT, FLOAT64 -> DOUBLE, STRING -> VARCHAR, TIMESTAMP -> TIMESTAMP
holding UTC, with microseconds), and dirty rows planted where they hurt a mapping:

    users                  id, names, email (NOT unique: several users share one), age, gender,
                           address columns, latitude/longitude, traffic_source, created_at (the
                           only time a user has)
    orders                 order_id, user_id, status (Processing, Shipped, Complete, Cancelled,
                           Returned), gender, created_at, returned_at, shipped_at, delivered_at
                           (NULL until it happens), num_of_item. No currency, no total
    order_items            ONE ROW PER UNIT (no quantity column): id, order_id, user_id,
                           product_id, inventory_item_id, status, the four times, sale_price
    products               id, cost, category, name, brand, retail_price, department, sku (an md5
                           hex), distribution_center_id. No variants, no update time
    inventory_items        one per unit stocked, the product's columns copied (product_name, ...)
    distribution_centers   id, name, latitude, longitude

Prices are float32 values widened to float64, as in the real dataset (49.99 is stored as
49.9900016784668). PLANTED lists each planted row with the verdict expected before any run
(README.md shows the table).

    python examples/thelook/generate.py OUT.duckdb
"""

import hashlib
import random
import struct
import sys
from datetime import datetime, timedelta

import duckdb

DDL = """
CREATE TABLE distribution_centers(id BIGINT, name VARCHAR, latitude DOUBLE, longitude DOUBLE);
CREATE TABLE users(id BIGINT, first_name VARCHAR, last_name VARCHAR, email VARCHAR, age BIGINT, gender VARCHAR,
  state VARCHAR, street_address VARCHAR, postal_code VARCHAR, city VARCHAR, country VARCHAR, latitude DOUBLE,
  longitude DOUBLE, traffic_source VARCHAR, created_at TIMESTAMP);
CREATE TABLE products(id BIGINT, cost DOUBLE, category VARCHAR, name VARCHAR, brand VARCHAR, retail_price DOUBLE,
  department VARCHAR, sku VARCHAR, distribution_center_id BIGINT);
CREATE TABLE orders(order_id BIGINT, user_id BIGINT, status VARCHAR, gender VARCHAR, created_at TIMESTAMP,
  returned_at TIMESTAMP, shipped_at TIMESTAMP, delivered_at TIMESTAMP, num_of_item BIGINT);
CREATE TABLE order_items(id BIGINT, order_id BIGINT, user_id BIGINT, product_id BIGINT, inventory_item_id BIGINT,
  status VARCHAR, created_at TIMESTAMP, shipped_at TIMESTAMP, delivered_at TIMESTAMP, returned_at TIMESTAMP,
  sale_price DOUBLE);
CREATE TABLE inventory_items(id BIGINT, product_id BIGINT, created_at TIMESTAMP, sold_at TIMESTAMP, cost DOUBLE,
  product_category VARCHAR, product_name VARCHAR, product_brand VARCHAR, product_retail_price DOUBLE,
  product_department VARCHAR, product_sku VARCHAR, product_distribution_center_id BIGINT);
"""

USERS, PRODUCTS, ORDERS = 1200, 300, 1500
START = datetime(2026, 10, 1, 0, 0)
CATEGORIES = ["Jeans", "Tops & Tees", "Sweaters", "Outerwear & Coats", "Swim", "Accessories", "Socks", "Dresses"]
BRANDS = ["Levi's", "Calvin Klein", "Carhartt", "Columbia", "Hanes", "Allegra K", "Tommy Hilfiger", "Patagonia"]
FIRST = ["James", "Mary", "Zoë", "José", "Søren", "Chloé", "Wei", "Aiko", "Fatima", "Jürgen", "名前"]
LAST = ["Smith", "García", "Müller", "Nguyen", "Øster", "Kowalski", "O'Brien", "Núñez", "Çelik"]
STATUSES = ["Complete"] * 5 + ["Shipped"] * 2 + ["Processing", "Cancelled", "Returned"]

# Each planted row: (entity, record id as the sandbox / quarantine names it, expected verdict).
# Written before the first run; README.md has the same table.
PLANTED = {
    "users 50001": ("customers", "email:mixed.case@example.com",
                    "email '  Mixed.Case@Example.COM ': delivered, Email trimmed (case kept), matched lower-cased"),
    "users 50002/50003": ("customers", "email:shared@example.com",
                          "one email, two users (50002 older, 50003 newer): 50003 delivered, 50002 merged"),
    "users 50004/50005": ("customers", "email:twin@example.com",
                          "'twin@example.com' (50004, newer) and ' TWIN@example.com' (50005, older): one address, 50004 sent, 50005 merged"),
    "users 50006": ("customers", "email:nodate@example.com", "created_at NULL: sent by --all only"),
    "users 50007/50008": ("customers", "email:nulltime@example.com",
                          "created_at NULL (50007) beside a dated user of the same email (50008): the dated one sent, 50007 merged"),
    "users 50009": ("customers", "email:u50009@example.com", "non-ASCII names 'Zoë' 'Ñúñez-Çelik 名前': delivered as they are"),
    "users 50010": ("customers", "customerid:50010", "email 'not an email': quarantined email (Email)"),
    "users 50011": ("customers", "customerid:50011", "first_name 60 emoji (120 UTF-16 units): quarantined max_length (Name)"),
    "users 50012": ("customers", "email:u50012@example.com", "the same row exported twice: 1 delivered, 1 superseded"),
    "users 50013": ("customers", "customerid:50013", "email NULL: delivered, known by its CustomerId"),
    "products 90001": ("products", "90001", "name '': delivered without ProductName"),
    "products 90002": ("products", "90002", "brand of 300 characters: quarantined max_length (ProductVariants.Brand)"),
    "products 90003": ("products", "90003", "retail_price -1.5: quarantined range (ProductVariants.SalePrice)"),
    "products 90004": ("products", "90004", "retail_price NULL: delivered, its variant without SalePrice"),
    "products 90005": ("products", "90005", "name 'Jürgen's Café – ☕ Tee': delivered as it is"),
    "products 90006": ("products", "90006", "category NULL: Taxonomy [department] only"),
    "products 90007": ("products", "90007", "name of 210 characters: quarantined max_length (ProductName)"),
    "products 90008": ("products", "90008", "sku NULL: delivered, its variant without Sku"),
    "orders 80001": ("orders", "80001", "a unit with sale_price NULL: quarantined total_underivable (TotalRevenue)"),
    "orders 80002": ("orders", "80002", "a unit at -5.0: quarantined range (OrderItems.Price)"),
    "orders 80003": ("orders", "80003", "a unit of product 99999 (no such product): delivered, that line without ProductName"),
    "orders 80004": ("orders", "80004", "user_id 99999 (no such user): delivered with CustomerId 99999, no Email"),
    "orders 80005": ("orders", "80005", "Returned: delivered with Status refunded"),
    "orders 80006": ("orders", "80006", "an order_items row exported twice (same id): Quantity counts it once (2, not 3)"),
    "orders 80007": ("orders", "80007", "three units of one product: one line, Quantity 3, TotalQuantity 3, UniqueQuantity 1"),
    "orders 80008": ("orders", "80008", "created_at 2026-11-30 23:59:59.999600: OrderDate 2026-11-30T23:59:59.999Z (not rounded into December)"),
    "orders 80009": ("orders", "80009", "no order_items: delivered with OrderItems [] and totals 0"),
    "orders 80010": ("orders", "row", "order_items rows of order 88888 (no such order): quarantined required (OrderId)"),
    "orders 80011": ("orders", "80011", "Processing: delivered without Status"),
    "orders 80012": ("orders", "80012", "an order of 50002 (merged into 50003): delivered with CustomerId 50002 and Email shared@example.com"),
    "orders 80013": ("orders", "80013", "three units at 0.1: TotalRevenue 0.3 (not 0.30000000000000004)"),
    "orders 80014": ("orders", "80014", "a unit of product 90007 (name of 210): quarantined max_length (OrderItems.ProductName)"),
    "orders 80015": ("orders", "80015", "one product at two prices (sale): two lines, TotalQuantity 3, UniqueQuantity 1"),
    "orders 80016": ("orders", "80016", "user 50001's order: Email trimmed '  Mixed.Case@Example.COM ' -> 'Mixed.Case@Example.COM'"),
    "orders 80017": ("orders", "80017", "an order of 50010 (email 'not an email'): delivered, Email as it is (an order's Email is a plain string)"),
}


def f32(x: float) -> float:
    """The float32 value widened to float64, as theLook's prices are stored (49.99 -> 49.9900016784668...)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def build(path: str, seed: int = 11) -> None:
    rng = random.Random(seed)
    con = duckdb.connect(path)
    con.execute(DDL)

    def at(hours: float) -> datetime:  # microseconds, as BigQuery keeps them
        return START + timedelta(hours=hours, microseconds=rng.randint(0, 999_999))

    con.executemany("INSERT INTO distribution_centers VALUES (?, ?, ?, ?)",
                    [(i, f"DC {i}", 30 + i, -90 - i) for i in range(1, 11)])

    users = []
    for i in range(1, USERS + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        # real theLook emails are first.last@domain: people of one name share one, so users share emails
        email = f"{first.lower()}{last.lower()}@example.com" if i % 40 == 0 else f"u{i}@example.com"
        users.append((i, first, last, email, rng.randint(12, 70), rng.choice("MF"), "Texas", f"{i} Main St",
                      f"{70000 + i}", "Austin", "United States", 30.2 + i / 1e4, -97.7 - i / 1e4,
                      rng.choice(["Search", "Organic", "Facebook", "Email", "Display"]), at(rng.uniform(0, 24 * 60))))
    users += [
        (50001, "Mixed", "Case", "  Mixed.Case@Example.COM ", 30, "F", "Ohio", "1 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Search", at(10)),
        (50002, "Old", "Shared", "shared@example.com", 31, "M", "Ohio", "2 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Search", at(20)),
        (50003, "New", "Shared", "shared@example.com", 32, "F", "Ohio", "3 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Search", at(30)),
        (50004, "Newer", "Twin", "twin@example.com", 33, "F", "Ohio", "4 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Email", at(50)),
        (50005, "Older", "Twin", " TWIN@example.com", 34, "M", "Ohio", "5 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Email", at(40)),
        (50006, "No", "Date", "nodate@example.com", 35, "F", "Ohio", "6 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Display", None),
        (50007, "Undated", "Twin", "nulltime@example.com", 36, "M", "Ohio", "7 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Display", None),
        (50008, "Dated", "Twin", "nulltime@example.com", 37, "F", "Ohio", "8 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Display", at(60)),
        (50009, "Zoë", "Ñúñez-Çelik 名前", "u50009@example.com", 38, "F", "Ohio", "9 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Organic", at(70)),
        (50010, "Bad", "Mail", "not an email", 39, "M", "Ohio", "10 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Organic", at(80)),
        (50011, "😀" * 60, "Emoji", "u50011@example.com", 40, "F", "Ohio", "11 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Organic", at(90)),
        (50012, "Twice", "Exported", "u50012@example.com", 41, "M", "Ohio", "12 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Organic", at(100)),
        (50013, "No", "Mail", None, 42, "M", "Ohio", "13 A St", "43004", "Columbus", "United States", 40.0, -83.0, "Organic", at(110)),
    ]
    users.append(users[-2])  # 50012 exported twice
    con.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", users)

    products = []
    for i in range(1, PRODUCTS + 1):
        category, brand = rng.choice(CATEGORIES), rng.choice(BRANDS)
        retail = f32(round(rng.uniform(5, 150), 2))
        products.append((i, f32(round(retail * rng.uniform(0.3, 0.6), 2)), category, f"{brand} {category} #{i}", brand, retail,
                         rng.choice(["Men", "Women"]), hashlib.md5(str(i).encode()).hexdigest().upper(), rng.randint(1, 10)))  # noqa: S324 - theLook's skus are md5s
    products += [
        (90001, 1.0, "Socks", "", "Hanes", f32(4.99), "Men", "SKU90001", 1),
        (90002, 1.0, "Socks", "Long brand socks", "B" * 300, f32(4.99), "Men", "SKU90002", 1),
        (90003, 1.0, "Socks", "Negative socks", "Hanes", -1.5, "Men", "SKU90003", 1),
        (90004, 1.0, "Socks", "Priceless socks", "Hanes", None, "Men", "SKU90004", 1),
        (90005, 1.0, "Accessories", "Jürgen's Café – ☕ Tee", "Allegra K", f32(19.99), "Women", "SKU90005", 2),
        (90006, 1.0, None, "Uncategorised", "Hanes", f32(9.99), "Women", "SKU90006", 2),
        (90007, 1.0, "Dresses", "A" * 210, "Allegra K", f32(59.99), "Women", "SKU90007", 3),
        (90008, 1.0, "Dresses", "No sku dress", "Allegra K", f32(39.99), "Women", None, 3),
    ]
    con.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", products)
    price_of = {p[0]: p[5] for p in products}

    orders, items, inventory = [], [], []
    item_id = 0

    def add_items(order_id: int, user_id: int, status: str, created: datetime, units: list[tuple[int, float | None]]) -> None:
        nonlocal item_id
        for product_id, price in units:
            item_id += 1
            inventory.append((item_id, product_id, created - timedelta(days=3), created, 1.0, None, None, None, None, None, None, 1))
            items.append((item_id, order_id, user_id, product_id, item_id, status, created, None, None, None, price))

    for o in range(1, ORDERS + 1):
        user = rng.randint(1, USERS)
        status = rng.choice(STATUSES)
        created = at(rng.uniform(0, 24 * 60))
        shipped = created + timedelta(days=1) if status in ("Shipped", "Complete", "Returned") else None
        delivered = created + timedelta(days=3) if status in ("Complete", "Returned") else None
        returned = created + timedelta(days=6) if status == "Returned" else None
        units = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
            product = rng.randint(1, PRODUCTS)
            units += [(product, price_of[product])] * rng.choice([1, 1, 1, 2])  # one row per unit
        orders.append((o, user, status, rng.choice("MF"), created, returned, shipped, delivered, len(units)))
        add_items(o, user, status, created, units)

    def plant(order_id: int, user_id: int, status: str, units: list[tuple[int, float | None]], created: datetime | None = None) -> None:
        created = created or at(24 * 30)
        orders.append((order_id, user_id, status, "F", created, None, None, None, len(units)))
        add_items(order_id, user_id, status, created, units)

    plant(80001, 1, "Complete", [(1, price_of[1]), (2, None)])
    plant(80002, 2, "Complete", [(3, -5.0)])
    plant(80003, 3, "Complete", [(4, price_of[4]), (99999, 12.5)])
    plant(80004, 99999, "Complete", [(5, price_of[5])])
    plant(80005, 5, "Returned", [(6, price_of[6])])
    plant(80006, 6, "Complete", [(7, price_of[7]), (7, price_of[7])])
    items.append(items[-1])  # the last unit of 80006 exported twice
    plant(80007, 7, "Complete", [(8, price_of[8])] * 3)
    plant(80008, 8, "Shipped", [(9, price_of[9])], created=datetime(2026, 11, 30, 23, 59, 59, 999600))
    plant(80009, 9, "Cancelled", [])
    items.append((999999, 88888, 10, 10, 999999, "Complete", at(24 * 30), None, None, None, price_of[10]))  # no order 88888
    plant(80011, 11, "Processing", [(11, price_of[11])])
    plant(80012, 50002, "Complete", [(12, price_of[12])])
    plant(80013, 13, "Complete", [(13, 0.1)] * 3)
    plant(80014, 14, "Complete", [(90007, price_of[90007])])
    plant(80015, 15, "Complete", [(15, f32(20.0)), (15, f32(20.0)), (15, f32(15.0))])
    plant(80016, 50001, "Complete", [(16, price_of[16])])
    plant(80017, 50010, "Complete", [(17, price_of[17])])
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", orders)
    con.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", items)
    con.executemany("INSERT INTO inventory_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", inventory)
    con.execute("""UPDATE inventory_items i SET product_category = p.category, product_name = p.name, product_brand = p.brand,
                   product_retail_price = p.retail_price, product_department = p.department, product_sku = p.sku
                   FROM products p WHERE p.id = i.product_id""")
    con.close()


if __name__ == "__main__":
    build(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 11)
