"""A run over several partitions (validate_mapped's `partition_starts`): each record's rows are
counted in the partition of its newest change, whatever type the window column has: a zoned
timestamp compared as an instant, a DATE as a day of the mapping's timezone."""

from datetime import UTC, date, datetime, timedelta

import polars as pl
from helpers import CUSTOMER_MAPPING, customer_rows

from replenit_pipelines.lib.validation.prepare import map_rows, validate_mapped

DAY = datetime(2026, 11, 26, tzinfo=UTC)
STARTS = (DAY, DAY + timedelta(days=1), DAY + timedelta(days=2))


def rows_read_by_part(window: pl.Series) -> dict[int, int]:
    rows = [customer_rows(id=f"c{i}", email=f"user{i}@example.com") for i in range(window.len())]
    frame = pl.DataFrame(rows).with_columns(window.alias("updated_at"))
    prepared = validate_mapped(CUSTOMER_MAPPING, map_rows(CUSTOMER_MAPPING, frame), partition_starts=STARTS)
    assert prepared.records.height == window.len()
    return {part: counts["rows_read"] for part, counts in sorted(prepared.partition_rows.items())}


def test_a_zoned_window_column_is_counted_by_the_instant():
    berlin = [datetime(2026, 11, 25, 23, 30), datetime(2026, 11, 26, 0, 30),  # 22:30Z and 23:30Z of the 25th: lookback
              datetime(2026, 11, 27, 0, 30), datetime(2026, 11, 27, 1, 30),  # 23:30Z of the 26th, then 00:30Z of the 27th
              datetime(2026, 11, 28, 12, 0)]
    window = pl.Series(berlin, dtype=pl.Datetime("us")).dt.replace_time_zone("Europe/Berlin")
    assert rows_read_by_part(window) == {-1: 2, 0: 1, 1: 1, 2: 1}


def test_a_date_window_column_is_counted_by_its_day():
    window = pl.Series([date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 27), date(2026, 11, 28)])
    assert rows_read_by_part(window) == {-1: 1, 0: 1, 1: 2, 2: 1}


def test_a_window_column_of_no_date_or_time_counts_every_row_in_the_first_partition():
    # Text (or an epoch number) is not compared with the partitions' starts: all of it is the first's.
    assert rows_read_by_part(pl.Series(["2026-11-25", "2026-11-28", "x"])) == {0: 3}
    assert rows_read_by_part(pl.Series([1_764_115_200, 1_764_374_400])) == {0: 2}
