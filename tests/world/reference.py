"""What Replenit must hold after a TPC-H or TPC-DS warehouse is synced through the examples'
mappings, computed independently: plain DuckDB SQL over the raw TPC tables, written from the
TPC schemas and the API contract (shared/replenit-api.md), never through the project's mapping,
read or validation code. Where the TPC specification gives a value a second way, the reference
takes that way (a TPC-H line's price from part.p_retailprice and the discount; a TPC-DS sale's
time from time_dim's hour, minute and second), so a mapping that computed it wrongly is caught.

Each function returns {entity: {identity: record}}: the identity the sandbox stores the record
under (customers: `email:<lowercased>` under the default email priority, else `customerid:<id>`;
orders and products: their id), and the record as the API must hold it (fields the mapping leaves
NULL are absent). `compare` puts a stored record and an expected one side by side.
"""

import json
import math
from typing import Any

import duckdb

ISO_UTC = "%Y-%m-%dT%H:%M:%S.000Z"  # the form the pipeline sends (shared/replenit-api.md, Formats)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> list[dict]:
    return con.sql(sql, params=params or None).pl().to_dicts()


def _customer_identity(email: str | None, customer_id: str) -> str:
    return f"email:{email.strip().lower()}" if email else f"customerid:{customer_id}"


def _by_identity(customers: list[dict]) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Customers by the identity the tenant matches them by; the identities several customers share
    (one email, two CustomerIds: the tenant merges them, issue 21 item 5) apart, with every candidate,
    since which of them the tenant must hold is that item's decision."""
    groups: dict[str, list[dict]] = {}
    for c in customers:
        groups.setdefault(_customer_identity(c["Email"], c["CustomerId"]), []).append(_clean(c))
    return ({k: g[0] for k, g in groups.items() if len(g) == 1}, {k: g for k, g in groups.items() if len(g) > 1})


# --- TPC-H ----------------------------------------------------------------------------------------


def tpch(path: str) -> dict[str, dict[str, dict]]:
    with duckdb.connect(path, read_only=True) as con:
        customers = _rows(con, """
            SELECT CAST(c_custkey AS VARCHAR) AS CustomerId,
                   'customer' || c_custkey || '@tpch.example.com' AS Email,
                   c_name AS Name,
                   '+' || regexp_replace(c_phone, '[^0-9]', '', 'g') AS Phone
            FROM customer""")
        products = _rows(con, """
            SELECT CAST(p_partkey AS VARCHAR) AS ProductId, p_name AS ProductName, [p_mfgr, p_brand] AS Taxonomy,
                   coalesce(list({'VariantId': ps_partkey || '-' || ps_suppkey, 'Sku': 'PS-' || ps_partkey || '-' || ps_suppkey,
                                  'StockQuantity': ps_availqty}) FILTER (WHERE ps_partkey IS NOT NULL), []) AS ProductVariants
            FROM part LEFT JOIN partsupp ON ps_partkey = p_partkey
            GROUP BY ALL""")
        # A line's paid unit price is the part's retail price less the line's discount (TPC-H
        # defines l_extendedprice = l_quantity * p_retailprice); the totals are sums over the lines.
        orders = _rows(con, """
            WITH lines AS (
                SELECT l_orderkey, l_partkey, l_suppkey, CAST(l_quantity AS BIGINT) AS qty,
                       p_retailprice * (1 - l_discount) AS paid, p_retailprice
                FROM lineitem JOIN part ON p_partkey = l_partkey)
            SELECT CAST(o_orderkey AS VARCHAR) AS OrderId, CAST(o_custkey AS VARCHAR) AS CustomerId, 'USD' AS Currency,
                   strftime(o_orderdate, $iso) AS OrderDate,
                   CASE o_orderstatus WHEN 'F' THEN 'completed' END AS Status,
                   coalesce(list({'ProductId': CAST(l_partkey AS VARCHAR), 'VariantId': l_partkey || '-' || l_suppkey,
                                  'Quantity': qty, 'Price': CAST(paid AS DOUBLE),
                                  'OriginalPrice': CAST(p_retailprice AS DOUBLE)})
                            FILTER (WHERE l_orderkey IS NOT NULL), []) AS OrderItems,
                   CAST(coalesce(sum(qty * paid), 0) AS DOUBLE) AS TotalRevenue,
                   CAST(coalesce(sum(qty), 0) AS BIGINT) AS TotalQuantity,
                   count(DISTINCT l_partkey) AS UniqueQuantity
            FROM orders LEFT JOIN lines ON l_orderkey = o_orderkey
            GROUP BY ALL""", iso=ISO_UTC)
    customers_by_identity, merged = _by_identity(customers)
    assert not merged, "every TPC-H customer has an email of its own"
    return {
        "customers": customers_by_identity,
        "products": {p["ProductId"]: _clean(p) for p in products},
        "orders": {o["OrderId"]: _clean(o) for o in orders},
    }


# --- TPC-DS ---------------------------------------------------------------------------------------


def tpcds(path: str) -> dict[str, dict[str, dict]]:
    """Also returns, under "orders_quarantined", the orders the contract refuses (a line without a
    quantity or a price: TPC-DS leaves a few NULL) with their line counts, and under
    "orders_sold_at" each order's sale time (for window tests)."""
    with duckdb.connect(path, read_only=True) as con:
        customers = _rows(con, """
            SELECT c_customer_id AS CustomerId, c_email_address AS Email, c_first_name AS Name, c_last_name AS Surname
            FROM customer""")
        # SCD-2: the current version of each item is the one without an end date.
        products = _rows(con, """
            SELECT i_item_id AS ProductId, i_product_name AS ProductName,
                   nullif(list_filter([i_category, i_class], lambda x: x IS NOT NULL), []) AS Taxonomy, i_rec_start_date,
                   [{'VariantId': i_item_id, 'Brand': i_brand, 'Color': i_color, 'Size': i_size,
                     'SalePrice': CAST(i_current_price AS DOUBLE), 'Currency': 'USD'}] AS ProductVariants
            FROM item WHERE i_rec_end_date IS NULL""")
        orders = _rows(con, """
            WITH sales AS (
                SELECT ws_order_number, ws_item_sk, ws_quantity, ws_sales_price, ws_list_price,
                       (SELECT c_customer_id FROM customer WHERE c_customer_sk = ws_bill_customer_sk) AS customer_id,
                       make_timestamp(year(d_date), month(d_date), day(d_date), t_hour, t_minute, t_second) AS sold_at
                FROM web_sales
                LEFT JOIN date_dim ON d_date_sk = ws_sold_date_sk
                LEFT JOIN time_dim ON t_time_sk = ws_sold_time_sk)
            SELECT CAST(ws_order_number AS VARCHAR) AS OrderId,
                   max(customer_id) AS CustomerId, 'USD' AS Currency,
                   max(sold_at) AS sold_at,
                   list({'ProductId': i_item_id, 'VariantId': i_item_id, 'ProductName': i_product_name,
                         'Quantity': ws_quantity, 'Price': CAST(ws_sales_price AS DOUBLE),
                         'OriginalPrice': CAST(ws_list_price AS DOUBLE)}) AS OrderItems,
                   CAST(sum(ws_quantity * ws_sales_price) AS DOUBLE) AS TotalRevenue,
                   CAST(sum(ws_quantity) AS BIGINT) AS TotalQuantity,
                   count(DISTINCT i_item_id) AS UniqueQuantity,
                   count(*) AS lines,
                   bool_or(ws_quantity IS NULL OR ws_sales_price IS NULL OR ws_quantity < 1 OR ws_sales_price < 0) AS refused
            FROM sales JOIN item ON i_item_sk = ws_item_sk
            GROUP BY ws_order_number""")
        distinct_customers = con.sql("""
            SELECT count(*) FROM (SELECT ws_order_number FROM web_sales GROUP BY 1
                                  HAVING count(DISTINCT ws_bill_customer_sk) > 1)""").fetchall()[0][0]
        assert distinct_customers == 0, "TPC-DS bills each order to one customer"
    # An order without a sale time is read by no window, and not by --all either: the mapping's
    # query filters on it ($start/$end bound to the ends of time), as docs/configuration.md says.
    orders = [o for o in orders if o["sold_at"] is not None]
    sold_at = {o["OrderId"]: o.pop("sold_at") for o in orders}
    for o in orders:
        o["OrderDate"] = sold_at[o["OrderId"]].strftime(ISO_UTC)
    refused = {o["OrderId"]: o["lines"] for o in orders if o["refused"]}
    # A current item version without a start date has no window value: no partition reads it, but
    # --all does (the products query keeps it when $all is true).
    undated = sorted(p["ProductId"] for p in products if p["i_rec_start_date"] is None)
    customers_by_identity, merged = _by_identity(customers)
    return {
        "customers": customers_by_identity,
        "customers_merged": merged,  # type: ignore[dict-item]
        "products": {p["ProductId"]: _clean({k: v for k, v in p.items() if k != "i_rec_start_date"}) for p in products},
        "products_undated": undated,  # type: ignore[dict-item]
        "orders": {o["OrderId"]: _clean({k: v for k, v in o.items() if k not in ("lines", "refused")})
                   for o in orders if not o["refused"]},
        "orders_quarantined": refused,  # type: ignore[dict-item]
        "orders_sold_at": sold_at,  # type: ignore[dict-item]
    }


# --- A Shopify-style export (examples/shopify/export.py) -----------------------------------------


# Shopify's local time with an offset ('2024-01-01T02:00:07+01:00') as the API's UTC text, by the
# offset's arithmetic (no time zone database).
_UTC_MACRO = """
CREATE TEMP MACRO utc(t, iso) AS strftime(CAST(left(t, 19) AS TIMESTAMP)
    - to_minutes((CASE WHEN substr(t, 20, 1) = '-' THEN -1 ELSE 1 END)
                 * (CAST(substr(t, 21, 2) AS INTEGER) * 60 + CAST(substr(t, 24, 2) AS INTEGER))), iso)"""


def shopify(export: str) -> dict[str, dict[str, dict]]:
    """From the export files themselves, read by DuckDB (not Polars, not the project); times are
    read as the text the file holds (timestampformat matching nothing)."""
    with duckdb.connect() as con:
        con.execute(_UTC_MACRO)
        customers = _rows(con, """
            SELECT CAST(id AS VARCHAR) AS CustomerId, email AS Email, first_name AS Name, last_name AS Surname,
                   coalesce(phone, list_filter(addresses, lambda a: a['default'])[1]['phone']) AS Phone
            FROM read_json($path, timestampformat='%Y')""", path=f"{export}/customers.ndjson")
        products = _rows(con, """
            SELECT CAST(id AS VARCHAR) AS ProductId, title AS ProductName, string_split(product_type, ' ') AS Taxonomy,
                   [{'VariantId': CAST(v['id'] AS VARCHAR), 'Sku': v['sku'], 'Size': v['option1'],
                     'SalePrice': CAST(v['price'] AS DOUBLE), 'Currency': 'USD',
                     'StockQuantity': v['inventory_quantity']} FOR v IN variants] AS ProductVariants
            FROM read_parquet($path)""", path=f"{export}/products.parquet")
        orders = _rows(con, """
            SELECT CAST(id AS VARCHAR) AS OrderId, CAST(customer['id'] AS VARCHAR) AS CustomerId, email AS Email,
                   currency AS Currency, utc(created_at, $iso) AS OrderDate,
                   CASE WHEN cancelled_at IS NOT NULL THEN 'cancelled' WHEN financial_status = 'refunded' THEN 'refunded'
                        ELSE 'completed' END AS Status,
                   [{'ProductId': CAST(li['product_id'] AS VARCHAR), 'VariantId': CAST(li['variant_id'] AS VARCHAR),
                     'Sku': li['sku'], 'ProductName': li['title'], 'Quantity': li['quantity'],
                     'Price': CAST(li['price'] AS DOUBLE)} FOR li IN line_items] AS OrderItems,
                   CAST(list_sum([li['quantity'] * CAST(li['price'] AS DECIMAL(18, 2)) FOR li IN line_items]) AS DOUBLE)
                       AS TotalRevenue,
                   CAST(list_sum([li['quantity'] FOR li IN line_items]) AS BIGINT) AS TotalQuantity,
                   len(list_distinct([li['product_id'] FOR li IN line_items])) AS UniqueQuantity
            FROM read_json($path, timestampformat='%Y')""", path=f"{export}/orders.ndjson", iso=ISO_UTC)
    customers_by_identity, merged = _by_identity(customers)
    assert not merged, "every customer of the export has an email of its own"
    return {
        "customers": customers_by_identity,
        "products": {p["ProductId"]: _clean(p) for p in products},
        "orders": {o["OrderId"]: _clean(o) for o in orders},
    }


# --- Olist (examples/olist/generate.py) -------------------------------------------------------------


# Olist's purchase time, text, as the API's UTC text, or NULL where the contract refuses it. Naive
# text ('2017-10-03 10:56[:33]') is São Paulo's wall time: a time its clocks skipped (the hour they
# went forward) is no time at all; one they lived twice (the hour they went back) is the earlier
# instant. Text with `Z` or `±hh:mm` is that instant. A date alone, another form or an impossible
# date is refused. (ICU's timezone() moves a skipped time and takes the later of two: checked here.)
_OLIST_MACROS = """
CREATE TEMP MACRO sp_local(u) AS CAST(timezone('America/Sao_Paulo', CAST(u AS TIMESTAMPTZ)) AS TIMESTAMP);
CREATE TEMP MACRO sp_utc(t) AS CASE
    WHEN sp_local(timezone('America/Sao_Paulo', t)) <> t THEN NULL
    WHEN sp_local(timezone('America/Sao_Paulo', t - INTERVAL 1 HOUR) + INTERVAL 1 HOUR) = t
        THEN least(timezone('America/Sao_Paulo', t), timezone('America/Sao_Paulo', t - INTERVAL 1 HOUR) + INTERVAL 1 HOUR)
    ELSE timezone('America/Sao_Paulo', t) END;
CREATE TEMP MACRO olist_utc(x) AS CASE
    WHEN regexp_matches(x, '^\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}(:\\d{2})?$') THEN sp_utc(try_cast(x AS TIMESTAMP))
    WHEN regexp_matches(x, '^\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}:\\d{2}(Z|[+-]\\d{2}:\\d{2})$') THEN try_cast(x AS TIMESTAMPTZ)
    END"""


def olist(path: str) -> dict[str, dict[str, dict]]:
    """examples/olist/mapping.yaml's records, from the raw tables: a person (customer_unique_id) is
    a customer; an order is its newest row by purchase time, its items each a unit, its totals
    summed; a product is its row with one variant at its mean sale price (none when never sold).
    Left out, as the contract refuses them: a refused purchase time, an item without a product or
    with a price below 0 or not a number, a variant whose price is not a number. `orders_either`:
    orders whose two versions of one item share a time (either may be sent: docs/configuration.md)."""
    with duckdb.connect(path, read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(_OLIST_MACROS)
        customers = _rows(con, """SELECT DISTINCT customer_unique_id AS CustomerId FROM olist_customers
                                  WHERE customer_unique_id IS NOT NULL""")
        products = _rows(con, """
            WITH sold AS (SELECT product_id, round(avg(price), 2) AS price FROM olist_order_items GROUP BY product_id)
            SELECT p.product_id AS ProductId,
                   CASE WHEN coalesce(t.product_category_name_english, p.product_category_name) IS NOT NULL
                        THEN [coalesce(t.product_category_name_english, p.product_category_name)] END AS Taxonomy,
                   CASE WHEN s.product_id IS NULL THEN []
                        ELSE [{'VariantId': p.product_id, 'SalePrice': s.price, 'Currency': 'BRL'}] END AS ProductVariants
            FROM olist_products p
            LEFT JOIN product_category_name_translation t ON t.product_category_name = p.product_category_name
            LEFT JOIN sold s ON s.product_id = p.product_id
            WHERE s.price IS NULL OR NOT isnan(s.price)""")
        orders = _rows(con, """
            WITH o AS (
                SELECT o.order_id, o.order_status, o.order_purchase_timestamp AS ts, c.customer_unique_id,
                       olist_utc(o.order_purchase_timestamp) AS utc
                FROM olist_orders o LEFT JOIN olist_customers c ON c.customer_id = o.customer_id
                QUALIFY row_number() OVER (PARTITION BY o.order_id ORDER BY olist_utc(o.order_purchase_timestamp) DESC NULLS LAST) = 1),
            i AS (SELECT order_id, order_item_id, any_value(product_id) AS product_id, any_value(price) AS price,
                         count(*) AS versions
                  FROM olist_order_items GROUP BY order_id, order_item_id)
            SELECT o.order_id AS OrderId, o.customer_unique_id AS CustomerId, 'BRL' AS Currency,
                   strftime(o.utc, $iso) AS OrderDate,
                   CASE o.order_status WHEN 'delivered' THEN 'completed' WHEN 'canceled' THEN 'cancelled' END AS Status,
                   coalesce(list({'ProductId': i.product_id, 'Quantity': 1, 'Price': i.price} ORDER BY i.order_item_id)
                            FILTER (WHERE i.order_id IS NOT NULL), []) AS OrderItems,
                   coalesce(round(sum(i.price), 6), 0) AS TotalRevenue, count(i.order_id) AS TotalQuantity,
                   count(DISTINCT i.product_id) AS UniqueQuantity,
                   coalesce(max(i.versions), 1) > 1 AS either
            FROM o LEFT JOIN i ON i.order_id = o.order_id
            WHERE o.order_id IS NOT NULL AND (o.ts IS NULL OR o.utc IS NOT NULL)
            GROUP BY ALL
            HAVING count(i.order_id) FILTER (WHERE i.product_id IS NULL OR i.price IS NULL OR isnan(i.price) OR i.price < 0) = 0
            """, iso=ISO_UTC)
    return {
        "customers": {f"customerid:{c['CustomerId']}": c for c in customers},
        "products": {p["ProductId"]: _clean(p) for p in products},
        "orders": {o["OrderId"]: _clean({k: v for k, v in o.items() if k != "either"}) for o in orders if not o["either"]},
        "orders_either": {o["OrderId"]: _clean({k: v for k, v in o.items() if k != "either"}) for o in orders if o["either"]},
    }


# --- Northwind (examples/northwind/generate.py) ---------------------------------------------------


# The contract's email rule, written here on its own: one @, a local part of dot-separated atoms,
# a domain of at least two dot-separated labels (non-ASCII allowed), no spaces.
_EMAIL = r"^[^@\s.]+(\.[^@\s.]+)*@[^@\s.]+(\.[^@\s.]+)+$"
# Characters outside the Basic Multilingual Plane count 2 in the .NET service's lengths: a name's
# length plus its count of those (what is left after removing every other character).
_NOT_ASTRAL = r"[^\x{10000}-\x{10FFFF}]"


def northwind(path: str) -> dict[str, dict[str, dict]]:
    """examples/northwind/mapping.yaml's records, from the raw tables. Left out, as the contract
    refuses them: a customer with neither id nor email, an email that is no address, an id or
    name over 100 characters; a product with a price or stock below 0; an order without a
    currency (ship country unknown) or with a line without a product, a quantity below 1 or a
    price below 0. `customers_merged`: identities several rows share (one is sent: which is the
    run's choice); `orders_either`: orders with one product on two lines (either line is sent)."""
    with duckdb.connect(path, read_only=True) as con:
        customers = _rows(con, """
            SELECT CustomerID AS CustomerId, nullif(trim(Email), '') AS Email, ContactName AS Name FROM Customers
            WHERE (CustomerID IS NOT NULL OR nullif(trim(Email), '') IS NOT NULL)
              AND (CustomerID IS NULL OR length(CustomerID) <= 100)
              AND (nullif(trim(Email), '') IS NULL OR regexp_matches(trim(Email), $email))
              AND (ContactName IS NULL OR length(ContactName) + length(regexp_replace(ContactName, $astral, '', 'g')) <= 100)""",
                          email=_EMAIL, astral=_NOT_ASTRAL)
        products = _rows(con, """
            SELECT CAST(p.ProductID AS VARCHAR) AS ProductId, p.ProductName,
                   string_split(c.CategoryName, '/') AS Taxonomy,
                   [{'VariantId': CAST(p.ProductID AS VARCHAR), 'SalePrice': CAST(p.UnitPrice AS DOUBLE), 'Currency': 'USD',
                     'StockQuantity': CAST(p.UnitsInStock AS BIGINT), 'IsAvailable': NOT p.Discontinued}] AS ProductVariants
            FROM Products p LEFT JOIN Categories c ON c.CategoryID = p.CategoryID
            WHERE p.ProductID IS NOT NULL AND coalesce(p.UnitPrice, 0) >= 0 AND coalesce(p.UnitsInStock, 0) >= 0""")
        orders = _rows(con, """
            WITH l AS (SELECT OrderID, ProductID, Quantity, CAST(UnitPrice AS DOUBLE) AS OriginalPrice,
                              CAST(UnitPrice AS DOUBLE) * (1 - CAST(Discount AS DECIMAL(3, 2))) AS Price
                       FROM "Order Details"),
            o AS (SELECT OrderID, CustomerID, OrderDate, ShippedDate,
                         CASE ShipCountry WHEN 'Germany' THEN 'EUR' WHEN 'France' THEN 'EUR' WHEN 'Spain' THEN 'EUR'
                              WHEN 'UK' THEN 'GBP' WHEN 'USA' THEN 'USD' WHEN 'Brazil' THEN 'BRL' WHEN 'Sweden' THEN 'SEK'
                              WHEN 'Mexico' THEN 'MXN' END AS Currency FROM Orders)
            SELECT CAST(o.OrderID AS VARCHAR) AS OrderId, o.CustomerID AS CustomerId, o.Currency,
                   strftime(o.OrderDate, $iso) AS OrderDate,
                   CASE WHEN o.ShippedDate IS NOT NULL THEN 'completed' END AS Status,
                   coalesce(list({'ProductId': CAST(l.ProductID AS VARCHAR), 'Quantity': CAST(l.Quantity AS BIGINT),
                                  'Price': l.Price, 'OriginalPrice': l.OriginalPrice} ORDER BY l.ProductID)
                            FILTER (WHERE l.OrderID IS NOT NULL), []) AS OrderItems,
                   coalesce(round(sum(l.Quantity * l.Price), 6), 0) AS TotalRevenue,
                   coalesce(CAST(sum(l.Quantity) AS BIGINT), 0) AS TotalQuantity, count(DISTINCT l.ProductID) AS UniqueQuantity,
                   count(l.ProductID) > count(DISTINCT l.ProductID) AS either
            FROM o LEFT JOIN l ON l.OrderID = o.OrderID
            WHERE o.OrderID IS NOT NULL AND o.Currency IS NOT NULL
            GROUP BY ALL
            HAVING count(l.OrderID) FILTER (WHERE l.ProductID IS NULL OR l.Quantity < 1 OR l.OriginalPrice < 0) = 0
            """, iso=ISO_UTC)
    customers_by_identity, merged = _by_identity(customers)
    return {
        "customers": customers_by_identity,
        "customers_merged": merged,  # type: ignore[dict-item]
        "products": {p["ProductId"]: _clean(p) for p in products},
        "orders": {o["OrderId"]: _clean({k: v for k, v in o.items() if k != "either"}) for o in orders if not o["either"]},
        "orders_either": {o["OrderId"]: _clean({k: v for k, v in o.items() if k != "either"}) for o in orders if o["either"]},
    }


# --- comparing ------------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """Absent is absent: drop NULL fields, recursively (the API treats a null optional field as absent)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _canonical(value: Any) -> Any:
    """A record with its child arrays in one order (the API does not order lines or variants; the
    order of sending is issue 21 item 4's concern, tested by re-runs costing nothing)."""
    value = _clean(value)
    if isinstance(value, dict):
        return {k: (sorted((_canonical(v) for v in items), key=repr) if k in ("OrderItems", "ProductVariants") else items)
                for k, items in value.items()}
    return value


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        # Money is float64 on both sides: equal to 1e-12 relative (a cent on 10^10).
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def compare(stored: dict[str, dict], expected: dict[str, dict]) -> dict[str, Any]:
    """stored ({identity: record}, as the sandbox holds them) against expected: the identities
    missing and unexpected, the records that differ (with the first few differences by field), and
    how many are equal."""
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    differ: dict[str, dict] = {}
    equal = 0
    for key in set(stored) & set(expected):
        got, want = _canonical(stored[key]), _canonical(expected[key])
        if _equal(got, want):
            equal += 1
        else:
            fields = sorted(set(got) | set(want))
            differ[key] = {f: (got.get(f), want.get(f)) for f in fields if not _equal(got.get(f), want.get(f))}
    return {"expected": len(expected), "stored": len(stored), "equal": equal, "missing": missing[:5],
            "missing_count": len(missing), "unexpected": unexpected[:5], "unexpected_count": len(unexpected),
            "differ_count": len(differ), "differ": dict(sorted(differ.items())[:3])}


def summary(result: dict[str, Any]) -> str:
    """A comparison's result as one string an assertion prints whole (pytest shortens dicts)."""
    return json.dumps(result, default=str)[:4000]
