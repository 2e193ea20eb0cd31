"""An Olist-shaped warehouse (the public Brazilian e-commerce dataset, as its documentation
describes its tables) in a DuckDB file, with dirt planted where real exports have it, for
examples/olist/mapping.yaml:

    olist_customers        customer_id is per ORDER; customer_unique_id is the person; zip prefix,
                           city (non-ASCII: "são paulo"), state
    olist_orders           order_status; order_purchase_timestamp as TEXT ('2017-10-02 10:56:33',
                           local time in São Paulo), delivery dates NULL until delivered
    olist_order_items      order_item_id 1..n within an order (three units of a product are three
                           items), product_id, seller_id, price, freight_value (BRL)
    olist_products         product_category_name in Portuguese, NULLs in the dimensions
    product_category_name_translation   Portuguese -> English (some categories have none)

PLANTED lists each dirty row with the verdict the contract gives it (README.md shows the table;
tests/world/test_olist.py checks each one). Deterministic for a seed.

    python examples/olist/generate.py OUT.duckdb
"""

import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

CATEGORIES = [("cama_mesa_banho", "bed_bath_table"), ("beleza_saude", "health_beauty"),
              ("esporte_lazer", "sports_leisure"), ("informatica_acessorios", "computers_accessories"),
              ("moveis_decoracao", "furniture_decor"), ("utilidades_domesticas", "housewares"),
              ("relogios_presentes", "watches_gifts"), ("telefonia", "telephony"),
              ("climatizacao", "air_conditioning"), ("brinquedos", "toys")]
CITIES = [("01310", "são paulo", "SP"), ("20040", "rio de janeiro", "RJ"), ("30130", "belo horizonte", "MG"),
          ("80010", "curitiba", "PR"), ("90010", "porto alegre", "RS"), ("40020", "salvador", "BA")]

# Each planted row and its verdict (entity, the record's id, what the run does with it).
PLANTED = {
    "oc1person": ("customers", "one person, three orders (three customer_id rows): 1 delivered, 2 superseded"),
    "oc2cust": ("customers", "customer_unique_id NULL: quarantined one_of_required (CustomerId, Email)"),
    "oc3person": ("customers", "a customer with no order (no window value): sent by --all only"),
    "oo1": ("orders", "shipped, delivery dates NULL: delivered without Status"),
    "oo2": ("orders", "canceled: Status cancelled"),
    "oo3": ("orders", "'2017-10-02T10:56:33Z': OrderDate 2017-10-02T10:56:33.000Z"),
    "oo4": ("orders", "'2017-10-03 10:56' (no seconds, São Paulo time): 2017-10-03T13:56:00.000Z"),
    "oo5": ("orders", "'02/10/2017 10:56' (day first): quarantined timestamp; no partition reads it"),
    "oo6": ("orders", "'2017-10-04' (a date alone): quarantined timestamp"),
    "oo7": ("orders", "no items: delivered with OrderItems [] and totals 0"),
    "oo8": ("orders", "an item at -5.00: quarantined range (OrderItems.Price), both its rows"),
    "oo9": ("orders", "three units of one product (items 1..3): TotalQuantity 3, UniqueQuantity 1"),
    "oo10": ("orders", "a customer_id not in olist_customers: delivered without CustomerId"),
    "oo11": ("orders", "exported twice (processing 11:00, delivered 12:00): the newer is sent, completed"),
    "oo12": ("orders", "an item without product_id: quarantined required (OrderItems.ProductId)"),
    "oo13": ("orders", "purchase timestamp NULL: sent by --all only, without OrderDate"),
    "oo14": ("orders", "an item of a product not in olist_products: delivered"),
    "oo15": ("orders", "order_item_id 1 twice (16.00, then 17.00): one line, the other superseded"),
    "oo16": ("orders", "a price of 0 (a gift): delivered, TotalRevenue 0"),
    "oo17": ("orders", "a price NaN: quarantined finite (OrderItems.Price)"),
    "oo18orphan": ("orders", "an item whose order is not in olist_orders: quarantined required (OrderId)"),
    "oo19": ("orders", "'2017-10-15 11:00:00-03:00' (an offset): 2017-10-15T14:00:00.000Z"),
    "oo20": ("orders", "'2017-02-30 11:00:00' (no such day): quarantined timestamp"),
    "oo21": ("orders", "'2017-10-15 00:30:00' (skipped when São Paulo's clocks went forward): quarantined timestamp"),
    "oo22": ("orders", "'2018-02-17 23:30:00' (lived twice when clocks went back): the earlier, 01:30Z"),
    "op1nullcategory": ("products", "category NULL: delivered without Taxonomy"),
    "op2pcgamer": ("products", "'pc_gamer', no translation: Taxonomy ['pc_gamer']"),
    "op3neversold": ("products", "never sold, so no price: delivered with ProductVariants []"),
    "ghostproduct": ("products", "sold but not in olist_products: quarantined required (ProductId)"),
}


def build(path: str | Path, orders: int = 800, seed: int = 22) -> Path:
    path = Path(path)
    path.unlink(missing_ok=True)
    rng = random.Random(seed)

    def hid() -> str:
        return "".join(rng.choice("0123456789abcdef") for _ in range(32))

    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE olist_customers (customer_id VARCHAR, customer_unique_id VARCHAR,
        customer_zip_code_prefix VARCHAR, customer_city VARCHAR, customer_state VARCHAR)""")
    con.execute("""CREATE TABLE olist_orders (order_id VARCHAR, customer_id VARCHAR, order_status VARCHAR,
        order_purchase_timestamp VARCHAR, order_approved_at VARCHAR, order_delivered_carrier_date VARCHAR,
        order_delivered_customer_date VARCHAR, order_estimated_delivery_date VARCHAR)""")
    con.execute("""CREATE TABLE olist_order_items (order_id VARCHAR, order_item_id INTEGER, product_id VARCHAR,
        seller_id VARCHAR, shipping_limit_date VARCHAR, price DOUBLE, freight_value DOUBLE)""")
    con.execute("""CREATE TABLE olist_products (product_id VARCHAR, product_category_name VARCHAR,
        product_name_lenght INTEGER, product_description_lenght INTEGER, product_photos_qty INTEGER,
        product_weight_g INTEGER, product_length_cm INTEGER, product_height_cm INTEGER, product_width_cm INTEGER)""")
    con.execute("CREATE TABLE product_category_name_translation (product_category_name VARCHAR, product_category_name_english VARCHAR)")
    con.executemany("INSERT INTO product_category_name_translation VALUES (?, ?)", CATEGORIES)
    products, sellers, people = [hid() for _ in range(300)], [hid() for _ in range(25)], [hid() for _ in range(orders // 2)]
    con.executemany("INSERT INTO olist_products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[p, rng.choice(CATEGORIES)[0], *(rng.randint(1, 900) for _ in range(7))] for p in products])
    con.execute("INSERT INTO olist_products VALUES ('op1nullcategory', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    con.execute("INSERT INTO olist_products VALUES ('op2pcgamer', 'pc_gamer', 30, 400, 2, 900, 30, 10, 20)")
    con.execute("INSERT INTO olist_products VALUES ('op3neversold', 'brinquedos', 30, 400, 2, 900, 30, 10, 20)")

    customers, order_rows, items = [], [], []

    def order(oid, cid, person, status, ts, lines, delivered=None, new_customer=True):
        if new_customer:
            customers.append([cid, person, *rng.choice(CITIES)])
        order_rows.append([oid, cid, status, ts, ts, delivered, delivered, None])
        items.extend([oid, k, pid, sellers[0], None, price, 10.0] for k, (pid, price) in enumerate(lines, 1))

    start = datetime(2017, 1, 5, 8, 0, 0)
    for _ in range(orders):
        ts = start + timedelta(minutes=rng.randint(0, 60 * 24 * 480))
        if datetime(2017, 10, 15) <= ts < datetime(2017, 10, 15, 1):
            ts += timedelta(hours=1)  # not in São Paulo's skipped hour: oo21 is the one planted there
        status = rng.choices(["delivered", "shipped", "canceled", "invoiced", "processing"], [85, 6, 4, 3, 2])[0]
        delivered = (ts + timedelta(days=rng.randint(3, 20))).strftime("%Y-%m-%d %H:%M:%S") if status == "delivered" else None
        same = rng.random() < 0.15  # several units of one product: one item each
        first = rng.choice(products)
        lines = [(first if same else rng.choice(products), round(rng.uniform(9.9, 900), 2))
                 for _ in range(rng.choices([1, 2, 3, 4], [70, 20, 7, 3])[0])]
        order(hid(), hid(), rng.choice(people), status, ts.strftime("%Y-%m-%d %H:%M:%S"), lines, delivered)

    p = products
    order("oc1order1", "oc1cust1", "oc1person", "delivered", "2017-03-01 10:00:00", [(p[0], 50.0)])
    order("oc1order2", "oc1cust2", "oc1person", "delivered", "2017-06-01 10:00:00", [(p[1], 60.0)])
    order("oc1order3", "oc1cust3", "oc1person", "delivered", "2017-09-01 10:00:00", [(p[2], 70.0)])
    order("oc2order", "oc2cust", None, "delivered", "2017-04-04 12:00:00", [(p[3], 30.0)])
    customers.append(["oc3cust", "oc3person", "69005", "manaus", "AM"])
    order("oo1", "oo1cust", "oo1person", "shipped", "2017-05-05 09:00:00", [(p[4], 40.0)])
    order("oo2", "oo2cust", "oo2person", "canceled", "2017-05-06 09:00:00", [(p[5], 41.0)])
    order("oo3", "oo3cust", "oo3person", "delivered", "2017-10-02T10:56:33Z", [(p[6], 42.0)])
    order("oo4", "oo4cust", "oo4person", "delivered", "2017-10-03 10:56", [(p[7], 43.0)])
    order("oo5", "oo5cust", "oo5person", "delivered", "02/10/2017 10:56", [(p[8], 44.0)])
    order("oo6", "oo6cust", "oo6person", "delivered", "2017-10-04", [(p[9], 45.0)])
    order("oo7", "oo7cust", "oo7person", "unavailable", "2017-10-05 11:00:00", [])
    order("oo8", "oo8cust", "oo8person", "delivered", "2017-10-06 11:00:00", [(p[10], 20.0), (p[11], -5.0)])
    order("oo9", "oo9cust", "oo9person", "delivered", "2017-10-07 11:00:00", [(p[12], 10.0)] * 3)
    order("oo10", "oo10ghost", None, "delivered", "2017-10-08 11:00:00", [(p[13], 11.0)], new_customer=False)
    order("oo11", "oo11cust", "oo11person", "processing", "2017-10-09 11:00:00", [(p[14], 12.0)])
    order_rows.append(["oo11", "oo11cust", "delivered", "2017-10-09 12:00:00", None, None, None, None])
    order("oo12", "oo12cust", "oo12person", "delivered", "2017-10-10 11:00:00", [(p[15], 12.0), (None, 13.0)])
    order("oo13", "oo13cust", "oo13person", "created", None, [(p[16], 14.0)])
    order("oo14", "oo14cust", "oo14person", "delivered", "2017-10-11 11:00:00", [("ghostproduct", 15.0)])
    order("oo15", "oo15cust", "oo15person", "delivered", "2017-10-12 11:00:00", [(p[17], 16.0)])
    items.append(["oo15", 1, p[17], sellers[0], None, 17.0, 10.0])
    order("oo16", "oo16cust", "oo16person", "delivered", "2017-10-13 11:00:00", [(p[18], 0.0)])
    order("oo17", "oo17cust", "oo17person", "delivered", "2017-10-14 11:00:00", [(p[19], float("nan"))])
    items.append(["oo18orphan", 1, p[20], sellers[0], None, 18.0, 10.0])
    order("oo19", "oo19cust", "oo19person", "delivered", "2017-10-15 11:00:00-03:00", [(p[21], 19.0)])
    order("oo20", "oo20cust", "oo20person", "delivered", "2017-02-30 11:00:00", [(p[22], 20.0)])
    order("oo21", "oo21cust", "oo21person", "delivered", "2017-10-15 00:30:00", [(p[23], 21.0)])
    order("oo22", "oo22cust", "oo22person", "delivered", "2018-02-17 23:30:00", [(p[24], 22.0)])
    con.executemany("INSERT INTO olist_customers VALUES (?, ?, ?, ?, ?)", customers)
    con.executemany("INSERT INTO olist_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", order_rows)
    con.executemany("INSERT INTO olist_order_items VALUES (?, ?, ?, ?, ?, ?, ?)", items)
    con.close()
    return path


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "olist.duckdb"))
