"""An Odoo 16/17 database (PostgreSQL) replicated raw into DuckDB, small and deterministic.

Odoo's own table and column names: res_partner (companies, their contacts and their invoice and
delivery addresses in one table), res_currency, product_template (name as JSONB per language, as
in Odoo 16+), product_product (variants), sale_order, sale_order_line (section and note rows that
are no products, down payment lines). write_date is naive UTC, as Odoo stores it.

    .venv/bin/python examples/odoo/generate.py /tmp/odoo.duckdb

PLANTED names the dirty rows; VERDICTS.md says what Replenit should hold.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta

import duckdb

BASE = datetime(2026, 11, 20, 8, 0, 0)

PLANTED = {
    "partner 101": "company Acme SA (is_company), no email; its contact 102 places orders",
    "partner 103": "Acme's invoice address (type invoice, parent 101): an order is placed on it",
    "partner 104": "Acme's delivery address (type delivery, parent 101)",
    "partner 105": "archived person (active false)",
    "partner 106": "email 'jane.doe at example.com' (no address)",
    "partner 107": "lang 'sr@latin' (glibc form: sr-Latn)",
    "partner 108 / 109": "two persons, one email in two cases (Info@Brel.be, info@brel.be): merged",
    "partner 110": "phone '+32 470 12 34 56' (Odoo formats phones with spaces)",
    "partner 111": "phone '0470 12 34 56' (national: no E.164 form without a guess)",
    "partner 112": "lang 'fr_BE', email with spaces around",
    "order 9001": "state draft (a quotation)",
    "order 9002": "state sent (a quotation sent)",
    "order 9003": "state cancel",
    "order 9004": "partner is Acme's invoice address 103: customer is the company 101",
    "order 9005": "placed by Acme's contact 102: customer is 102",
    "order 9006": "a section and a note line beside two product lines",
    "order 9007": "a down payment line (is_downpayment, qty 0)",
    "order 9008": "a line of 2.5 units (kg): quantity is no integer",
    "order 9009": "state done (locked)",
    "order 9010": "no lines at all",
    "template 7": "name only in fr_BE (no en_US key)",
    "template 8": "archived template (active false) with one variant",
    "variant 15": "archived variant of template 1",
}


def build(path: str, seed: int = 11) -> None:
    rng = random.Random(seed)
    con = duckdb.connect(path)
    con.execute(
        """
        CREATE TABLE res_currency (id INTEGER, name VARCHAR, active BOOLEAN);
        CREATE TABLE res_partner (
            id INTEGER, name VARCHAR, is_company BOOLEAN, parent_id INTEGER,
            commercial_partner_id INTEGER, type VARCHAR, email VARCHAR, phone VARCHAR,
            lang VARCHAR, active BOOLEAN, create_date TIMESTAMP, write_date TIMESTAMP);
        CREATE TABLE product_template (
            id INTEGER, name JSON, list_price NUMERIC(16,2), active BOOLEAN, default_code VARCHAR,
            type VARCHAR, write_date TIMESTAMP);
        CREATE TABLE product_product (
            id INTEGER, product_tmpl_id INTEGER, default_code VARCHAR, active BOOLEAN,
            combination_indices VARCHAR, write_date TIMESTAMP);
        CREATE TABLE sale_order (
            id INTEGER, name VARCHAR, partner_id INTEGER, partner_invoice_id INTEGER,
            partner_shipping_id INTEGER, state VARCHAR, currency_id INTEGER,
            amount_total NUMERIC(16,2), date_order TIMESTAMP, write_date TIMESTAMP);
        CREATE TABLE sale_order_line (
            id INTEGER, order_id INTEGER, sequence INTEGER, product_id INTEGER, name VARCHAR,
            product_uom_qty NUMERIC(16,3), price_unit NUMERIC(16,2), price_total NUMERIC(16,2),
            display_type VARCHAR, is_downpayment BOOLEAN, write_date TIMESTAMP);
        """
    )
    con.execute("INSERT INTO res_currency VALUES (1, 'EUR', true), (2, 'USD', true)")

    def t(hours: float) -> datetime:
        return BASE + timedelta(hours=hours)

    partners = [
        # id, name, is_company, parent, commercial, type, email, phone, lang, active
        (101, "Acme SA", True, None, 101, "contact", None, "+3225551234", "fr_BE", True),
        (102, "Marc Dubois", False, 101, 101, "contact", "marc@acme.be", None, "fr_BE", True),
        (103, "Invoicing", False, 101, 101, "invoice", "billing@acme.be", None, "fr_BE", True),
        (104, "Warehouse", False, 101, 101, "delivery", None, None, "fr_BE", True),
        (105, "Old Customer", False, None, 105, "contact", "old@example.com", None, "en_US", False),
        (106, "Jane Doe", False, None, 106, "contact", "jane.doe at example.com", None, "en_US", True),
        (107, "Milan Petrovic", False, None, 107, "contact", "milan@example.rs", None, "sr@latin", True),
        (108, "Jacques Brel", False, None, 108, "contact", "Info@Brel.be", None, "fr_BE", True),
        (109, "France Brel", False, None, 109, "contact", "info@brel.be", None, "fr_BE", True),
        (110, "Anna Peeters", False, None, 110, "contact", "anna@example.be", "+32 470 12 34 56", "nl_BE", True),
        (111, "Tom Janssens", False, None, 111, "contact", "tom@example.be", "0470 12 34 56", "nl_BE", True),
        (112, "Chloé Martin", False, None, 112, "contact", "  chloe@example.fr ", None, "fr_BE", True),
    ]
    langs = ["en_US", "fr_BE", "nl_BE", "de_DE", "en_GB"]
    for i in range(1, 31):  # 30 plain persons
        pid = 200 + i
        partners.append(
            (pid, f"Person {i}", False, None, pid, "contact", f"person{i}@example.com",
             f"+3247{rng.randrange(1000000, 9999999)}", langs[i % len(langs)], True)
        )
    for n, p in enumerate(partners):
        # 108 is written after 109: the newest of the shared address is 108
        hours = 1 + n * 0.5 if p[0] != 108 else 40
        con.execute(
            "INSERT INTO res_partner VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*p, t(-100), t(hours)],
        )

    templates = [
        (1, {"en_US": "Office Chair", "fr_BE": "Chaise de bureau"}, 149.0, True, "CHAIR", "consu"),
        (2, {"en_US": "Desk", "fr_BE": "Bureau"}, 320.0, True, "DESK", "consu"),
        (3, {"en_US": "Coffee Beans", "fr_BE": "Grains de café"}, 12.5, True, "COFFEE", "consu"),
        (4, {"en_US": "Notebook"}, 3.2, True, "NOTE", "consu"),
        (5, {"en_US": "Lamp", "fr_BE": "Lampe"}, 45.0, True, "LAMP", "consu"),
        (6, {"en_US": "Down payment"}, 0.0, True, None, "service"),
        (7, {"fr_BE": "Gaufres de Liège"}, 6.0, True, "GAUF", "consu"),
        (8, {"en_US": "Old Printer"}, 99.0, False, "PRN", "consu"),
    ]
    for n, (tid, name, price, active, code, kind) in enumerate(templates):
        con.execute(
            "INSERT INTO product_template VALUES (?, ?, ?, ?, ?, ?, ?)",
            [tid, json.dumps(name, ensure_ascii=False), price, active, code, kind, t(2 + n)],
        )
    variants = [
        # id, template, default_code, active, combination_indices
        (11, 1, "CHAIR-BLK", True, "1,3"),
        (12, 1, "CHAIR-RED", True, "2,3"),
        (15, 1, "CHAIR-GRN", False, "4,3"),
        (21, 2, "DESK", True, ""),
        (31, 3, "COFFEE-250", True, "5"),
        (32, 3, "COFFEE-1K", True, "6"),
        (41, 4, "NOTE", True, ""),
        (51, 5, "LAMP", True, ""),
        (61, 6, None, True, ""),
        (71, 7, "GAUF", True, ""),
        (81, 8, "PRN", True, ""),
    ]
    for n, v in enumerate(variants):
        con.execute("INSERT INTO product_product VALUES (?, ?, ?, ?, ?, ?)", [*v, t(3 + n)])

    line_id = [1000]

    def order(oid, partner, state, lines, hours, invoice=None, shipping=None):
        total = sum(round(q * p * 1.21, 2) for (_, q, p, dt, dp) in lines if dt is None)
        con.execute(
            "INSERT INTO sale_order VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
            [oid, f"S{oid:05d}", partner, invoice or partner, shipping or partner, state,
             round(total, 2), t(hours - 1), t(hours)],
        )
        for seq, (prod, qty, price, display, downpayment) in enumerate(lines):
            line_id[0] += 1
            ptotal = None if display else round(qty * price * 1.21, 2)
            con.execute(
                "INSERT INTO sale_order_line VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [line_id[0], oid, seq * 10, prod, "line", qty if not display else 0,
                 price if not display else 0, ptotal, display, downpayment, t(hours)],
            )

    def plain(prod, qty, price):
        return (prod, qty, price, None, False)

    for i in range(1, 21):  # 20 plain confirmed orders of the plain persons
        prods = rng.sample([11, 12, 21, 31, 32, 41, 51, 71], rng.randint(1, 3))
        lines = [plain(p, rng.randint(1, 4), {11: 149.0, 12: 149.0, 21: 320.0, 31: 12.5, 32: 40.0,
                                             41: 3.2, 51: 45.0, 71: 6.0}[p]) for p in prods]
        order(100 + i, 200 + i, "sale", lines, 10 + i)
    order(9001, 201, "draft", [plain(11, 1, 149.0)], 50)
    order(9002, 202, "sent", [plain(21, 1, 320.0)], 51)
    order(9003, 203, "cancel", [plain(31, 2, 12.5)], 52)
    order(9004, 103, "sale", [plain(21, 2, 320.0)], 53, invoice=103, shipping=104)
    order(9005, 102, "sale", [plain(11, 4, 149.0)], 54, invoice=103, shipping=104)
    order(9006, 110, "sale",
          [(None, 0, 0, "line_section", False), plain(31, 2, 12.5),
           (None, 0, 0, "line_note", False), plain(41, 5, 3.2)], 55)
    order(9007, 112, "sale", [plain(51, 1, 45.0), (61, 0, 20.0, None, True)], 56)
    order(9008, 111, "sale", [plain(31, 2.5, 12.5), plain(41, 1, 3.2)], 57)
    order(9009, 107, "done", [plain(71, 3, 6.0), plain(81, 1, 99.0)], 58)
    order(9010, 108, "sale", [], 59)
    con.close()


if __name__ == "__main__":
    build(sys.argv[1])
