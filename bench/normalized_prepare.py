"""Orders from a normalized warehouse (issue 16): ~1M order lines in their own table beside 245k
orders, against the same data as one denormalized table (one row per line, order columns repeated:
the single-table mapping of before).

Each side: read the window (both tables, joined, for the normalized one), map, validate, nest and
serialize, in a fresh process (peak RSS is per process); median of 3.
Goal on this 2-core machine: normalized <= 1.2 x the single-table time, peak RSS <= 1.5 GB.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

END = datetime(2026, 11, 27, tzinfo=UTC)

SINGLE_TABLE = {
    "source": {"table": "order_lines_flat", "window_column": "updated_at"},
    "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at",
               "Status": "status"},
    "OrderItems": {"key": "line_id", "fields": {
        "ProductId": "product_id", "VariantId": "variant_id", "Sku": "sku", "ProductName": "product_name",
        "Quantity": "quantity", "Price": "unit_price", "OriginalPrice": "list_price"}},
}


def measure(db: str, shape: str) -> None:
    """Child process: one window covering the whole table."""
    from _common import print_prepare_timing

    from replenit_pipelines.lib.settings import DEMO_MAPPING
    from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict, load_mapping

    mapping = load_mapping(DEMO_MAPPING)["orders"] if shape == "normalized" else entity_mapping_from_dict("orders", SINGLE_TABLE)
    wh = Warehouse(db)
    print_prepare_timing(wh, mapping, END - timedelta(days=30), END)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=245_000)
    ap.add_argument("--child", nargs=2, metavar=("DB", "SHAPE"))
    args = ap.parse_args()
    if args.child:
        measure(*args.child)
        return
    import duckdb

    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        counts = build_demo_warehouse(db, customers=10_000, seed=1, days=7, orders=args.orders, end=END)
        with duckdb.connect(db) as con:  # the same data as one table: what the single-table mapping read
            con.execute("CREATE TABLE order_lines_flat AS SELECT o.*, l.* EXCLUDE (order_id) "
                        "FROM orders o LEFT JOIN order_lines l USING (order_id)")
        print(f"{counts.orders:,} orders, {counts.order_lines:,} order lines", flush=True)
        results = {}
        for shape in ("single-table", "normalized"):
            runs = [json.loads(subprocess.run([sys.executable, __file__, "--child", db, shape], capture_output=True,
                                              text=True, check=True).stdout) for _ in range(3)]
            med = sorted(runs, key=lambda r: r["total_s"])[1]
            med["rss_mb"] = max(r["rss_mb"] for r in runs)
            results[shape] = med
            times = ", ".join(f"{r['total_s']:.2f}" for r in runs)
            print(f"{shape}: {med['rows']:,} rows -> {med['records']:,} valid orders ({med['quarantined']:,} rows quarantined) "
                  f"in {med['total_s']:.2f} s (read {med['read_s']:.2f}, prepare {med['prepare_s']:.2f}, serialize "
                  f"{med['serialize_s']:.2f}; runs {times}), peak RSS {med['rss_mb']:.0f} MB", flush=True)
        ratio = results["normalized"]["total_s"] / results["single-table"]["total_s"]
        ok = ratio <= 1.2 and results["normalized"]["rss_mb"] <= 1536
        print(f"normalized / single-table: {ratio:.2f} x (goal <= 1.2 x), peak RSS {results['normalized']['rss_mb']:.0f} MB "
              f"(goal <= 1536 MB): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
