"""Warehouse sources: a DuckDB file (a table or a query) or files Polars scans lazily.

Each read returns the rows of one window [start, end) of the source's window column, so a
partition's rows are all that is ever in memory.
"""

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from replenit_pipelines.lib.warehouse.mapping import EntityMapping, MappingError, SourceSpec

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _quote(identifier: str) -> str:
    if not _IDENT.match(identifier):
        raise MappingError(f"{identifier!r} is not a plain table or column name")
    return ".".join(f'"{part}"' for part in identifier.split("."))


def _local_bounds(source: SourceSpec, start: datetime, end: datetime, naive: bool) -> tuple[datetime, datetime]:
    """Window bounds in the column's own terms: naive local time for a naive column."""
    if not naive:
        return start, end
    tz = ZoneInfo(source.timezone)
    return start.astimezone(tz).replace(tzinfo=None), end.astimezone(tz).replace(tzinfo=None)


class Warehouse:
    """The warehouse behind a mapping: a DuckDB file, or a folder of files for `path:` sources."""

    def __init__(self, database: str | Path | None):
        self.database = str(database) if database else None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if not self.database:
            raise MappingError("this source reads a DuckDB table: set REPLENIT_WAREHOUSE to the DuckDB file")
        if not Path(self.database).exists():
            raise MappingError(f"warehouse {self.database} does not exist (REPLENIT_WAREHOUSE)")
        return duckdb.connect(self.database, read_only=True)

    def columns(self, mapping: EntityMapping) -> dict[str, pl.DataType]:
        src = mapping.source
        if src.path:
            return dict(self._scan(src).collect_schema())
        with self._connect() as con:
            rel = con.sql(self._sql(src), params=self._params(src, datetime.min, datetime.min))
            return dict(rel.limit(0).pl().schema)

    def check(self, mapping: EntityMapping) -> None:
        mapping.check_columns(list(self.columns(mapping)))

    @staticmethod
    def _sql(src: SourceSpec) -> str:
        if src.query:
            return src.query
        assert src.table is not None
        col = _quote(src.window_column)
        return f"SELECT * FROM {_quote(src.table)} WHERE {col} >= $start AND {col} < $end"  # noqa: S608 - identifiers quoted, values bound

    @staticmethod
    def _params(src: SourceSpec, start: datetime, end: datetime) -> dict:
        return {k: v for k, v in {"start": start, "end": end}.items() if src.table or f"${k}" in (src.query or "")}

    @staticmethod
    def _scan(src: SourceSpec) -> pl.LazyFrame:
        assert src.path is not None
        suffix = Path(src.path).suffix.lower()
        if suffix == ".parquet":
            return pl.scan_parquet(src.path)
        if suffix == ".csv":
            return pl.scan_csv(src.path, try_parse_dates=True)
        if suffix in (".ndjson", ".jsonl"):
            return pl.scan_ndjson(src.path)
        raise MappingError(f"{src.path}: read Parquet, CSV or NDJSON files (by their suffix)")

    def read(self, mapping: EntityMapping, start: datetime, end: datetime) -> pl.DataFrame:
        """The rows of [start, end) (UTC-aware datetimes) of the mapping's source."""
        src = mapping.source
        if src.path:
            lf = self._scan(src)
            dtype = lf.collect_schema()[src.window_column]
            naive = isinstance(dtype, pl.Datetime) and dtype.time_zone is None
            lo, hi = _local_bounds(src, start, end, naive)
            col = pl.col(src.window_column)
            return lf.filter((col >= lo) & (col < hi)).collect()
        with self._connect() as con:
            kind = con.sql(self._sql(src), params=self._params(src, start, start)).limit(0).pl().schema.get(src.window_column)
            naive = isinstance(kind, pl.Datetime) and kind.time_zone is None
            lo, hi = _local_bounds(src, start, end, naive)
            return con.sql(self._sql(src), params=self._params(src, lo, hi)).pl()
