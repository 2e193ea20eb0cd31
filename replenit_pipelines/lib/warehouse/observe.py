"""What a warehouse table looks like now, without reading its rows: how many there are and when
the newest was updated (its window column's largest value), so a stale source is seen before a
sync reads it. Tables of the DuckDB file and files (Parquet, CSV, NDJSON) are observed; a query or
a Python source is not (observing it would run it)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from replenit_pipelines.lib.warehouse.access import quote
from replenit_pipelines.lib.warehouse.mapping import SourceSpec
from replenit_pipelines.lib.warehouse.reader import Warehouse


@dataclass(frozen=True)
class SourceObservation:
    rows: int
    newest_update: datetime | None  # UTC; None: no window column, no rows, or a text/epoch column


def observable(src: SourceSpec) -> bool:
    return bool(src.table or src.path)


def _utc(value: object, timezone: str) -> datetime | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))).astimezone(UTC)
    if isinstance(value, date):  # a DATE column: midnight of its day where the source lives
        return datetime(value.year, value.month, value.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    return None


def observe_source(warehouse: Warehouse, src: SourceSpec) -> SourceObservation:
    """Row count and newest update of a table or file source (`observable(src)`)."""
    column = src.window_column if src.window_column and not src.converted else None
    if src.path:
        lf = warehouse.scan(src)
        exprs = [pl.len().alias("rows"), *([pl.col(column).max().alias("newest")] if column else [])]
        row = lf.select(exprs).collect().row(0, named=True)
        return SourceObservation(int(row["rows"]), _utc(row.get("newest"), src.timezone))
    if not src.table:
        raise ValueError(f"{src.describe()} is not observed: only tables and files are")
    newest = f", max({quote(column)})" if column else ""
    with warehouse.connect() as con:
        rows, *rest = con.sql(f"SELECT count(*){newest} FROM {quote(src.table)}").fetchall()[0]  # noqa: S608 - quoted identifiers
    return SourceObservation(int(rows), _utc(rest[0], src.timezone) if rest else None)
