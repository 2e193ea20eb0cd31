"""Extract, map, normalize, validate and split one window, on 1,000,000 rows (issue 4).

Goals on this 2-core machine: 1,000,000 customers in <= 2.5 s with peak RSS <= 1 GB;
1,000,000 order lines (about 250,000 orders) extracted, nested and validated in <= 4 s.
Each measurement runs in a fresh process (peak RSS is per process); median of 3.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

END = datetime(2026, 11, 27, tzinfo=UTC)


def measure(db: str, entity: str) -> None:
    """Child process: one window covering the whole table."""
    from _common import print_prepare_timing

    from replenit_pipelines.lib.settings import DEMO_MAPPING
    from replenit_pipelines.lib.warehouse import Warehouse, load_mapping

    mapping = load_mapping(DEMO_MAPPING)[entity]
    wh = Warehouse(db)
    print_prepare_timing(wh, mapping, END - timedelta(days=30), END)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=2, metavar=("DB", "ENTITY"))
    args = ap.parse_args()
    if args.child:
        measure(*args.child)
        return
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        # ~4 lines an order: rows/4 orders give ~rows order lines; customers as asked.
        build_demo_warehouse(db, customers=args.rows, seed=1, days=7, orders=args.rows // 4, end=END)
        for entity, label, goal_s in (("customers", "customers", 2.5), ("orders", "order lines", 4.0)):
            runs = [json.loads(subprocess.run([sys.executable, __file__, "--child", db, entity], capture_output=True,
                                              text=True, check=True).stdout) for _ in range(3)]
            med = sorted(runs, key=lambda r: r["total_s"])[1]
            rss = max(r["rss_mb"] for r in runs)
            times = ", ".join(f"{r['total_s']:.2f}" for r in runs)
            ok = med["total_s"] <= goal_s and (entity != "customers" or rss <= 1024)
            print(f"{entity}: {med['rows']:,} {label} -> {med['records']:,} valid records ({med['quarantined']:,} rows quarantined) "
                  f"in {med['total_s']:.2f} s (read {med['read_s']:.2f}, prepare {med['prepare_s']:.2f}, serialize "
                  f"{med['serialize_s']:.2f}; runs {times}), peak RSS {rss:.0f} MB; "
                  f"goal <= {goal_s} s{' and <= 1024 MB' if entity == 'customers' else ''}: {'PASS' if ok else 'FAIL'}", flush=True)


if __name__ == "__main__":
    main()
