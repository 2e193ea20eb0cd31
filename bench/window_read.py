"""What reading whole records costs: one hourly window of order lines, and the NULL-window count.

A window reads every row of each order it touches (issue 8, item 5): for a table source that is
one statement, rows in the window OR whose order id is among the window's. This prints the time
of one hour's read and of the `rows_without_window_value` count on a demo warehouse of about
--rows order lines over 7 days (median of 5 reads, in this process).
"""

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

END = datetime(2026, 11, 27, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    from replenit_pipelines.lib.settings import DEMO_MAPPING
    from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        build_demo_warehouse(db, customers=1000, seed=1, days=7, orders=args.rows // 4, end=END)
        wh, mapping = Warehouse(db), load_mapping(DEMO_MAPPING)["orders"]
        hour = END - timedelta(hours=10)
        times, rows = [], 0
        for _ in range(5):
            started = time.perf_counter()
            rows = wh.read(mapping, hour, hour + timedelta(hours=1)).height
            times.append(time.perf_counter() - started)
        count_times = []
        for _ in range(5):
            started = time.perf_counter()
            wh.rows_without_window_value(mapping)
            count_times.append(time.perf_counter() - started)
        print(f"order lines in table: ~{args.rows:,}; one hour read: {rows:,} rows in "
              f"{statistics.median(times) * 1000:.0f} ms (median of 5); NULL-window count: "
              f"{statistics.median(count_times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
