"""A PrestaShop 1.7 / 8.x store (MySQL) replicated raw into DuckDB, with PrestaShop's tables and
columns (`ps_` prefix; MySQL `datetime` in the shop's local time, Europe/Paris), small and
deterministic, with dirty rows planted where they hurt a mapping:

    ps_configuration      name, value (PS_CURRENCY_DEFAULT, PS_LANG_DEFAULT)
    ps_lang               id_lang, iso_code ('fr'), language_code ('fr-fr': lower case)
    ps_currency           id_currency, iso_code (a deleted currency left with '')
    ps_customer           id_customer, id_lang, email, firstname, lastname, newsletter, optin, active,
                          is_guest, deleted, date_add, date_upd: date_upd as TEXT, as a replication
                          of MySQL's zero dates keeps it ('0000-00-00 00:00:00')
    ps_product            id_product, reference, price (tax excluded), active, date_upd
    ps_product_lang       id_product, id_shop, id_lang, name
    ps_product_attribute  id_product_attribute, id_product, reference, price (an IMPACT added to the
                          product's price), default_on: a product's combinations (no update time)
    ps_orders             id_order, reference (shared by the orders of one split cart), id_customer,
                          id_currency, current_state, total_paid_tax_incl, date_add, date_upd
    ps_order_detail       id_order_detail, id_order, product_id, product_attribute_id (0: a simple
                          product), product_name, product_reference, product_quantity,
                          unit_price_tax_incl
    ps_order_state_lang   id_order_state, id_lang, name

`mutate(path)` is the next day (VERDICTS.md).

    python examples/prestashop/generate.py OUT.duckdb
"""

import sys
from datetime import datetime, timedelta

import duckdb

SCHEMA = """
CREATE TABLE ps_configuration (name VARCHAR, value VARCHAR);
CREATE TABLE ps_lang (id_lang INTEGER, name VARCHAR, active SMALLINT, iso_code VARCHAR, language_code VARCHAR);
CREATE TABLE ps_currency (id_currency INTEGER, iso_code VARCHAR, deleted SMALLINT);
CREATE TABLE ps_customer (id_customer INTEGER, id_lang INTEGER, email VARCHAR, firstname VARCHAR,
  lastname VARCHAR, newsletter SMALLINT, optin SMALLINT, active SMALLINT, is_guest SMALLINT,
  deleted SMALLINT, date_add VARCHAR, date_upd VARCHAR);
CREATE TABLE ps_product (id_product INTEGER, reference VARCHAR, price DECIMAL(20,6), active SMALLINT,
  date_add TIMESTAMP, date_upd TIMESTAMP);
CREATE TABLE ps_product_lang (id_product INTEGER, id_shop INTEGER, id_lang INTEGER, name VARCHAR);
CREATE TABLE ps_product_attribute (id_product_attribute INTEGER, id_product INTEGER, reference VARCHAR,
  price DECIMAL(20,6), default_on SMALLINT);
CREATE TABLE ps_orders (id_order INTEGER, reference VARCHAR, id_customer INTEGER, id_currency INTEGER,
  id_lang INTEGER, current_state INTEGER, total_paid_tax_incl DECIMAL(20,6), date_add TIMESTAMP,
  date_upd TIMESTAMP);
CREATE TABLE ps_order_detail (id_order_detail INTEGER, id_order INTEGER, product_id INTEGER,
  product_attribute_id INTEGER, product_name VARCHAR, product_reference VARCHAR,
  product_quantity INTEGER, unit_price_tax_incl DECIMAL(20,6));
CREATE TABLE ps_order_state_lang (id_order_state INTEGER, id_lang INTEGER, name VARCHAR);
"""

STATES = {1: "En attente du paiement par chèque", 2: "Paiement accepté", 3: "En cours de préparation",
          4: "Expédié", 5: "Livré", 6: "Annulé", 7: "Remboursé", 8: "Erreur de paiement",
          10: "En attente de virement bancaire"}


def _t(day: datetime) -> str:
    return day.strftime("%Y-%m-%d %H:%M:%S")


def build(path):
    """The store on the first day; returns `path`."""
    con = duckdb.connect(str(path))
    con.execute(SCHEMA)
    con.execute("INSERT INTO ps_configuration VALUES ('PS_CURRENCY_DEFAULT', '1'), ('PS_LANG_DEFAULT', '1')")
    con.execute("INSERT INTO ps_lang VALUES (1, 'Français (French)', 1, 'fr', 'fr-fr'), (2, 'English', 1, 'en', 'en-us')")
    con.execute("INSERT INTO ps_currency VALUES (1, 'EUR', 0), (2, 'GBP', 0), (3, '', 1)")
    con.executemany("INSERT INTO ps_order_state_lang VALUES (?, 1, ?)", list(STATES.items()))

    base = datetime(2026, 11, 2, 10, 0, 0)
    customers = []
    for i in range(1, 31):
        t = _t(base + timedelta(days=i % 20, minutes=i))
        customers.append((i, 1, f"client{i}@example.fr", f"Prénom{i}", f"Nom{i}", i % 2, 0, 1, 0, 0, t, t))
    customers += [
        (31, 1, "parti@example.fr", "Parti", "Supprimé", 0, 0, 0, 0, 1, "2026-11-03 09:00:00", "2026-11-20 09:00:00"),
        (32, 1, "jean.dupont@gmail", "Jean", "Dupont", 1, 0, 1, 0, 0, "2026-11-04 09:00:00", "2026-11-04 09:00:00"),
        (33, 1, "invite@example.fr", "Invité", "Martin", 0, 0, 1, 1, 0, "2026-11-05 09:00:00", "2026-11-05 09:00:00"),
        (34, 1, "invite@example.fr", "Invité", "Martin", 1, 0, 1, 0, 0, "2026-11-06 09:00:00", "2026-11-06 11:00:00"),
        (35, 1, "ancien@example.fr", "Ancien", "Client", 0, 0, 1, 0, 0, "0000-00-00 00:00:00", "0000-00-00 00:00:00"),
        (36, 1, "long@example.fr", "Long", "X" * 120, 0, 0, 1, 0, 0, "2026-11-07 09:00:00", "2026-11-07 09:00:00"),
        (37, 1, " Marie.Curie@Example.FR ", "Marie", "Curie", 1, 1, 1, 0, 0, "2026-11-08 09:00:00", "2026-11-08 09:00:00"),
        (38, 3, "sanslangue@example.fr", "Sans", "Langue", 0, 0, 1, 0, 0, "2026-11-09 09:00:00", "2026-11-09 09:00:00"),
        (39, 1, "printemps@example.fr", "Heure", "Sautée", 0, 0, 1, 0, 0, "2026-03-29 02:30:00", "2026-03-29 02:30:00"),
        (40, 2, "zero@example.com", "Zero", "Date", 1, 0, 1, 0, 0, "2026-11-10 09:00:00", "0000-00-00 00:00:00"),
    ]
    con.executemany("INSERT INTO ps_customer VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", customers)

    products = []
    names = []
    for p in range(1, 14):
        price = 10 + p
        upd = datetime(2026, 11, 1, 8, 0) + timedelta(hours=p)
        products.append((p, f"REF-{p:03d}", price, 0 if p == 12 else 1, upd, upd))
        if p == 13:
            names.append((p, 1, 2, "Product thirteen"))  # only an English name
        else:
            names.append((p, 1, 1, f"Produit {p}"))
            names.append((p, 1, 2, f"Product {p}"))
    con.executemany("INSERT INTO ps_product VALUES (?,?,?,?,?,?)", products)
    con.executemany("INSERT INTO ps_product_lang VALUES (?,?,?,?)", names)
    con.executemany("INSERT INTO ps_product_attribute VALUES (?,?,?,?,?)", [
        (11, 5, "REF-005-S", 0, 1), (12, 5, "REF-005-M", 2.5, 0), (13, 5, "", -1.0, 0),
        (14, 11, "REF-011-A", -25.0, 0), (15, 11, "REF-011-B", 0, 1),
    ])

    orders, lines = [], []
    line_id = 0

    def line(order, product, attribute, qty, price):
        nonlocal line_id
        line_id += 1
        ref = {11: "REF-005-S", 12: "REF-005-M"}.get(attribute, f"REF-{product:03d}")
        lines.append((line_id, order, product, attribute, f"Produit {product}", ref, qty, price))

    for o in range(1, 33):
        t = datetime(2026, 11, 10, 14, 0) + timedelta(hours=o)
        state = {21: 6, 22: 7, 23: 10, 24: 8}.get(o, 5)
        currency = {25: 2, 26: 3}.get(o, 1)
        customer = o if o <= 30 else 1
        if o == 30:
            t = datetime(2026, 10, 25, 2, 30)  # lived twice in Paris: 00:30Z and 01:30Z
        orders.append((o, "XKBKNABJK" if o in (28, 29) else f"ORD{o:06d}", customer, currency, 1, state,
                       36.0, t, t + timedelta(minutes=5)))
        if o == 31:
            line(o, 999, 0, 1, 36.0)
        elif o == 32:
            line(o, 5, 12, 2, 18.0)
        else:
            line(o, 1 + o % 4, 0, 1, 12.0)
            line(o, 6 + o % 4, 0, 0 if o == 27 else 2, 12.0)
    con.executemany("INSERT INTO ps_orders VALUES (?,?,?,?,?,?,?,?,?)", orders)
    line(99, 2, 0, 1, 13.0)  # an orphan: its order row is gone
    con.executemany("INSERT INTO ps_order_detail VALUES (?,?,?,?,?,?,?,?)", lines)
    con.close()
    return path


def mutate(path) -> None:
    """The next day (2026-11-25, Paris): customer 5 deleted, customer 6's new email, order 3
    refunded, combination 12's impact changed (ps_product_attribute has no update time)."""
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE ps_customer SET deleted = 1, date_upd = '2026-11-25 10:00:00' WHERE id_customer = 5")
        con.execute("UPDATE ps_customer SET email = 'nouvelle@example.fr', date_upd = '2026-11-25 11:00:00' WHERE id_customer = 6")
        con.execute("UPDATE ps_orders SET current_state = 7, date_upd = '2026-11-25 12:10:00' WHERE id_order = 3")
        con.execute("UPDATE ps_product_attribute SET price = 3.0 WHERE id_product_attribute = 12")


if __name__ == "__main__":
    build(sys.argv[1])
