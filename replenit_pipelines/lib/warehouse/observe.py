"""What a warehouse table looks like now, without reading its rows: how many there are and when
the newest was updated (its window column's largest value), so a stale source is seen before a
sync reads it. Tables of the DuckDB file and files (Parquet, CSV, NDJSON) are observed; a query or
a Python source is not (observing it would run it)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from replenit_pipelines.lib.warehouse.access import quote
from replenit_pipelines.lib.warehouse.mapping import EntityMapping, SourceSpec
from replenit_pipelines.lib.warehouse.reader import Warehouse
from replenit_pipelines.lib.warehouse.windows import is_naive, local_bounds


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


# --- a window's fingerprint: did anything of [start, end) change since the last look? -------------

WindowFingerprint = tuple[int, str]  # (rows, the newest window value or a hash of the rows read)


def _cheap(src: SourceSpec | None) -> bool:
    """A source whose window is counted by one aggregate pushed into DuckDB: a table with a timestamp
    window column (zone maps skip the rest of the table)."""
    return src is not None and bool(src.table) and src.window_column is not None and not src.converted


def window_fingerprint(warehouse: Warehouse, mapping: EntityMapping, start: datetime, end: datetime) -> WindowFingerprint:
    """What the rows of `mapping`'s window [start, end) (UTC) look like now, without reading them when
    the source allows it: for a table with a timestamp window column (and its child table, when that
    has one), the rows in the window and their newest window value, by one aggregate each. A new row
    adds one; a changed row moves its update time, so the newest value (or the count, for a row
    moved out) differs. Other sources (a query, files, a Python source, a text or epoch window
    column) are read for the window and hashed: local work, still no request."""
    sources = [s for s in (mapping.source, mapping.child_source) if s is not None and s.window_column is not None]
    if sources and mapping.source.window_column is not None and all(_cheap(s) for s in sources):
        rows, marks = 0, []
        with warehouse.connect() as con:
            for src in sources:
                col, table = quote(src.time_column), quote(src.table or "")
                dtype = con.sql(f"SELECT {col} FROM {table} LIMIT 0").pl().schema[src.time_column]  # noqa: S608 - quoted identifiers
                lo, hi = local_bounds(src, start, end, is_naive(dtype))
                n, newest = con.sql(f"SELECT count(*), max({col}) FROM {table} "  # noqa: S608 - identifiers quoted, values bound
                                    f"WHERE {col} >= $start AND {col} < $end", params={"start": lo, "end": hi}).fetchall()[0]
                rows += int(n)
                marks.append(str(newest))
        return rows, "|".join(marks)
    frame = warehouse.read(mapping, start, end)
    digest = int(frame.hash_rows(seed=0).sum()) if frame.height else 0
    return frame.height, f"hash:{digest}"
