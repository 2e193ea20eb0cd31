"""A Shopify-style export built from a TPC-H warehouse, for examples/shopify/mapping.yaml:

    export/customers.ndjson   one customer a line: id, email, names, phone (often null), updated_at
                              with a UTC offset, and `addresses` (1 to 3, one of them `default`,
                              repeated as `default_address`), as Shopify's Admin API returns them
    export/orders.ndjson      one order a line: created_at / updated_at with offsets, currency,
                              financial_status, cancelled_at, `customer: {id}`, and `line_items`,
                              a JSON array of {id, product_id, variant_id, sku, title, quantity,
                              price} with money as text ("1429.36"), as Shopify writes it
    export/products.parquet   one product a row, its `variants` a list of structs (1 to 3)

Deterministic: every value is derived from TPC-H's own (keys, dates, prices), so the reference
(tests/world/reference.py) recomputes it from the same TPC-H tables.

    python examples/shopify/export.py TPCH.duckdb OUT_DIR
"""

import sys
from pathlib import Path

import duckdb

# A shop's customers live in several zones: each customer's timestamps carry the offset of
# OFFSETS[c_custkey % 4] (orders: of their customer), written as Shopify does.
OFFSETS = ("-05:00", "+01:00", "+05:30", "+00:00")

SQL = """
CREATE TEMP MACRO off_min(k) AS [-300, 60, 330, 0][(k % 4) + 1];
CREATE TEMP MACRO off_txt(k) AS ['-05:00', '+01:00', '+05:30', '+00:00'][(k % 4) + 1];
-- local wall time + offset text, for a UTC timestamp and a customer key
CREATE TEMP MACRO shop_time(ts, k) AS strftime(ts + to_minutes(off_min(k)), '%Y-%m-%dT%H:%M:%S') || off_txt(k);
CREATE TEMP MACRO variants_of(p) AS 1 + (p % 3);

CREATE TEMP TABLE shop_customers AS
SELECT c_custkey,
       6000000000 + c_custkey AS id,
       'customer' || c_custkey || '@shop.example.com' AS email,
       split_part(c_name, '#', 1) AS first_name,
       split_part(c_name, '#', 2) AS last_name,
       CASE WHEN c_custkey % 2 = 1 THEN '+' || regexp_replace(c_phone, '[^0-9]', '', 'g') END AS phone,
       shop_time(TIMESTAMP '2024-01-01' + to_seconds(c_custkey * 3607), c_custkey) AS updated_at,
       [{'id': 7000000000 + c_custkey * 10 + a,
         'address1': (a + 1) || ' ' || c_address,
         'city': 'City ' || ((c_custkey + a) % 50),
         'country_code': ['US', 'DE', 'IN', 'GB'][(c_custkey % 4) + 1],
         'phone': '+' || regexp_replace(c_phone, '[^0-9]', '', 'g') || a,
         'default': a = c_custkey % (1 + c_custkey % 3)}
        FOR a IN range(1 + c_custkey % 3)] AS addresses
FROM customer;

COPY (
  SELECT id, email, first_name, last_name, phone, updated_at, addresses,
         list_filter(addresses, lambda x: x['default'])[1] AS default_address
  FROM shop_customers ORDER BY id
) TO '{out}/customers.ndjson' (FORMAT JSON);

COPY (
  SELECT 8000000000 + p_partkey AS id, p_name AS title, p_type AS product_type, p_mfgr AS vendor,
         shop_time(TIMESTAMP '2024-01-01' + to_seconds(p_partkey * 1801), p_partkey) AS updated_at,
         [{'id': 9000000000 + p_partkey * 10 + v,
           'sku': 'SKU-' || p_partkey || '-' || v,
           'option1': ['S', 'M', 'L'][v + 1],
           'price': CAST(p_retailprice + v AS VARCHAR),
           'inventory_quantity': (p_partkey * 7 + v * 13) % 50}
          FOR v IN range(variants_of(p_partkey))] AS variants
  FROM part ORDER BY p_partkey
) TO '{out}/products.parquet' (FORMAT PARQUET);

COPY (
  WITH o AS (
    SELECT o_orderkey, o_custkey, o_orderstatus,
           o_orderdate + to_seconds(o_orderkey % 86400) AS created_utc
    FROM orders)
  SELECT 5000000000 + o_orderkey AS id,
         '#' || (1000 + o_orderkey) AS name,
         'customer' || o_custkey || '@shop.example.com' AS email,
         shop_time(created_utc, o_custkey) AS created_at,
         shop_time(created_utc + CASE o_orderstatus WHEN 'F' THEN INTERVAL 3 DAY ELSE INTERVAL 0 DAY END, o_custkey) AS updated_at,
         CASE WHEN o_orderkey % 10 = 0 THEN 'EUR' ELSE 'USD' END AS currency,
         CASE WHEN o_orderkey % 17 = 0 THEN 'refunded' ELSE 'paid' END AS financial_status,
         CASE WHEN o_orderkey % 29 = 0 THEN shop_time(created_utc + INTERVAL 1 HOUR, o_custkey) END AS cancelled_at,
         {'id': 6000000000 + o_custkey} AS customer,
         list({'id': 4000000000 + l_orderkey * 10 + l_linenumber,
               'product_id': 8000000000 + l_partkey,
               'variant_id': 9000000000 + l_partkey * 10 + l_suppkey % variants_of(l_partkey),
               'sku': 'SKU-' || l_partkey || '-' || l_suppkey % variants_of(l_partkey),
               'title': p_name,
               'quantity': CAST(l_quantity AS INTEGER),
               'price': CAST(round(p_retailprice * (1 - l_discount), 2) AS VARCHAR)}
              ORDER BY l_linenumber) AS line_items
  FROM o JOIN lineitem ON l_orderkey = o_orderkey JOIN part ON p_partkey = l_partkey
  GROUP BY ALL ORDER BY id
) TO '{out}/orders.ndjson' (FORMAT JSON);
"""


def build(tpch: str | Path, out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(tpch), read_only=True) as con:
        for statement in SQL.replace("{out}", str(out).replace("'", "''")).split(";\n"):
            if statement.strip():
                con.execute(statement)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(build(sys.argv[1], sys.argv[2]))
