"""A small Magento 2 warehouse (the tables a Magento database dump holds, in DuckDB) with planted
dirty rows whose verdicts are known: `python examples/magento/generate.py OUT.duckdb [SEED]`.

Shapes that hurt a careless mapping: a configurable product's order line is two rows of
sales_order_item (the parent item, and its simple child item with parent_item_id set); product
names and prices live in EAV tables per store (store 0 is the default); variants are simple
products linked to their configurable one by catalog_product_super_link; one address may hold
customers of two websites. `PLANTED` lists each dirty row and the verdict it must get."""

import random
import sys
from datetime import datetime, timedelta

import duckdb

DDL = """
CREATE TABLE customer_entity(entity_id INTEGER, website_id SMALLINT, email VARCHAR, firstname VARCHAR, lastname VARCHAR,
  created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE eav_attribute(attribute_id SMALLINT, entity_type_id SMALLINT, attribute_code VARCHAR, backend_type VARCHAR);
CREATE TABLE catalog_product_entity(entity_id INTEGER, attribute_set_id SMALLINT, type_id VARCHAR, sku VARCHAR,
  created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE catalog_product_entity_varchar(value_id INTEGER, attribute_id SMALLINT, store_id SMALLINT, entity_id INTEGER, value VARCHAR);
CREATE TABLE catalog_product_entity_decimal(value_id INTEGER, attribute_id SMALLINT, store_id SMALLINT, entity_id INTEGER, value DECIMAL(20,6));
CREATE TABLE catalog_product_super_link(link_id INTEGER, product_id INTEGER, parent_id INTEGER);
CREATE TABLE sales_order(entity_id INTEGER, increment_id VARCHAR, state VARCHAR, status VARCHAR, customer_id INTEGER,
  customer_email VARCHAR, order_currency_code VARCHAR, base_currency_code VARCHAR, grand_total DECIMAL(20,4),
  created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE sales_order_item(item_id INTEGER, order_id INTEGER, parent_item_id INTEGER, product_id INTEGER, sku VARCHAR,
  name VARCHAR, product_type VARCHAR, qty_ordered DECIMAL(12,4), price DECIMAL(20,4), original_price DECIMAL(20,4),
  created_at TIMESTAMP, updated_at TIMESTAMP);
"""

NAME, PRICE = 73, 77
CUSTOMERS, CONFIGURABLES, SIMPLES, ORDERS = 300, 20, 30, 400
START = datetime(2026, 11, 1, 8, 0)

# (entity, record id, rule, field): the verdict of each planted row (record ids as the run names them).
PLANTED = [
    ("customers", "customerid:2", "email", "Email"),                       # 'not-an-email'
    ("products", "9001", "range", "ProductVariants.SalePrice"),             # a simple product priced -3
    ("products", "row", "required", "ProductId"),                           # a variant whose configurable is gone
    ("orders", "9003", "required", "Currency"),                             # order_currency_code NULL
    ("orders", "9004", "currency", "Currency"),                             # 'EURO'
    ("orders", "9004", "max_length", "Currency"),
    ("orders", "9006", "range", "OrderItems.Quantity"),                     # qty_ordered 0
    ("orders", "9007", "range", "OrderItems.Price"),                        # price -5, original_price -5, grand_total -5
    ("orders", "9007", "range", "OrderItems.OriginalPrice"),
    ("orders", "9007", "range", "TotalRevenue"),
    ("orders", "9011", "type", "OrderItems.Quantity"),                      # qty_ordered 1.5000: no whole quantity
    ("orders", "row", "required", "OrderId"),                               # a line of an order that is not there (its only reason)
]


def build(path: str, seed: int = 7) -> None:
    rng = random.Random(seed)
    con = duckdb.connect(path)
    con.execute(DDL)
    con.execute("INSERT INTO eav_attribute VALUES (73, 4, 'name', 'varchar'), (77, 4, 'price', 'decimal')")

    def at(hours: float) -> datetime:
        return START + timedelta(hours=hours)

    customers = []
    for i in range(1, CUSTOMERS + 1):
        first = rng.choice(["Ann", "Jürgen", "Zoë", "名前", "Søren", "Li", "Ana"])
        email = f"c{i}@example.com" if i % 50 else f"  C{i}@Example.COM "  # padded and upper-cased: trimmed, same address
        customers.append((i, 1, email, first, f"L{i}", at(0), at(rng.randint(0, 24 * 20))))
    customers[1] = (2, 1, "not-an-email", "Bad", "Mail", at(0), at(1))
    customers[5] = (6, 1, None, "No", "Mail", at(0), at(1))                          # no email: known by its id
    customers.append((301, 2, "c10@example.com", "Web", "Two", at(0), at(24 * 25)))  # c10's address on website 2, newer: merges 10
    customers.append((7, 1, "c7@example.com", "Dup", "Older", at(0), at(-5)))        # an older copy of customer 7: superseded
    con.executemany("INSERT INTO customer_entity VALUES (?, ?, ?, ?, ?, ?, ?)", customers)

    products, names, prices, links = [], [], [], []
    for c in range(1, CONFIGURABLES + 1):
        parent = 1000 + c
        products.append((parent, 4, "configurable", f"CONF-{c}", at(0), at(rng.randint(0, 240))))
        names += [(parent, 0, f"Configurable {c} – ☕"), (parent, 1, f"Store view name {c}")]  # store 1 must not win
        for v in range(0 if c == 20 else rng.randint(1, 4)):  # configurable 20 has no variants
            child = 2000 + c * 10 + v
            products.append((child, 4, "simple", f"CONF-{c}-{v}", at(0), at(rng.randint(0, 240))))
            names.append((child, 0, f"Configurable {c} size {v}"))
            prices.append((child, round(rng.uniform(5, 80), 2)))
            links.append((child, parent))
    for s in range(1, SIMPLES + 1):
        simple = 3000 + s
        products.append((simple, 4, "simple", f"SIMPLE-{s}", at(0), at(rng.randint(0, 240))))
        if s != 1:  # simple 3001 has no name in the EAV table
            names.append((simple, 0, f"Simple {s}"))
        if s != 2:  # simple 3002 has no price
            prices.append((simple, round(rng.uniform(1, 40), 2)))
    products += [(9001, 4, "simple", "NEGPRICE", at(0), at(3)), (9002, 4, "simple", "ORPHAN-VARIANT", at(0), at(3))]
    names += [(9001, 0, "Negative price"), (9002, 0, "Orphan variant")]
    prices += [(9001, -3.0), (9002, 5.0)]
    links.append((9002, 999))  # its configurable 999 does not exist
    con.executemany("INSERT INTO catalog_product_entity VALUES (?, ?, ?, ?, ?, ?)", products)
    con.executemany("INSERT INTO catalog_product_entity_varchar VALUES (?, 73, ?, ?, ?)",
                    [(n, store, e, v) for n, (e, store, v) in enumerate(names, 1)])
    con.executemany("INSERT INTO catalog_product_entity_decimal VALUES (?, 77, 0, ?, ?)",
                    [(n, e, v) for n, (e, v) in enumerate(prices, 1)])
    con.executemany("INSERT INTO catalog_product_super_link VALUES (?, ?, ?)", [(n, c, p) for n, (c, p) in enumerate(links, 1)])

    sellable = [(p, None) for p in range(3001, SIMPLES + 3001)] + [(parent, child) for child, parent in links if parent != 999]
    price_of = dict(prices)
    orders, items = [], []
    item_id = 0
    statuses = ["complete"] * 6 + ["canceled", "closed", "processing", "pending"]
    for o in range(1, ORDERS + 1):
        customer = rng.randint(1, CUSTOMERS)
        lines = []
        for _ in range(0 if o % 97 == 0 else rng.randint(1, 3)):  # every 97th order has no lines
            product, child = rng.choice(sellable)
            qty = rng.randint(1, 3)
            price = price_of.get(child if child else product) or 9.99
            item_id += 1
            lines.append((item_id, o, None, product, f"SKU-{child or product}", f"Item {child or product}",
                          "configurable" if child else "simple", qty, price, price, at(o), at(o)))
            if child:  # the configurable line's simple child item: the same line again, priced 0
                item_id += 1
                lines.append((item_id, o, item_id - 1, child, f"SKU-{child}", f"Item {child}", "simple", qty, 0, 0, at(o), at(o)))
        total = round(sum(line[7] * line[8] for line in lines if line[2] is None) + 4.99, 4)  # shipping in the total
        currency = rng.choice(["EUR", "EUR", "USD", "eur"])  # 'eur': upper-cased
        orders.append((o, f"{o:09d}", "", rng.choice(statuses), customer, f"c{customer}@example.com", currency, "EUR",
                       total, at(o), at(o + rng.choice([0, 0, 5]))))
        items += lines
    orders.append((5, "000000005", "", "pending", 1, "c1@example.com", "EUR", "EUR", 1, at(5), at(4)))  # an older version of 5
    dirty = {9003: (None, 1, 10), 9004: ("EURO", 1, 10), 9006: ("EUR", 0, 10), 9007: ("EUR", 1, -5), 9011: ("EUR", 1.5, 8)}
    for o, (currency, qty, price) in dirty.items():
        orders.append((o, f"{o:09d}", "", "complete", 1, "c1@example.com", currency, "EUR", qty * price, at(3), at(3)))
        item_id += 1
        items.append((item_id, o, None, 3005, "SIMPLE-5", "Simple 5", "simple", qty, price, price, at(3), at(3)))
    item_id += 1
    items.append((item_id, 9999, None, 3005, "SIMPLE-5", "Simple 5", "simple", 1, 12, 12, at(3), at(3)))  # no order 9999
    con.executemany("INSERT INTO sales_order VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", orders)
    con.executemany("INSERT INTO sales_order_item VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", items)
    con.close()


if __name__ == "__main__":
    build(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7)
