"""A WooCommerce store (WordPress, High-Performance Order Storage) loaded raw into DuckDB, with the
tables and columns WooCommerce creates (`wp_` prefix; MySQL `datetime` -> TIMESTAMP, `decimal(26,8)`
-> DECIMAL(26,8), `longtext` -> VARCHAR), small and deterministic, and dirty rows planted where they
hurt a mapping:

    wp_options                 option_name, option_value (woocommerce_currency: the store's currency)
    wp_users                   ID, user_login, user_email, user_registered (GMT), display_name
    wp_usermeta                umeta_id, user_id, meta_key, meta_value: EAV (first_name, last_name,
                               billing_phone as typed, billing_email, locale, wp_capabilities (a PHP
                               serialized role: administrator, shop_manager, customer), last_update
                               (epoch seconds as text, WooCommerce's customer save time))
    wp_wc_customer_lookup      customer_id (its OWN id, not the user's), user_id (NULL: a guest), email,
                               first_name, last_name, date_last_active, date_registered
    wp_posts                   ID, post_title, post_status (publish, draft, private, trash), post_type
                               (product, product_variation: post_parent = its product), post_date and
                               post_modified (the site's local time, Europe/Berlin) beside *_gmt
    wp_postmeta                meta_id, post_id, meta_key, meta_value: EAV, every value text (_sku,
                               _price, _regular_price, _sale_price, _stock, _stock_status,
                               attribute_pa_*); a key may be stored twice (an import ran twice)
    wp_terms, wp_term_taxonomy, wp_term_relationships    product_cat and product_type terms
    wp_wc_orders               id, status ('wc-completed', ...), currency (per order), type ('shop_order',
                               'shop_order_refund': a refund is a child order, parent_order_id, negative
                               total), total_amount DECIMAL(26,8), customer_id (0: a guest),
                               billing_email, date_created_gmt, date_updated_gmt (UTC only)
    wp_wc_order_addresses      order_id, address_type (billing, shipping), names, email, phone
    wp_wc_order_operational_data   order_id, date_paid_gmt, date_completed_gmt, ...
    wp_woocommerce_order_items order_item_id, order_item_name, order_item_type (line_item, shipping,
                               coupon, fee, tax), order_id
    wp_woocommerce_order_itemmeta  meta_id, order_item_id, meta_key, meta_value: EAV, text (_product_id,
                               _variation_id (0 for a simple product), _qty, _line_subtotal,
                               _line_total, _line_tax)

`mutate(path)` is the next day: an order refunded, a product trashed, a customer's new email, a
pending order paid, a variation put on sale, a new guest order. PLANTED lists each planted row with
the verdict expected before any run (README.md and VERDICTS.md have them).

    python examples/woocommerce/generate.py OUT.duckdb
"""

import random
import sys
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb
import polars as pl

DDL = """
CREATE TABLE wp_options(option_id BIGINT, option_name VARCHAR, option_value VARCHAR, autoload VARCHAR);
CREATE TABLE wp_users(ID BIGINT, user_login VARCHAR, user_pass VARCHAR, user_nicename VARCHAR, user_email VARCHAR,
  user_url VARCHAR, user_registered TIMESTAMP, user_activation_key VARCHAR, user_status INTEGER, display_name VARCHAR);
CREATE TABLE wp_usermeta(umeta_id BIGINT, user_id BIGINT, meta_key VARCHAR, meta_value VARCHAR);
CREATE TABLE wp_wc_customer_lookup(customer_id BIGINT, user_id BIGINT, username VARCHAR, first_name VARCHAR,
  last_name VARCHAR, email VARCHAR, date_last_active TIMESTAMP, date_registered TIMESTAMP, country VARCHAR,
  postcode VARCHAR, city VARCHAR, state VARCHAR);
CREATE TABLE wp_posts(ID BIGINT, post_author BIGINT, post_date TIMESTAMP, post_date_gmt TIMESTAMP, post_content VARCHAR,
  post_title VARCHAR, post_excerpt VARCHAR, post_status VARCHAR, comment_status VARCHAR, ping_status VARCHAR,
  post_name VARCHAR, post_modified TIMESTAMP, post_modified_gmt TIMESTAMP, post_parent BIGINT, guid VARCHAR,
  menu_order INTEGER, post_type VARCHAR, post_mime_type VARCHAR, comment_count BIGINT);
CREATE TABLE wp_postmeta(meta_id BIGINT, post_id BIGINT, meta_key VARCHAR, meta_value VARCHAR);
CREATE TABLE wp_terms(term_id BIGINT, name VARCHAR, slug VARCHAR, term_group BIGINT);
CREATE TABLE wp_term_taxonomy(term_taxonomy_id BIGINT, term_id BIGINT, taxonomy VARCHAR, description VARCHAR,
  parent BIGINT, count BIGINT);
CREATE TABLE wp_term_relationships(object_id BIGINT, term_taxonomy_id BIGINT, term_order INTEGER);
CREATE TABLE wp_wc_orders(id BIGINT, status VARCHAR, currency VARCHAR, type VARCHAR, tax_amount DECIMAL(26,8),
  total_amount DECIMAL(26,8), customer_id BIGINT, billing_email VARCHAR, date_created_gmt TIMESTAMP,
  date_updated_gmt TIMESTAMP, parent_order_id BIGINT, payment_method VARCHAR, payment_method_title VARCHAR,
  transaction_id VARCHAR, ip_address VARCHAR, user_agent VARCHAR, customer_note VARCHAR);
CREATE TABLE wp_wc_order_addresses(id BIGINT, order_id BIGINT, address_type VARCHAR, first_name VARCHAR,
  last_name VARCHAR, company VARCHAR, address_1 VARCHAR, address_2 VARCHAR, city VARCHAR, state VARCHAR,
  postcode VARCHAR, country VARCHAR, email VARCHAR, phone VARCHAR);
CREATE TABLE wp_wc_order_operational_data(id BIGINT, order_id BIGINT, created_via VARCHAR, woocommerce_version VARCHAR,
  prices_include_tax BOOLEAN, coupon_usages_are_counted BOOLEAN, download_permission_granted BOOLEAN,
  cart_hash VARCHAR, new_order_email_sent BOOLEAN, order_key VARCHAR, order_stock_reduced BOOLEAN,
  date_paid_gmt TIMESTAMP, date_completed_gmt TIMESTAMP, shipping_tax_amount DECIMAL(26,8),
  shipping_total_amount DECIMAL(26,8), discount_tax_amount DECIMAL(26,8), discount_total_amount DECIMAL(26,8),
  recorded_sales BOOLEAN);
CREATE TABLE wp_woocommerce_order_items(order_item_id BIGINT, order_item_name VARCHAR, order_item_type VARCHAR,
  order_id BIGINT);
CREATE TABLE wp_woocommerce_order_itemmeta(meta_id BIGINT, order_item_id BIGINT, meta_key VARCHAR, meta_value VARCHAR);
"""

CUSTOMERS, GUESTS, SIMPLE, VARIABLE, ORDERS = 300, 100, 80, 40, 1200
START = datetime(2026, 1, 5)
NEXT_DAY = datetime(2026, 12, 7, 10, 20)
SHIPPING = Decimal("4.90")
FIRST = ["Anna", "Lukas", "Zoë", "José", "Søren", "Chloé", "Wei", "Aiko", "Fatima", "Jürgen"]
LAST = ["Schmidt", "García", "Müller", "Nguyen", "Øster", "Kowalski", "O'Brien", "Núñez", "Çelik"]
CATEGORIES = [(10, "Clothing", 0), (11, "T-Shirts", 10), (12, "Hoodies", 10), (13, "Accessories", 0), (14, "Mugs", 0)]
# HPOS statuses of shop orders, by share; the mapping sends the first four.
STATUSES = (["wc-completed"] * 14 + ["wc-processing"] * 2 + ["wc-cancelled", "wc-refunded", "wc-pending",
            "wc-failed", "wc-on-hold", "wc-checkout-draft"])
# Malformed emails, one each for users 10-14: the contract refuses each.
BAD_EMAILS = {10: "jane.doe at example.com", 11: "bob@@example.com", 12: "ann@localhost",
              13: ".dot@example.com", 14: "carl@example..com"}
# Every 23rd order line: a line total typed with a decimal comma (a CSV import in a German locale).
COMMA_LINE_EVERY = 23
# Every 29th variation: a regular price typed with a decimal comma.
COMMA_PRICE_EVERY = 29

# The planted users' values in place of the generated ones.
USER_EDITS: dict[int, dict[str, str]] = {
    20: {"email": "Dup@Example.com"}, 21: {"email": "dup@example.com"}, 30: {"phone": "+49 12"}, 31: {"first": "A" * 120},
    32: {"email": ""}, 33: {"first": "Erika"}, 34: {"phone": "0171 2345678"}, 35: {"phone": "+49 171 2345678"},
    36: {"locale": "de_DE"}, 40: {"email": "old40@example.com"}, 41: {"email": " spaced@example.com "},
    42: {"email": "jürgen@example.de"},
}

# Each planted row: (entity, record id as the sandbox / quarantine names it, expected verdict).
# Written before the first run; README.md and VERDICTS.md have the same table.
PLANTED = {
    "users 1, 2": ("customers", None, "administrator and shop_manager: not customers, never read"),
    "users 10-14": ("customers", "customerid:10..14", "malformed user_email: quarantined email (Email), each its own record"),
    "users 20/21": ("customers", "email:dup@example.com",
                    "'Dup@Example.com' (20, older) and 'dup@example.com' (21, newer): 21 delivered, 20 merged"),
    "users 30": ("customers", "email:user30@example.com", "billing_phone '+49 12': quarantined phone (Phone)"),
    "users 31": ("customers", "email:user31@example.com", "first_name of 120 characters: quarantined max_length (Name)"),
    "users 32": ("customers", "customerid:32", "user_email '': delivered with CustomerId 32 and no Email"),
    "users 33": ("customers", "email:user33@example.com",
                 "first_name stored twice ('Erika' first, 'Erica' later): Name Erika (WordPress reads the first)"),
    "users 34": ("customers", "email:user34@example.com", "billing_phone '0171 2345678' (no country code): no Phone"),
    "users 35": ("customers", "email:user35@example.com", "billing_phone '+49 171 2345678': Phone +491712345678"),
    "users 36": ("customers", "email:user36@example.com", "locale 'de_DE': Language de-DE"),
    "users 40": ("customers", "email:old40@example.com", "changes email the next day (mutate)"),
    "users 41": ("customers", "email:spaced@example.com", "user_email ' spaced@example.com ': Email trimmed"),
    "users 42": ("customers", "email:jürgen@example.de", "non-ASCII local part: delivered"),
    "lookup 1050": ("customers", "email:user50@example.com",
                    "guest row with registered user 50's email (other case): not read; user 50 held once, CustomerId 50"),
    "lookup 1051": ("customers", None, "guest email 'guest at mail': quarantined email, record 'row N'"),
    "lookup 1052/1053": ("customers", "email:twin@mail.example", "two guest rows, one email: one customer, the newer (Twin B)"),
    "products 5001": ("products", "5001", "simple, _sku '': delivered, variant without Sku"),
    "products 5002": ("products", "5002", "simple, _price '12,50': quarantined type (ProductVariants.SalePrice)"),
    "products 5003": ("products", "5003", "simple, _regular_price 'N/A': quarantined type (ProductVariants.OriginalPrice)"),
    "products 5004": ("products", "5004", "simple, trashed: not delivered, rows_deleted"),
    "products 5005": ("products", "5005", "simple, draft: not read"),
    "products 5006": ("products", "5006", "name of 210 characters: quarantined max_length (ProductName)"),
    "products 5007": ("products", "5007", "simple, _price and _regular_price '': delivered, variant without prices"),
    "products 5008": ("products", "5008", "simple, trashed the next day: delivered, then DELETEd"),
    "products 5009": ("products", "5009", "simple, _stock '-3' (backorder): StockQuantity 0, IsAvailable true"),
    "products 5080": ("products", "5080", "variable, 3 variations, one _sku stored twice: the first _sku"),
    "products 5081": ("products", "5081", "variable, trashed, its variations published: not delivered, rows_deleted"),
    "products 5082": ("products", "5082", "variable, one variation trashed: delivered with the 2 others"),
    "products 5083": ("products", "5083", "variable, a variation on sale the next day: SalePrice 15 after mutate"),
    "variations every 29th": ("products", None,
                              "_regular_price with a decimal comma: the product quarantined whole, type (OriginalPrice)"),
    "variation 6999": ("products", "6999", "post_parent 5999 (no such post): quarantined required (ProductId)"),
    "orders 10001": ("orders", "10001", "guest, billing ' User60@Example.com ': no CustomerId, Email trimmed: links to user 60"),
    "orders 10002": ("orders", "10002", "currency '': quarantined required (Currency)"),
    "orders 10003": ("orders", "10003", "currency 'eur': Currency EUR"),
    "orders 10004": ("orders", "10004", "a line with _qty '': quarantined required (OrderItems.Quantity)"),
    "orders 10006": ("orders", "10006", "a line with _qty stored twice ('2' first, '5' later): Quantity 2"),
    "orders 10007": ("orders", "10007", "a line of trashed product 5004: delivered with that line"),
    "orders 10008": ("orders", "10008", "date_created_gmt NULL, paid 2026-03-03 12:00: OrderDate 2026-03-03T12:00:00.000Z"),
    "orders 10009": ("orders", "10009", "wc-cancelled: Status cancelled"),
    "orders 10010": ("orders", "10010", "wc-refunded with its refund order 90010: Status refunded; 90010 not an order"),
    "orders 10011": ("orders", "10011", "completed, partial refund 90011: Status completed, TotalRevenue its own total"),
    "orders 10012": ("orders", "10012", "completed, refunded in full the next day: Status refunded after mutate"),
    "orders 10013": ("orders", "10013", "wc-pending: not read; paid the next day: delivered completed"),
    "orders 10014": ("orders", "10014", "a line with _qty '0': quarantined range (OrderItems.Quantity)"),
    "orders 10015": ("orders", "10015", "user 70, billing_email another address: Email user70@example.com (the account's)"),
    "orders 10016": ("orders", "10016", "user 40: Email old40@example.com, new40@example.com after the next day's --all"),
    "orders 10017": ("orders", "10017", "only a shipping item: OrderItems [], TotalRevenue 4.90"),
    "orders 10018": ("orders", "10018", "currency '€': quarantined currency (Currency)"),
    "orders 10019-10021": ("orders", None, "checkout-draft, failed, on-hold: not read"),
    "orders 10022": ("orders", "10022", "wc-processing: Status completed"),
    "orders 10023": ("orders", "10023", "customer_id 9999 (user deleted): CustomerId 9999, Email its billing_email"),
    "orders 10024": ("orders", "10024", "guest, billing 'nobody at mail': delivered, Email as is (an order's Email has no rule)"),
    "orders 10025": ("orders", "10025", "3 x 19.99 + tax 11.39 + shipping 4.90: Price 19.99, TotalRevenue 76.26"),
    "order lines every 23rd": ("orders", None, "_line_total with a decimal comma: the order quarantined, type (OrderItems.Price)"),
    "order item 99990": ("orders", "99999", "a line of order 99999 (no such order): quarantined required (OrderId)"),
}


def money(value: Decimal) -> str:
    return f"{value:.2f}"


class _Rows:
    """Row lists per table, with the running ids WordPress's auto-increments would give."""

    def __init__(self):
        self.tables: dict[str, list[tuple]] = {}
        self.ids: dict[str, int] = {}

    def add(self, table: str, *values) -> None:
        self.tables.setdefault(table, []).append(values)

    def next_id(self, name: str, start: int = 1) -> int:
        self.ids[name] = self.ids.get(name, start - 1) + 1
        return self.ids[name]

    def meta(self, table: str, owner: int, key: str, value) -> None:
        self.add(table, self.next_id(table), owner, key, None if value is None else str(value))


def _local(gmt: datetime) -> datetime:
    """Europe/Berlin wall time of a GMT datetime, as WordPress stores post_date beside post_date_gmt."""
    summer = datetime(gmt.year, 3, 29, 1) <= gmt < datetime(gmt.year, 10, 25, 1)
    return gmt + timedelta(hours=2 if summer else 1)


def _users(r: _Rows, at, rng) -> None:
    def user(uid: int, email: str, registered: datetime, first: str, last: str, phone: str | None = None,
             role: str = "customer", locale: str | None = "", updated: datetime | None = None,
             billing_email: str | None = None) -> None:
        r.add("wp_users", uid, f"user{uid}", "$P$B" + "x" * 30, f"user{uid}", email, "", registered, "", 0, f"{first} {last}")
        r.meta("wp_usermeta", uid, "first_name", first)
        r.meta("wp_usermeta", uid, "last_name", last)
        r.meta("wp_usermeta", uid, "billing_email", billing_email or email)
        r.meta("wp_usermeta", uid, "billing_phone", phone)
        r.meta("wp_usermeta", uid, "locale", locale)
        r.meta("wp_usermeta", uid, "wp_capabilities", f'a:1:{{s:{len(role)}:"{role}";b:1;}}')
        if updated is not None:
            r.meta("wp_usermeta", uid, "last_update", int((updated - datetime(1970, 1, 1)).total_seconds()))

    user(1, "admin@shop.example", datetime(2025, 12, 1), "Site", "Admin", role="administrator")
    user(2, "manager@shop.example", datetime(2025, 12, 2), "Shop", "Manager", role="shop_manager")
    for uid in range(3, CUSTOMERS + 3):
        registered = at(rng.uniform(0, 24 * 200))
        email = BAD_EMAILS.get(uid, f"user{uid}@example.com")
        first, last, phone, locale = rng.choice(FIRST), rng.choice(LAST), f"+49 30 {rng.randint(100000, 999999)}", ""
        edit = USER_EDITS.get(uid, {})
        email, first, phone, locale = (edit.get("email", email), edit.get("first", first), edit.get("phone", phone),
                                       edit.get("locale", locale))
        updated = registered + timedelta(hours=rng.uniform(1, 24 * 30)) if uid % 3 else None
        if uid in (20, 21):  # 21 registered after 20, each saved once
            registered, updated = (datetime(2026, 5, 1, 9), None) if uid == 20 else (datetime(2026, 6, 1, 9), None)
        user(uid, email, registered, first, last, phone, locale=locale, updated=updated)
        if uid == 33:  # an import wrote first_name again; WordPress's get_user_meta(..., true) reads the first
            r.meta("wp_usermeta", uid, "first_name", "Erica")
    # wc_customer_lookup: a row per registered customer (its own customer_id) and per guest email.
    lookup_id = 0
    for row in r.tables["wp_users"][2:]:
        lookup_id += 1
        r.add("wp_wc_customer_lookup", lookup_id, row[0], row[1], None, None, row[4], row[6], row[6], "DE", "10115",
              "Berlin", "")
    for n in range(1001, GUESTS + 1001):
        email, first, active = f"guest{n}@mail.example", rng.choice(FIRST), at(rng.uniform(0, 24 * 330))
        if n == 1050:
            email = "USER50@EXAMPLE.COM"
        elif n == 1051:
            email = "guest at mail"
        elif n == 1052:
            email, first, active = "twin@mail.example", "Twin A", datetime(2026, 4, 1, 8)
        elif n == 1053:
            email, first, active = "twin@mail.example", "Twin B", datetime(2026, 4, 2, 8)
        r.add("wp_wc_customer_lookup", n, None, "", first, rng.choice(LAST), email, active, None, "DE", "80331",
              "München", "")


def _post(r: _Rows, pid: int, title: str, status: str, ptype: str, parent: int, modified: datetime) -> None:
    created = modified - timedelta(days=3)
    r.add("wp_posts", pid, 1, _local(created), created, "", title, "", status, "open", "closed",
          title.lower().replace(" ", "-")[:200], _local(modified), modified, parent,
          f"https://shop.example/?post_type={ptype}&p={pid}", 0, ptype, "", 0)


def _products(r: _Rows, at, rng) -> list[tuple[int, int, Decimal]]:
    """Products and variations; returns what an order line may buy: (product, variation or 0, price)."""
    sellable = []
    r.add("wp_terms", 2, "simple", "simple", 0)
    r.add("wp_terms", 4, "variable", "variable", 0)
    r.add("wp_term_taxonomy", 2, 2, "product_type", "", 0, 0)
    r.add("wp_term_taxonomy", 4, 4, "product_type", "", 0, 0)
    for term_id, name, parent in CATEGORIES:
        r.add("wp_terms", term_id, name, name.lower(), 0)
        r.add("wp_term_taxonomy", term_id, term_id, "product_cat", "", parent, 0)

    def prices(pid: int, regular: Decimal, sale: Decimal | None, stock: str = "10", status: str = "instock") -> None:
        r.meta("wp_postmeta", pid, "_regular_price", money(regular))
        r.meta("wp_postmeta", pid, "_sale_price", "" if sale is None else money(sale))
        r.meta("wp_postmeta", pid, "_price", money(sale if sale is not None else regular))
        r.meta("wp_postmeta", pid, "_stock", stock)
        r.meta("wp_postmeta", pid, "_stock_status", status)
        r.meta("wp_postmeta", pid, "_manage_stock", "yes")

    def terms(pid: int, kind: int, category: int) -> None:
        r.add("wp_term_relationships", pid, kind, 0)
        r.add("wp_term_relationships", pid, category, 0)

    for pid in range(5000, 5000 + SIMPLE):
        modified = at(rng.uniform(0, 24 * 300))
        title, status = f"Mug {pid}", "publish"
        if pid == 5004:
            status = "trash"
        elif pid == 5005:
            status = "draft"
        elif pid == 5006:
            title = "Mug " + "x" * 206
        _post(r, pid, title, status, "product", 0, modified)
        r.meta("wp_postmeta", pid, "_sku", "" if pid == 5001 else f"MUG-{pid}")
        regular = Decimal(rng.randint(500, 3000)) / 100
        sale = (regular * Decimal("0.8")).quantize(Decimal("0.01")) if pid % 7 == 0 else None
        stock, stock_status = ("-3", "onbackorder") if pid == 5009 else (str(rng.randint(0, 40)), "instock")
        prices(pid, regular, sale, stock, stock_status)
        terms(pid, 2, 14 if pid % 2 else 13)
        if pid not in (5004, 5005):
            sellable.append((pid, 0, sale if sale is not None else regular))
    # The planted price dirt, written over the generated values.
    r.tables["wp_postmeta"] = [
        (m, p, k, "12,50" if (p, k) == (5002, "_price") else "N/A" if (p, k) == (5003, "_regular_price")
         else "" if p == 5007 and k in ("_price", "_regular_price", "_sale_price") else v)
        for m, p, k, v in r.tables["wp_postmeta"]]

    variation_id = 6000
    for pid in range(5000 + SIMPLE, 5000 + SIMPLE + VARIABLE):
        modified = at(rng.uniform(0, 24 * 300))
        _post(r, pid, f"Shirt {pid}", "trash" if pid == 5081 else "publish", "product", 0, modified)
        r.meta("wp_postmeta", pid, "_sku", f"SHIRT-{pid}")
        terms(pid, 4, 11 if pid % 2 else 12)
        base = Decimal(rng.randint(1500, 6000)) / 100
        for size in ("S", "M", "L"):
            variation_id += 1
            vmod = modified + timedelta(minutes=rng.randint(0, 30))
            status = "trash" if (pid == 5082 and size == "L") else "publish"
            _post(r, variation_id, f"Shirt {pid} - {size}", status, "product_variation", pid, vmod)
            r.meta("wp_postmeta", variation_id, "_sku", f"SHIRT-{pid}-{size}")
            if pid == 5080 and size == "M":  # an import wrote _sku again; get_post_meta(..., true) reads the first
                r.meta("wp_postmeta", variation_id, "_sku", f"SHIRT-{pid}-M-DUP")
            r.meta("wp_postmeta", variation_id, "attribute_pa_size", size.lower())
            regular = base + (Decimal(2) if size == "L" else Decimal(0))
            prices(variation_id, regular, None)
            if variation_id % COMMA_PRICE_EVERY == 0 and pid > 5083:
                r.tables["wp_postmeta"] = [(m, p, k, money(regular).replace(".", ",")
                                            if (p, k) == (variation_id, "_regular_price") else v)
                                           for m, p, k, v in r.tables["wp_postmeta"]]
            if pid != 5081 and status == "publish":
                sellable.append((pid, variation_id, regular))
    # A variation whose product row is gone (deleted by a plugin straight from the database).
    _post(r, 6999, "Shirt 5999 - M", "publish", "product_variation", 5999, at(24 * 100))
    r.meta("wp_postmeta", 6999, "_sku", "SHIRT-5999-M")
    prices(6999, Decimal("20.00"), None)
    return sellable


def _order(r: _Rows, oid: int, status: str, currency: str, customer: int, email: str, created: datetime | None,
           lines: list[tuple[int, int, str, Decimal]], order_type: str = "shop_order", parent: int = 0,
           updated: datetime | None = None, paid: datetime | None = None, shipping: Decimal = SHIPPING) -> Decimal:
    """One HPOS order with its addresses, operational data and items; lines are (product, variation,
    qty as text, unit price). Returns its total."""
    tax = Decimal(0)
    total = Decimal(0)
    for product, variation, qty, unit in lines:
        item = r.next_id("order_item")
        r.add("wp_woocommerce_order_items", item, f"Item {product}", "line_item", oid)
        n = int(qty) if qty.lstrip("-").isdigit() else 1
        line_total = unit * n
        line_tax = (line_total * Decimal("0.19")).quantize(Decimal("0.01"))
        tax, total = tax + line_tax, total + line_total + line_tax
        for key, value in (("_product_id", product), ("_variation_id", variation), ("_qty", qty),
                           ("_tax_class", ""), ("_line_subtotal", money(line_total)), ("_line_total", money(line_total)),
                           ("_line_subtotal_tax", money(line_tax)), ("_line_tax", money(line_tax))):
            r.meta("wp_woocommerce_order_itemmeta", item, key, value)
    if order_type == "shop_order" and shipping:
        item = r.next_id("order_item")
        r.add("wp_woocommerce_order_items", item, "Flat rate", "shipping", oid)
        r.meta("wp_woocommerce_order_itemmeta", item, "method_id", "flat_rate")
        r.meta("wp_woocommerce_order_itemmeta", item, "cost", money(shipping))
        total += shipping
    updated = updated or ((created or paid) + timedelta(hours=2))  # type: ignore[operator]
    r.add("wp_wc_orders", oid, status, currency, order_type, tax, total, customer, email, created, updated, parent,
          "stripe", "Credit card", f"pi_{oid}", "203.0.113.7", "Mozilla/5.0", "")
    if order_type == "shop_order":
        for kind in ("billing", "shipping"):
            r.add("wp_wc_order_addresses", r.next_id("address"), oid, kind, "Anna", "Schmidt", "", "Str. 1", "", "Berlin",
                  "", "10115", "DE", email if kind == "billing" else None, "+49 30 123456")
    done = paid or (created + timedelta(hours=1) if created and status in ("wc-completed", "wc-processing",
                                                                           "wc-refunded") else None)
    r.add("wp_wc_order_operational_data", r.next_id("opdata"), oid, "checkout", "9.4.2", False, True, True, "", True,
          f"wc_order_{oid}", True, done, done if status == "wc-completed" else None, Decimal(0), shipping, Decimal(0),
          Decimal(0), True)
    return total


def _refund(r: _Rows, rid: int, parent: int, lines: list[tuple[int, int, str, Decimal]], at_time: datetime,
            currency: str = "EUR") -> None:
    """A refund: a child order of type shop_order_refund with negative quantities and totals."""
    negative = [(p, v, str(-int(q)), u) for p, v, q, u in lines]
    total = Decimal(0)
    for product, variation, qty, unit in negative:
        item = r.next_id("order_item")
        r.add("wp_woocommerce_order_items", item, f"Item {product}", "line_item", rid)
        total += unit * int(qty)
        for key, value in (("_product_id", product), ("_variation_id", variation), ("_qty", qty),
                           ("_line_total", money(unit * int(qty))), ("_line_tax", "0.00"), ("_refunded_item_id", "0")):
            r.meta("wp_woocommerce_order_itemmeta", item, key, value)
    r.add("wp_wc_orders", rid, "wc-completed", currency, "shop_order_refund", Decimal(0), total, 0, None, at_time,
          at_time, parent, "", "", "", "", "", "")
    r.add("wp_wc_order_operational_data", r.next_id("opdata"), rid, "", "9.4.2", False, False, False, "", False, "",
          False, None, None, Decimal(0), Decimal(0), Decimal(0), Decimal(0), False)


def _insert(con, r: _Rows) -> None:
    """Each table's rows appended by position (a relation over a Polars frame: no SQL text built)."""
    for table, values in r.tables.items():
        frame = pl.DataFrame(values, orient="row", infer_schema_length=None)
        con.from_arrow(frame.to_arrow()).insert_into(table)


def build(path, seed: int = 7):
    rng = random.Random(seed)

    def at(hours: float) -> datetime:
        return (START + timedelta(hours=hours)).replace(microsecond=0)

    r = _Rows()
    r.add("wp_options", 1, "woocommerce_currency", "EUR", "yes")
    r.add("wp_options", 2, "timezone_string", "Europe/Berlin", "yes")
    _users(r, at, rng)
    sellable = _products(r, at, rng)
    r.ids["order_item"] = 0
    customer_ids = [uid for uid in range(3, CUSTOMERS + 3)]

    def lines_for(k: int) -> list[tuple[int, int, str, Decimal]]:
        return [(p, v, str(rng.randint(1, 3)), unit) for p, v, unit in rng.sample(sellable, k)]

    planted: dict[int, dict] = {
        10001: {"customer": 0, "email": " User60@Example.com "},
        10002: {"currency": ""},
        10003: {"currency": "eur"},
        10004: {"qty": ""},
        10006: {"lines": [(5011, 0, "2", Decimal("10.00"))]},
        10007: {"lines": [(5004, 0, "1", Decimal("9.90"))]},
        10008: {"created": None, "paid": datetime(2026, 3, 3, 12)},
        10009: {"status": "wc-cancelled"},
        10010: {"status": "wc-refunded"},
        10011: {},
        10012: {},
        10013: {"status": "wc-pending"},
        10014: {"qty": "0"},
        10015: {"customer": 70, "email": "work70@corp.example"},
        10016: {"customer": 40, "email": "old40@example.com"},
        10017: {"lines": []},
        10018: {"currency": "€"},
        10019: {"status": "wc-checkout-draft"},
        10020: {"status": "wc-failed"},
        10021: {"status": "wc-on-hold"},
        10022: {"status": "wc-processing"},
        10023: {"customer": 9999, "email": "ghost@example.com"},
        10024: {"customer": 0, "email": "nobody at mail"},
        10025: {"lines": [(5010, 0, "3", Decimal("19.99"))]},
    }
    line_no = 0
    for oid in range(10001, 10001 + ORDERS):
        spec = planted.get(oid, {})
        created = spec.get("created", at(rng.uniform(0, 24 * 330)))
        status = spec.get("status", "wc-completed" if oid in planted else rng.choice(STATUSES))
        guest = rng.random() < 0.3
        customer = spec.get("customer", 0 if guest else rng.choice(customer_ids))
        if "email" in spec:
            email = spec["email"]
        elif customer == 0:
            email = f"guest{rng.randint(1001, 1000 + GUESTS)}@mail.example"
        else:
            email = next(u[4] for u in r.tables["wp_users"] if u[0] == customer)
        lines = spec.get("lines", lines_for(rng.randint(1, 3)))
        if "qty" in spec:
            lines = [(lines[0][0], lines[0][1], spec["qty"], lines[0][3]), *lines[1:]]
        first_item = r.ids.get("order_item", 0) + 1
        currency = spec.get("currency", "USD" if oid % 10 == 0 else "EUR")
        _order(r, oid, status, currency, customer, email, created, lines, paid=spec.get("paid"))
        items = [i for i in r.tables["wp_woocommerce_order_items"] if i[0] >= first_item and i[2] == "line_item"]
        for item in items:
            line_no += 1
            if line_no % COMMA_LINE_EVERY == 0 and oid not in planted:
                r.tables["wp_woocommerce_order_itemmeta"] = [
                    (m, i, k, v.replace(".", ",") if (i, k) == (item[0], "_line_total") else v)
                    for m, i, k, v in r.tables["wp_woocommerce_order_itemmeta"]]
        if oid == 10006:  # _qty stored twice: WooCommerce's wc_get_order_item_meta(..., true) reads the first
            r.meta("wp_woocommerce_order_itemmeta", items[0][0], "_qty", "5")
        if status == "wc-refunded" and created is not None:  # refunded in full: a refund order of every line
            _refund(r, oid + 80000, oid, lines, created + timedelta(days=5), currency)
        if oid == 10011:
            _refund(r, 90011, 10011, lines[:1], created + timedelta(days=5), currency)
    # A line whose order row is gone.
    r.add("wp_woocommerce_order_items", 99990, "Item 5010", "line_item", 99999)
    for key, value in (("_product_id", 5010), ("_variation_id", 0), ("_qty", "1"), ("_line_total", "9.90")):
        r.meta("wp_woocommerce_order_itemmeta", 99990, key, value)

    con = duckdb.connect(str(path))
    con.execute(DDL)
    _insert(con, r)
    con.close()
    return path


def mutate(path) -> None:
    """The next day in the warehouse: what WooCommerce does to these rows, never a rewrite of history."""
    con = duckdb.connect(str(path))
    r = _Rows()
    r.ids["order_item"] = con.execute("SELECT max(order_item_id) FROM wp_woocommerce_order_items").fetchall()[0][0]
    r.ids["wp_woocommerce_order_itemmeta"] = con.execute("SELECT max(meta_id) FROM wp_woocommerce_order_itemmeta").fetchall()[0][0]
    r.ids["opdata"] = con.execute("SELECT max(id) FROM wp_wc_order_operational_data").fetchall()[0][0]
    r.ids["address"] = con.execute("SELECT max(id) FROM wp_wc_order_addresses").fetchall()[0][0]
    # Order 10012 refunded in full: a refund order beside it, its status wc-refunded.
    lines = con.execute("""
        SELECT max(CASE WHEN m.meta_key = '_product_id' THEN m.meta_value END)::BIGINT,
               max(CASE WHEN m.meta_key = '_variation_id' THEN m.meta_value END)::BIGINT,
               max(CASE WHEN m.meta_key = '_qty' THEN m.meta_value END),
               max(CASE WHEN m.meta_key = '_line_total' THEN m.meta_value END)::DECIMAL(10,2)
                 / max(CASE WHEN m.meta_key = '_qty' THEN m.meta_value END)::INT
        FROM wp_woocommerce_order_items i JOIN wp_woocommerce_order_itemmeta m USING (order_item_id)
        WHERE i.order_id = 10012 AND i.order_item_type = 'line_item' GROUP BY i.order_item_id""").fetchall()
    _refund(r, 90012, 10012, [(p, v, q, Decimal(u).quantize(Decimal("0.01"))) for p, v, q, u in lines], NEXT_DAY)
    con.execute("UPDATE wp_wc_orders SET status = 'wc-refunded', date_updated_gmt = ? WHERE id = 10012", [NEXT_DAY])
    # Order 10013 paid.
    con.execute("UPDATE wp_wc_orders SET status = 'wc-completed', date_updated_gmt = ? WHERE id = 10013", [NEXT_DAY])
    con.execute("UPDATE wp_wc_order_operational_data SET date_paid_gmt = ?, date_completed_gmt = ? WHERE order_id = 10013",
                [NEXT_DAY, NEXT_DAY])
    # A new guest order.
    _order(r, 11500, "wc-processing", "EUR", 0, "guest1002@mail.example", NEXT_DAY, [(5010, 0, "2", Decimal("12.00"))],
           updated=NEXT_DAY + timedelta(minutes=5))
    # Product 5008 trashed.
    con.execute("UPDATE wp_posts SET post_status = 'trash', post_modified = ?, post_modified_gmt = ? WHERE ID = 5008",
                [_local(NEXT_DAY), NEXT_DAY])
    # Product 5083's M variation on sale (the variation alone is saved: its product row is untouched).
    variation = con.execute("SELECT ID FROM wp_posts WHERE post_parent = 5083 AND post_title LIKE '% - M'").fetchall()[0][0]
    con.execute("UPDATE wp_postmeta SET meta_value = '15.00' WHERE post_id = ? AND meta_key IN ('_sale_price', '_price')",
                [variation])
    con.execute("UPDATE wp_posts SET post_modified = ?, post_modified_gmt = ? WHERE ID = ?",
                [_local(NEXT_DAY), NEXT_DAY, variation])
    # User 40 changes email (WooCommerce's customer save writes last_update).
    con.execute("UPDATE wp_users SET user_email = 'new40@example.com' WHERE ID = 40")
    con.execute("UPDATE wp_usermeta SET meta_value = 'new40@example.com' WHERE user_id = 40 AND meta_key = 'billing_email'")
    epoch = str(int((NEXT_DAY - datetime(1970, 1, 1)).total_seconds()))
    if con.execute("SELECT count(*) FROM wp_usermeta WHERE user_id = 40 AND meta_key = 'last_update'").fetchall()[0][0]:
        con.execute("UPDATE wp_usermeta SET meta_value = ? WHERE user_id = 40 AND meta_key = 'last_update'", [epoch])
    else:
        con.execute("INSERT INTO wp_usermeta SELECT max(umeta_id) + 1, 40, 'last_update', ? FROM wp_usermeta", [epoch])
    con.execute("UPDATE wp_wc_customer_lookup SET email = 'new40@example.com', date_last_active = ? WHERE user_id = 40",
                [NEXT_DAY])
    _insert(con, r)
    con.close()


if __name__ == "__main__":
    build(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7)
