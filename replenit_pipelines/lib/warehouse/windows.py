"""Window parsing: a window column's values as UTC datetimes (TIMESTAMP, DATE, ISO 8601 text,
epoch numbers), the bounds of a window in the column's own terms, and a LazyFrame's rows in a
window. The widest window (`ALL_TIME`) is the one a read over all time uses."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

from replenit_pipelines.lib.warehouse.mapping import (
    MappingError,
    SourceSpec,
)

# The widest window a query source is run for when it reads whole records (DuckDB's TIMESTAMP
# covers these; naive, since the column's zone does not matter at the ends of time).
ALL_TIME = (datetime(1, 1, 2), datetime(9999, 12, 30))


ALL_TIME_UTC = (ALL_TIME[0].replace(tzinfo=UTC), ALL_TIME[1].replace(tzinfo=UTC))


def local_bounds(source: SourceSpec, start: datetime, end: datetime, naive: bool) -> tuple[datetime, datetime]:
    """Window bounds in the column's own terms: naive local time for a naive column."""
    if not naive:
        return start, end
    tz = ZoneInfo(source.timezone)
    return start.astimezone(tz).replace(tzinfo=None), end.astimezone(tz).replace(tzinfo=None)


def is_naive(dtype: pl.DataType | None) -> bool:
    return isinstance(dtype, pl.Datetime) and dtype.time_zone is None


_ISO_AWARE = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z")


_ISO_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")


_EPOCH_LIMIT_US = 253_402_300_799 * 1_000_000  # 9999-12-31T23:59:59Z: beyond it no datetime


WINDOW_EXAMPLES = 5  # unparsable window values shown in a run's metadata


def day_start(date: pl.Expr, timezone: str) -> pl.Expr:
    """A DATE's first instant in `timezone` (zoned): its midnight, or, where the clocks skipped
    midnight (São Paulo on 2017-10-15 went from 00:00 to 01:00), the first wall time that day has."""
    midnight = date.cast(pl.Datetime("us"))
    return pl.coalesce(*((midnight + pl.duration(minutes=m)).dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
                         for m in (0, 30, 60, 120)))


def _local_to_utc(e: pl.Expr, timezone: str) -> pl.Expr:
    return e.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def window_value(column: str, fmt: str, dtype: pl.DataType, timezone: str) -> pl.Expr:
    """The window column as a UTC datetime (microseconds); null where the value is absent or does
    not parse. `fmt` is the mapping's window format, `dtype` the column's type in the source."""
    c = pl.col(column)
    if isinstance(dtype, pl.Datetime):  # a TIMESTAMP(TZ) column is read as one, whatever the format says
        ts = c.dt.cast_time_unit("us")
        return ts.dt.convert_time_zone("UTC") if dtype.time_zone else _local_to_utc(ts, timezone)
    if isinstance(dtype, pl.Date):  # the day's first instant (a skipped midnight is no reason to lose the day)
        return day_start(c, timezone).dt.convert_time_zone("UTC")
    if fmt in ("epoch_s", "epoch_ms"):
        text = dtype == pl.String
        n = (c.str.strip_chars().cast(pl.Float64, strict=False) if text else c.cast(pl.Float64, strict=False))
        us = n * (1_000_000 if fmt == "epoch_s" else 1_000)
        ok = us.is_finite() & (us.abs() <= _EPOCH_LIMIT_US)
        return pl.from_epoch(pl.when(ok).then(us.round(0)).cast(pl.Int64), time_unit="us").dt.replace_time_zone("UTC")
    if dtype != pl.String:
        raise MappingError(f"window column {column!r} is {dtype}: declare its format (window_column: {{column: {column}, "
                           f"format: epoch_s}} for numbers) or map a TIMESTAMP column")
    # ISO 8601: a date, or a date and time with or without seconds, fraction and offset (Z too);
    # a space instead of the T is read too (SQL exports write one). Strict: 2024-02-30 is no date.
    s = c.str.strip_chars().str.replace(r"[Zz]$", "+00:00").str.replace(r"^(\d{4}-\d{2}-\d{2})[ tT]", "${1}T")
    aware = [s.str.to_datetime(f, time_zone="UTC", strict=False, time_unit="us") for f in _ISO_AWARE]
    naive = [s.str.to_datetime(f, strict=False, time_unit="us") for f in _ISO_NAIVE]
    day = day_start(s.str.to_date("%Y-%m-%d", strict=False), timezone).dt.convert_time_zone("UTC")
    return pl.coalesce(*aware, _local_to_utc(pl.coalesce(*naive), timezone), day)


def present(column: str, dtype: pl.DataType) -> pl.Expr:
    """The row has a window value (a blank text is none)."""
    c = pl.col(column)
    return c.is_not_null() & (c.str.strip_chars() != "") if dtype == pl.String else c.is_not_null()


def window_rows(lf: pl.LazyFrame, spec: SourceSpec, start: datetime, end: datetime,
                schema: pl.Schema | None = None) -> pl.LazyFrame:
    """The LazyFrame's rows in [start, end): on a TIMESTAMP column a filter on the column itself,
    which Polars pushes into the scan (or into the user's plan); else on its converted value."""
    schema = schema if schema is not None else lf.collect_schema()
    w = spec.time_column
    dtype = schema[w]
    if isinstance(dtype, pl.Datetime):
        lo, hi = local_bounds(spec, start, end, is_naive(dtype))
        return lf.filter((pl.col(w) >= lo) & (pl.col(w) < hi))
    ts = window_value(w, spec.window_format, dtype, spec.timezone)
    return lf.filter((ts >= start) & (ts < end))
