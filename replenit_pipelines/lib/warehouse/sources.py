"""Warehouse sources: a DuckDB file (a table or a query) or files Polars scans lazily.

A window [start, end) of the source's window column selects records; each selected record is then
read whole. Orders and products are one row per line or variant, and a record's rows may carry
different timestamps (one line at 00:00, the others at 13:00): every row of every record with a row
in the window is read, whatever its timestamp, because the API replaces `OrderItems` and
`ProductVariants` whole. Customers are one row per version: every row of each customer the window
touches is read too (by the column behind CustomerId, else Email), so that prepare's supersession
keeps the newest version even when an older window is re-run after a newer one. Only the window's
records are ever in memory.
"""

import difflib
import inspect
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import duckdb.func
import duckdb.sqltypes
import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, identifier_accepted_expr, record_key
from replenit_pipelines.lib.warehouse.mapping import (
    READ_TS,
    EntityMapping,
    MappingError,
    SourceSpec,
    child_column,
    did_you_mean,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
# The widest window a query source is run for when it reads whole records (DuckDB's TIMESTAMP
# covers these; naive, since the column's zone does not matter at the ends of time).
_ALL_TIME = (datetime(1, 1, 2), datetime(9999, 12, 30))
ALL_TIME_UTC = (_ALL_TIME[0].replace(tzinfo=UTC), _ALL_TIME[1].replace(tzinfo=UTC))
# A query's bound parameters: the window's $start and $end, and $all, true when the run reads the
# source over all time (`--all`, the reconcile job, a record's other rows), false in a partition:
# `WHERE ts >= $start AND ts < $end OR (ts IS NULL AND $all)` lets --all read rows without a time.
_WINDOW_PARAM = re.compile(r"\$(start|end|all)\b")


def _query_text(src: SourceSpec) -> str:
    """The mapping's query, ready to be a subquery (no trailing semicolon)."""
    return (src.query or "").strip().rstrip(";").rstrip()


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


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _naive(dtype: pl.DataType | None) -> bool:
    return isinstance(dtype, pl.Datetime) and dtype.time_zone is None


def record_key_column(mapping: EntityMapping) -> str | None:
    """The source column behind the record's id (OrderId, ProductId) for entities whose records
    span several rows; None for customers (one row per record)."""
    spec = mapping.spec
    if spec.children_field is None:
        return None
    field = next((f for f in mapping.fields if f.target == spec.key_field), None)
    if field is None or field.column is None:
        how = "an expr" if field is not None and field.expr is not None else "a constant"
        raise MappingError(
            f"{mapping.origin}: {mapping.entity}.{spec.key_field} is {how}, but it must be a column: a window reads "  # noqa: S608 - an example in a message, not executed
            f"every row of each record it touches by that column. Map {spec.key_field} to a column, or use a "
            f"`query:` source that computes the id as a column (SELECT *, <expression> AS order_key FROM ...)"
        )
    return field.column


def read_key_column(mapping: EntityMapping) -> str | None:
    """The column a window reads whole records by: the record key for orders and products; for
    customers the plain column behind CustomerId, else behind Email, else None (then only the
    window's rows are read: a customer identified by an expr or a constant cannot be looked up)."""
    if mapping.spec.children_field is not None:
        return record_key_column(mapping)
    by_target = {f.target: f for f in mapping.fields}
    for target in ("CustomerId", "Email"):
        field = by_target.get(target)
        if field is not None and field.column is not None:
            return field.column
    return None


class Warehouse:
    """The warehouse behind a mapping: a DuckDB file, or a folder of files for `path:` sources."""

    def __init__(self, database: str | Path | None):
        self.database = str(database) if database else None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if not self.database:
            raise MappingError("this source reads a DuckDB table: set REPLENIT_WAREHOUSE to the DuckDB file")
        if not Path(self.database).exists():
            raise MappingError(f"warehouse {self.database} does not exist: set REPLENIT_WAREHOUSE to your DuckDB "
                               f"file, or create a demo one there with `replenit demo-warehouse {self.database}`")
        return duckdb.connect(self.database, read_only=True)

    # --- schema, checked before any row is read --------------------------------------------------

    def _where(self, mapping: EntityMapping) -> str:
        src = mapping.source
        if src.table:
            return f"table {src.table}" + (f" in {self.database}" if self.database else "")
        return f"path {src.path}" if src.path else "the source query"

    def _schema(self, con: duckdb.DuckDBPyConnection | None, mapping: EntityMapping) -> pl.Schema:
        """The source's columns, or a one-line MappingError: a missing table (with the tables that
        exist), a query that does not run, files that cannot be read."""
        src = mapping.source
        if src.python:
            try:
                return load_python_source(src, mapping.origin).collect_schema()
            except pl.exceptions.PolarsError as exc:
                raise MappingError(f"{mapping.origin}: {mapping.entity}: the LazyFrame of {src.python} has no schema: "
                                   f"{str(exc).splitlines()[0]}") from None
        if src.path:
            try:
                return self._scan(src).collect_schema()
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise MappingError(f"{mapping.origin}: {mapping.entity}: cannot read {src.path}: "
                                   f"{str(exc).splitlines()[0]}; set source.path") from None
        assert con is not None
        if src.table:
            try:
                return con.sql(f"SELECT * FROM {_quote(src.table)} LIMIT 0").pl().schema  # noqa: S608 - quoted identifier
            except duckdb.CatalogException:
                tables = [r[0] if r[1] == "main" else f"{r[1]}.{r[0]}" for r in con.sql(
                    "SELECT table_name, schema_name FROM duckdb_tables() UNION ALL "
                    "SELECT view_name, schema_name FROM duckdb_views() WHERE NOT internal").fetchall()]
                raise MappingError(
                    f"{mapping.origin}: {mapping.entity}: table {src.table!r} is not in {self.database}"
                    f"{_did_you_mean(src.table, tables)}; it has: {', '.join(sorted(tables)) or 'no tables'}. "
                    f"Set source.table to one of them (or REPLENIT_WAREHOUSE to the right file)"
                ) from None
        try:
            return con.sql(f"SELECT * FROM (\n{_query_text(src)}\n) LIMIT 0",  # noqa: S608 - the mapping's own query
                           params=self._params(src, *_ALL_TIME)).pl().schema
        except duckdb.Error as exc:
            raise MappingError(f"{mapping.origin}: {mapping.entity}: the source query fails: "
                               f"{str(exc).splitlines()[0]}; fix source.query") from None

    def _check_source_columns(self, mapping: EntityMapping, schema: pl.Schema) -> None:
        """The window column and the record key must exist before a window is read."""
        columns = list(schema)
        src = mapping.source
        if src.window_column not in schema:
            raise MappingError(
                f"{mapping.origin}: {mapping.entity}: window column {src.window_column!r} is not a column of "
                f"{self._where(mapping)}{_did_you_mean(src.time_column, columns)}; it has: {', '.join(columns)}. "
                f"Set source.window_column to the column that says when a row last changed"
            )
        key = read_key_column(mapping)
        if key is not None and key not in schema:
            target = next(f.target for f in mapping.fields if f.column == key and "." not in f.target)
            raise MappingError(
                f"{mapping.origin}: {mapping.entity}: {target} column {key!r} is not a column of "
                f"{self._where(mapping)}{_did_you_mean(key, columns)}; it has: {', '.join(columns)}. "
                f"Set {target} to the column that identifies a record"
            )

    def columns(self, mapping: EntityMapping) -> dict[str, pl.DataType]:
        if mapping.source.path or mapping.source.python:
            return dict(self._schema(None, mapping))
        with self._connect() as con:
            return dict(self._schema(con, mapping))

    def unparsable_window_values(self, mapping: EntityMapping) -> tuple[int, list[str]]:
        """Rows no window reads because their window value does not parse, and a few such values."""
        if not mapping.read_by_frames:
            return 0, []
        _, bad, examples = window_counts(self, mapping)
        return bad, examples

    def check(self, mapping: EntityMapping) -> None:
        if mapping.read_by_frames:
            con = self._connect() if _needs_duckdb(mapping) else None
            try:
                sides = _sides(self, con, mapping)  # sources readable; keys and window columns present
            finally:
                if con is not None:
                    con.close()
            for side, fields in zip(sides, (mapping.fields, mapping.children), strict=False):
                needed = set().union(*(f.source_columns() for f in fields)) if fields else set()
                if side.spec is mapping.source and not mapping.normalized:
                    needed |= set().union(*(f.source_columns() for f in mapping.children)) if mapping.children else set()
                    if mapping.child_key:
                        needed.add(mapping.child_key)
                missing = sorted(needed - set(side.schema))
                if missing:
                    raise MappingError(f"{mapping.origin}: {side.what} maps column(s) {', '.join(missing)} that "
                                       f"{side.spec.describe()} does not have (it has: {', '.join(side.schema)})"
                                       f"{''.join(f'; {c}{did_you_mean(c, side.schema)}' for c in missing if did_you_mean(c, side.schema))}")
            return
        schema = self.columns(mapping)
        self._check_source_columns(mapping, pl.Schema(schema))
        mapping.check_columns(list(schema))

    # --- reading ------------------------------------------------------------------------------

    @staticmethod
    def _params(src: SourceSpec, start: datetime, end: datetime) -> dict:
        used = set(_WINDOW_PARAM.findall(src.query or ""))
        bounds = {"start": start, "end": end, "all": (start, end) == _ALL_TIME}
        return {k: v for k, v in bounds.items() if k in used}

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
        """Every row of every record touched in [start, end) (UTC-aware datetimes)."""
        if mapping.read_by_frames:
            return read_frames(self, mapping, start, end)
        src = mapping.source
        if src.path:
            lf = self._scan(src)
            schema = self._schema(None, mapping)
            self._check_source_columns(mapping, schema)
            lo, hi = _local_bounds(src, start, end, _naive(schema[src.time_column]))
            col = pl.col(src.time_column)
            in_window = (col >= lo) & (col < hi)
            key = read_key_column(mapping)
            if key is None:
                return lf.filter(in_window).collect()
            # The records touched in the window (a semi-join on their keys), then all their rows.
            # Rows of the window without a key stay in (prepare quarantines them, counted).
            touched = lf.filter(in_window & pl.col(key).is_not_null()).select(key).unique()
            whole = lf.join(touched, on=key, how="semi", maintain_order="left")
            return pl.concat([whole, lf.filter(in_window & pl.col(key).is_null())]).collect()
        with self._connect() as con:
            schema = self._schema(con, mapping)
            self._check_source_columns(mapping, schema)
            lo, hi = _local_bounds(src, start, end, _naive(schema[src.time_column]))
            key = read_key_column(mapping)
            if src.table:
                return self._read_table(con, src, key, lo, hi)
            return self._read_query(con, mapping, key, lo, hi)

    @staticmethod
    def _read_table(con: duckdb.DuckDBPyConnection, src: SourceSpec, key: str | None,
                    lo: datetime, hi: datetime) -> pl.DataFrame:
        table, col = _quote(src.table or ""), _quote(src.time_column)
        in_window = f"{col} >= $start AND {col} < $end"
        if key is None:
            sql = f"SELECT * FROM {table} WHERE {in_window}"  # noqa: S608 - identifiers quoted, values bound
        else:
            k = _quote(key)
            sql = (f"SELECT * FROM {table} WHERE ({in_window}) "  # noqa: S608 - identifiers quoted, values bound
                   f"OR {k} IN (SELECT {k} FROM {table} WHERE {in_window})")
        return con.sql(sql, params={"start": lo, "end": hi}).pl()

    def _read_query(self, con: duckdb.DuckDBPyConnection, mapping: EntityMapping, key: str | None,
                    lo: datetime, hi: datetime) -> pl.DataFrame:
        """The user's query for the window gives the records it touches; the same query over all
        time ($start and $end bound to the ends of time) gives their other rows. One statement:
        the window's rows, then the other rows of their records (EXCEPT ALL the window's rows, so
        no row is read twice, whatever the query does with $start and $end)."""
        src = mapping.source
        query = _query_text(src)
        params = self._params(src, lo, hi)
        if key is None:
            sql = query
        else:
            k = _quote(key)
            wide = _WINDOW_PARAM.sub(lambda m: f"$replenit_all_{m.group(1)}", query)
            params |= {f"replenit_all_{name}": bound for name, bound in self._params(src, *_ALL_TIME).items()}
            sql = (f"WITH replenit_window AS MATERIALIZED (\n{query}\n) "  # noqa: S608 - the mapping's query; values bound
                   f"SELECT * FROM replenit_window UNION ALL ("
                   f"SELECT * FROM (\n{wide}\n) WHERE {k} IN (SELECT {k} FROM replenit_window) "
                   f"EXCEPT ALL SELECT * FROM replenit_window)")
        try:
            return con.sql(sql, params=params).pl()
        except duckdb.Error as exc:
            raise MappingError(f"{mapping.origin}: {mapping.entity}: the source query fails: "
                               f"{str(exc).splitlines()[0]}; fix source.query") from None

    def rows_without_window_value(self, mapping: EntityMapping) -> int:
        """Rows whose window column is NULL and that no window reads: with a record key, a row is
        read with its record when another row of the record has a window value, so only rows whose
        key is NULL or whose record has no row with a window value count. For a query source, the
        rows its query returns over all time (a query that filters on the column returns none)."""
        if mapping.read_by_frames:
            return window_counts(self, mapping)[0]
        src = mapping.source
        key = read_key_column(mapping)
        if src.path:
            lf = self._scan(src)
            unread = lf.filter(pl.col(src.time_column).is_null())
            if key is not None:
                seen = lf.filter(pl.col(src.time_column).is_not_null() & pl.col(key).is_not_null()).select(key).unique()
                unread = unread.join(seen, on=key, how="anti", nulls_equal=False)
            return int(unread.select(pl.len()).collect().item())
        col = _quote(src.time_column)
        if src.table:
            rows, params = _quote(src.table), None
        else:
            rows, params = f"(\n{_query_text(src)}\n)", self._params(src, *_ALL_TIME)
        nulls = f"SELECT count(*) FROM {rows} WHERE {col} IS NULL"  # noqa: S608 - identifiers quoted, values bound
        with self._connect() as con:
            count = int(con.sql(nulls, params=params).fetchall()[0][0])
            if key is None or not count:  # no NULL rows (the usual case): no join
                return count
            k = _quote(key)
            sql = (f"WITH replenit_rows AS MATERIALIZED (SELECT * FROM {rows}) "  # noqa: S608 - identifiers quoted, values bound
                   f"SELECT count(*) FROM replenit_rows WHERE {col} IS NULL AND ({k} IS NULL OR {k} NOT IN "
                   f"(SELECT {k} FROM replenit_rows WHERE {col} IS NOT NULL AND {k} IS NOT NULL))")
            return int(con.sql(sql, params=params).fetchall()[0][0])


# --- the generic path: child sources, converted window columns, Python sources -----------------
#
# A mapping whose children have their own source, whose window column is text or epoch numbers,
# or whose source is a Polars LazyFrame from Python is read here (EntityMapping.read_by_frames).
# Each source is projected to (record key, window value); the window's keys are those of the
# parent rows in it and those of the child rows in it; then each such parent is read whole (its
# latest version) and joined with every version of each of its children (prepare keeps the newest
# of each child by its key and its own time, counted as superseded). A parent without children
# is one row with NULL child columns (an empty array); a child whose parent is missing is a row
# with NULL parent columns (quarantined: its record has no id).

_ISO_AWARE = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z")
_ISO_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")
_EPOCH_LIMIT_US = 253_402_300_799 * 1_000_000  # 9999-12-31T23:59:59Z: beyond it no datetime
WINDOW_EXAMPLES = 5  # unparsable window values shown in a run's metadata


def _local_to_utc(e: pl.Expr, timezone: str) -> pl.Expr:
    return e.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def window_value(column: str, fmt: str, dtype: pl.DataType, timezone: str) -> pl.Expr:
    """The window column as a UTC datetime (microseconds); null where the value is absent or does
    not parse. `fmt` is the mapping's window format, `dtype` the column's type in the source."""
    c = pl.col(column)
    if isinstance(dtype, pl.Datetime):  # a TIMESTAMP(TZ) column is read as one, whatever the format says
        ts = c.dt.cast_time_unit("us")
        return ts.dt.convert_time_zone("UTC") if dtype.time_zone else _local_to_utc(ts, timezone)
    if isinstance(dtype, pl.Date):
        return _local_to_utc(c.cast(pl.Datetime("us")), timezone)
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
    naive.append(s.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
    return pl.coalesce(*aware, _local_to_utc(pl.coalesce(*naive), timezone))


def _present(column: str, dtype: pl.DataType) -> pl.Expr:
    """The row has a window value (a blank text is none)."""
    c = pl.col(column)
    return c.is_not_null() & (c.str.strip_chars() != "") if dtype == pl.String else c.is_not_null()


def load_python_source(spec: SourceSpec, origin: str) -> pl.LazyFrame:
    """Call `module:function` (no arguments) for its LazyFrame; the module is imported from the
    Python path, else from the mapping file's folder. A DataFrame is accepted as its lazy view."""
    import importlib
    import sys

    assert spec.python is not None
    module_name, func_name = spec.python.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        folder = str(Path(origin).parent) if origin != "<python>" else None
        if folder is None or exc.name != module_name.split(".")[0]:
            raise MappingError(f"{origin}: source python {spec.python}: cannot import {module_name}: {exc}; put the "
                               "module on PYTHONPATH or beside the mapping file") from None
        sys.path.insert(0, folder)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as inner:
            raise MappingError(f"{origin}: source python {spec.python}: cannot import {module_name}: {inner}; put the "
                               "module on PYTHONPATH or beside the mapping file") from None
        finally:
            sys.path.remove(folder)
    func = getattr(module, func_name, None)
    if not callable(func):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise MappingError(f"{origin}: source python {spec.python}: {module_name} has no function {func_name!r}"
                           f"{_did_you_mean(func_name, names)}")
    frame = func()
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    if not isinstance(frame, pl.LazyFrame):
        raise MappingError(f"{origin}: source python {spec.python} returned {type(frame).__name__}, not a Polars LazyFrame")
    return frame


def window_rows(lf: pl.LazyFrame, spec: SourceSpec, start: datetime, end: datetime,
                schema: pl.Schema | None = None) -> pl.LazyFrame:
    """The LazyFrame's rows in [start, end): on a TIMESTAMP column a filter on the column itself,
    which Polars pushes into the scan (or into the user's plan); else on its converted value."""
    schema = schema if schema is not None else lf.collect_schema()
    w = spec.time_column
    dtype = schema[w]
    if isinstance(dtype, pl.Datetime):
        lo, hi = _local_bounds(spec, start, end, _naive(dtype))
        return lf.filter((pl.col(w) >= lo) & (pl.col(w) < hi))
    ts = window_value(w, spec.window_format, dtype, spec.timezone)
    return lf.filter((ts >= start) & (ts < end))


class _Side:
    """One source of a mapping read by frames (the parent's or the children's), keyed by the
    column that holds the parent's record key."""

    def __init__(self, warehouse: "Warehouse", con: duckdb.DuckDBPyConnection | None, mapping: EntityMapping,
                 spec: SourceSpec, key: str | None, what: str, bound_prefix: str = ""):
        self.warehouse, self.con, self.mapping, self.spec, self.key, self.what = warehouse, con, mapping, spec, key, what
        # A query's $start/$end are renamed with this prefix in the SQL this side builds, so the
        # parent's and the child's bounds never share a name in one statement (issue 21).
        self.bound_prefix = bound_prefix
        self.lazy = self._lazy() if con is None else None
        self.schema = self._schema()
        for col, role in ((key, "key"), (spec.window_column, "window column")):
            if col is not None and col not in self.schema:
                columns = list(self.schema)
                raise MappingError(f"{mapping.origin}: {what}: {role} {col!r} is not a column of {spec.describe()}"
                                   f"{_did_you_mean(col, columns)}; it has: {', '.join(columns)}")
        w = spec.window_column
        # Without a window column every row's time is null: no window selects it, a read over all
        # time (--all, reconciliation) reads it by its record key.
        self.ts = window_value(w, spec.window_format, self.schema[w], spec.timezone) if w else pl.lit(None, pl.Datetime("us", "UTC"))
        self.present = _present(w, self.schema[w]) if w else pl.lit(False)

    def _lazy(self) -> pl.LazyFrame:
        if self.spec.python:
            return load_python_source(self.spec, self.mapping.origin)
        return Warehouse._scan(self.spec)  # noqa: SLF001 - the same module's reader

    def _schema(self) -> pl.Schema:
        if self.lazy is not None:
            try:
                return self.lazy.collect_schema()
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise MappingError(f"{self.mapping.origin}: {self.what}: cannot read {self.spec.describe()}: "
                                   f"{str(exc).splitlines()[0]}") from None
        return self.warehouse._schema(self.con, replace(self.mapping, source=self.spec))  # noqa: SLF001 - the same module's reader

    def _sql_rows(self) -> tuple[str, dict]:
        """The source's rows as a FROM item (a query over all time: a source read by frames is
        selected by its window column, never by its query's $start/$end) and its parameters,
        named with `bound_prefix`."""
        if self.spec.table:
            return _quote(self.spec.table), {}
        query = _WINDOW_PARAM.sub(lambda m: f"${self.bound_prefix}{m.group(1)}", _query_text(self.spec))
        params = Warehouse._params(self.spec, *_ALL_TIME)  # noqa: SLF001 - the same module's reader
        return f"(\n{query}\n)", {f"{self.bound_prefix}{name}": bound for name, bound in params.items()}

    def _native_window(self, lo: datetime, hi: datetime) -> tuple[datetime, datetime] | None:
        """The window's bounds in the column's own terms when it is a TIMESTAMP: pushed down."""
        w = self.spec.window_column
        if w is None or not isinstance(self.schema[w], pl.Datetime):
            return None
        return _local_bounds(self.spec, lo, hi, _naive(self.schema[w]))

    def touched(self, lo: datetime, hi: datetime) -> pl.DataFrame:
        """The record keys of this source's rows in [lo, hi) (`__k`; a row without a key gives null)."""
        w, native = self.spec.window_column, self._native_window(lo, hi)
        if w is None:
            return pl.DataFrame(schema={"__k": self.schema[self.key]} if self.key else {"__k": pl.String})
        assert self.key is not None and self.ts is not None
        if self.lazy is not None:
            lf = window_rows(self.lazy, self.spec, lo, hi, self.schema)
            return lf.select(pl.col(self.key).alias("__k")).unique().collect()
        rows, params = self._sql_rows()
        k, wq = _quote(self.key), _quote(w)
        if native is not None:
            sql = f"SELECT DISTINCT {k} AS __k FROM {rows} WHERE {wq} >= $replenit_lo AND {wq} < $replenit_hi"  # noqa: S608 - identifiers quoted, values bound
            return self.con.sql(sql, params=params | {"replenit_lo": native[0], "replenit_hi": native[1]}).pl()  # type: ignore[union-attr]
        sql = f"SELECT {k} AS __k, {wq} FROM {rows}"  # noqa: S608 - identifiers quoted
        frame = self.con.sql(sql, params=params or None).pl()  # type: ignore[union-attr]
        return frame.filter((self.ts >= lo) & (self.ts < hi)).select("__k").unique()

    def rows(self, keys: pl.DataFrame, lo: datetime, hi: datetime, columns: list[str] | None = None) -> pl.DataFrame:
        """Every row of the keys' records, and the window's rows without a key; `columns`: only those."""
        assert self.key is not None
        keys = keys.filter(pl.col("__k").is_not_null()).unique()
        in_window = (self.ts >= lo) & (self.ts < hi) if self.ts is not None else pl.lit(False)
        if columns is not None:  # the key and the window column too: the filters below need them
            columns = list(dict.fromkeys([self.key, *([self.spec.window_column] if self.spec.window_column else []), *columns]))
        if self.lazy is not None:
            lf = self.lazy if columns is None else self.lazy.select(columns)
            whole = lf.join(keys.lazy().select(pl.col("__k").cast(self.schema[self.key]).alias(self.key)),
                            on=self.key, how="semi", maintain_order="left")
            strays = lf.filter(pl.col(self.key).is_null() & in_window)
            return pl.concat([whole, strays]).collect()
        rows, params = self._sql_rows()
        k = _quote(self.key)
        cols = "*" if columns is None else ", ".join(_quote(c) for c in columns)
        assert self.con is not None
        self.con.register("replenit_keys", keys.select(pl.col("__k").cast(self.schema[self.key])).to_arrow())
        try:
            # Two statements: a semi join is fast on a million rows; an OR beside it in one WHERE is not.
            whole = self.con.sql(f"SELECT {cols} FROM {rows} WHERE {k} IN (SELECT __k FROM replenit_keys)",  # noqa: S608 - identifiers quoted, values bound
                                 params=params or None).pl()
            strays = self.con.sql(f"SELECT {cols} FROM {rows} WHERE {k} IS NULL", params=params or None).pl()  # noqa: S608 - identifiers quoted, values bound
        finally:
            self.con.unregister("replenit_keys")
        if not strays.height:
            return whole
        return pl.concat([whole, strays.filter(in_window)], how="vertical_relaxed")

    def window_status(self) -> pl.LazyFrame:
        """(__k, __has, __bad, __raw) over the whole source: whether each row has a window value that
        parses, has none, or has one that does not parse."""
        w = self.spec.window_column
        # Without a key: null, one per row (a column's, so that a frame of literals is no one row).
        key = pl.col(self.key).cast(pl.String) if self.key else pl.when(pl.lit(False)).then(pl.first().cast(pl.String))
        if self.lazy is not None:
            lf = self.lazy
        else:
            rows, params = self._sql_rows()
            cols = ", ".join(_quote(c) for c in dict.fromkeys(c for c in (self.key, w) if c)) or "1 AS replenit_row"
            lf = self.con.sql(f"SELECT {cols} FROM {rows}", params=params or None).pl().lazy()  # type: ignore[union-attr]  # noqa: S608 - identifiers quoted
        return lf.select(
            key.alias("__k"),
            (self.present & self.ts.is_not_null()).alias("__has"),
            (self.present & self.ts.is_null()).alias("__bad"),
            (pl.col(w).cast(pl.String) if w else pl.lit(None, pl.String)).alias("__raw"),
        )


def _child_frame(side: _Side, rows: pl.DataFrame, mapping: EntityMapping) -> pl.DataFrame:
    """Child rows -> the parent's key, the child's key, each child field's source value (as a column
    of its own, so no child column can clash with a parent's) and the child's own time."""
    child = mapping.spec.children_field
    assert child is not None and side.key is not None and mapping.child_key is not None
    exprs = [pl.col(side.key).alias("__k"), pl.col(mapping.child_key).cast(pl.String).alias(child_column(f"{child.name}:key")),
             (side.ts if side.ts is not None else pl.lit(None, pl.Datetime("us", "UTC"))).alias("__child_ts")]
    for f in mapping.children:
        if f.column is not None or f.expr is not None:
            exprs.append(f.source_expression().alias(child_column(f.target)))
    try:
        return rows.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise MappingError(f"{mapping.origin}: {mapping.entity}.{child.name}: a field cannot be evaluated over "
                           f"{side.spec.describe()}: {str(exc).splitlines()[0]}") from None


def _sides(warehouse: "Warehouse", con: duckdb.DuckDBPyConnection | None, mapping: EntityMapping) -> list[_Side]:
    key = read_key_column(mapping)
    parent_con = None if (mapping.source.path or mapping.source.python) else con
    sides = [_Side(warehouse, parent_con, mapping, mapping.source, key, mapping.entity)]
    if mapping.child_source is not None:
        src = mapping.child_source
        child = mapping.spec.children_field
        assert child is not None
        side = _Side(warehouse, None if (src.path or src.python) else con, mapping, src, mapping.parent_key,
                     f"{mapping.entity}.{child.name}", bound_prefix="replenit_child_")
        if mapping.child_key not in side.schema:
            columns = list(side.schema)
            raise MappingError(f"{mapping.origin}: {mapping.entity}.{child.name}: key {mapping.child_key!r} is not a column "
                               f"of {src.describe()}{_did_you_mean(str(mapping.child_key), columns)}; it has: {', '.join(columns)}")
        sides.append(side)
    return sides


def _needs_duckdb(mapping: EntityMapping) -> bool:
    return any(s is not None and (s.table or s.query) for s in (mapping.source, mapping.child_source))


def _native(side: _Side) -> bool:
    """The side's window column is a TIMESTAMP or DATE (or it has none): DuckDB can order it."""
    w = side.spec.window_column
    return w is None or isinstance(side.schema[w], pl.Datetime | pl.Date)


def _joined_in_duckdb(parent: _Side, child: _Side, keys: pl.DataFrame, child_columns: list[str], mapping: EntityMapping,
                      start: datetime, end: datetime) -> pl.DataFrame:
    """read_frames' join, run by DuckDB when both sources are in it (a third of the time of
    moving both tables to Polars and joining there, on a million lines): each touched parent's
    latest version with every child row (a child whose parent is missing keeps NULL parent
    columns), then the parents without children and the window's parent rows without a key."""
    con = parent.con
    assert con is not None and parent.key is not None and child.key is not None
    prow, pparams = parent._sql_rows()  # noqa: SLF001 - the same module's reader
    crow, cparams = child._sql_rows()  # noqa: SLF001 - the same module's reader (its bounds named apart from the parent's)
    pk, ck = _quote(parent.key), _quote(child.key)
    cw = child.spec.window_column
    wanted = list(dict.fromkeys([child.key, *([cw] if cw else []), *child_columns]))
    child_as = {c: f"replenit_child__{c}" for c in wanted}
    # The latest version of each parent by its window column (by content alone without one).
    pw = f"{_quote(parent.spec.window_column)} DESC NULLS LAST, " if parent.spec.window_column else ""
    same_type = parent.schema[parent.key] == child.schema[child.key]
    pkey = f"p.{pk}" if same_type else f"CAST(p.{pk} AS VARCHAR)"
    ckey = f"c.{_quote(child_as[child.key])}"
    ckey = ckey if same_type else f"CAST({ckey} AS VARCHAR)"
    con.register("replenit_keys", keys.select(pl.col("__k").cast(parent.schema[parent.key], strict=False)).to_arrow())
    con.register("replenit_child_keys", keys.select(pl.col("__k").cast(child.schema[child.key], strict=False)).to_arrow())
    try:
        sql = (
            # The latest version of each parent; between versions of one time, the content decides
            # (the greatest as text), never the scan order.
            f"WITH p AS (SELECT * FROM {prow} AS replenit_p WHERE {pk} IN (SELECT __k FROM replenit_keys) "  # noqa: S608 - identifiers quoted, values bound
            f"QUALIFY row_number() OVER (PARTITION BY {pk} ORDER BY {pw}CAST(replenit_p AS VARCHAR) DESC) = 1), "
            f"c AS (SELECT {', '.join(f'{_quote(c)} AS {_quote(a)}' for c, a in child_as.items())} FROM {crow} "
            f"WHERE {ck} IN (SELECT __k FROM replenit_child_keys)) "
            f"SELECT p.*, c.* FROM c LEFT JOIN p ON {pkey} = {ckey} "
            f"UNION ALL BY NAME SELECT * FROM p WHERE {pkey} NOT IN (SELECT {ckey} FROM c WHERE {ckey} IS NOT NULL)")
        frame = con.sql(sql, params=(pparams | cparams) or None).pl()
        strays = con.sql(f"SELECT * FROM {prow} WHERE {pk} IS NULL", params=pparams or None).pl()  # noqa: S608 - identifiers quoted, values bound
        child_strays = con.sql(f"SELECT {', '.join(_quote(c) for c in wanted)} FROM {crow} WHERE {ck} IS NULL",  # noqa: S608 - identifiers quoted, values bound
                               params=cparams or None).pl()
    finally:
        con.unregister("replenit_keys")
        con.unregister("replenit_child_keys")
    parent_columns = list(parent.schema)
    raw_children = frame.select(pl.col(a).alias(c) for c, a in child_as.items())
    children = _child_frame(child, raw_children, mapping).drop("__k")
    joined = pl.concat([frame.select(parent_columns), children], how="horizontal")
    if strays.height:  # the window's parent rows without a key (quarantined: no id)
        strays = strays.filter((parent.ts >= start) & (parent.ts < end))
        joined = pl.concat([joined, strays], how="diagonal_relaxed")
    if child_strays.height:  # the window's child rows without a parent key, likewise
        child_strays = child_strays.filter((child.ts >= start) & (child.ts < end))
        joined = pl.concat([joined, _child_frame(child, child_strays, mapping).drop("__k")], how="diagonal_relaxed")
    return joined.with_columns(pl.coalesce("__child_ts", parent.ts).alias(READ_TS)).drop("__child_ts")


def read_frames(warehouse: "Warehouse", mapping: EntityMapping, start: datetime, end: datetime,
                keys: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every record touched in [start, end) through its own rows or its children's, whole: the
    frame `mapping.as_read()` maps (READ_TS is each row's time: the child's own, else its parent's).
    `keys` (a `__k` text column): these records instead of the window's (a reconciliation's chunk);
    the window then only selects the rows without a record key."""
    con = warehouse._connect() if _needs_duckdb(mapping) else None  # noqa: SLF001 - the same module's reader
    try:
        sides = _sides(warehouse, con, mapping)
        parent = sides[0]
        if parent.key is None:  # customers known by an expr only: the window's rows (read whole, rare)
            lf = parent.lazy
            if lf is None:
                rows, params = parent._sql_rows()  # noqa: SLF001 - the same module's reader
                lf = con.sql(f"SELECT * FROM {rows}", params=params or None).pl().lazy()  # type: ignore[union-attr]  # noqa: S608 - identifiers quoted
            return lf.with_columns(parent.ts.alias(READ_TS)).filter(
                (pl.col(READ_TS) >= start) & (pl.col(READ_TS) < end)).collect()
        if keys is None:
            touched = [s.touched(start, end) for s in sides]
            keys = pl.concat([t.select(pl.col("__k").cast(pl.String)) for t in touched]).unique()
        # Keys compare as text across the two sources (an INTEGER order_id beside a VARCHAR one).
        parents = parent.rows(keys.with_columns(pl.col("__k").cast(parent.schema[parent.key], strict=False)), start, end)
        parents = parents.with_columns(parent.ts.alias(READ_TS))
        if len(sides) == 1:
            return parents
        child_side = sides[1]
        needed = {str(mapping.child_key)}.union(*(f.source_columns() for f in mapping.children))
        if _native(parent) and _native(child_side) and parent.con is not None and child_side.con is not None:
            return _joined_in_duckdb(parent, child_side, keys, sorted(needed & set(child_side.schema)), mapping, start, end)
        children = _child_frame(child_side, child_side.rows(
            keys.with_columns(pl.col("__k").cast(child_side.schema[str(child_side.key)], strict=False)), start, end,
            sorted(needed & set(child_side.schema))), mapping)
    finally:
        if con is not None:
            con.close()
    # The latest version of each parent (older ones are superseded here, before the join: see
    # docs/configuration.md, "what a row is"); rows without a key stay, one row each.
    keyed = parents.filter(pl.col(parent.key).is_not_null())
    if keyed.get_column(parent.key).is_duplicated().any():  # most parent tables hold one version a key
        # Between versions of one time the content decides (its JSON, the greatest), never the scan order.
        content = pl.struct(c for c in keyed.columns if c != READ_TS).struct.json_encode()
        keyed = keyed.with_row_index("__order").sort(READ_TS, content, nulls_last=False).unique(
            parent.key, keep="last", maintain_order=False).sort("__order").drop("__order")
    keyed = keyed.with_columns(pl.col(parent.key).cast(pl.String).alias("__k"))
    children = children.with_columns(pl.col("__k").cast(pl.String))
    # Each child with its parent (a child whose parent is missing keeps NULL parent columns), then
    # the parents without children and the window's parent rows without a key (NULL child columns).
    # A left join, ordered, costs a third of an ordered full join on a million lines.
    with_children = children.join(keyed, on="__k", how="left", maintain_order="left")
    alone = pl.concat([keyed.join(children.select("__k"), on="__k", how="anti"),
                       parents.filter(pl.col(parent.key).is_null())], how="diagonal_relaxed")
    columns = [*parents.columns, *(c for c in children.columns if c != "__k")]
    joined = pl.concat([with_children.select(columns), alone], how="diagonal_relaxed").select(columns)
    return joined.with_columns(pl.coalesce("__child_ts", READ_TS).alias(READ_TS)).drop("__child_ts")


def window_counts(warehouse: "Warehouse", mapping: EntityMapping) -> tuple[int, int, list[str]]:
    """(rows without a window value, rows whose window value does not parse, a few of those values),
    over every source of the mapping, counting only rows no window reads: a row whose record has
    a window value elsewhere (its parent, its other rows, a child) is read with it."""
    con = warehouse._connect() if _needs_duckdb(mapping) else None  # noqa: SLF001 - the same module's reader
    try:
        sides = _sides(warehouse, con, mapping)
        # A parent without a window column counts too (no window reads its rows on their own); a
        # child without one is read with its parent, and never counted.
        statuses = [s.window_status() for i, s in enumerate(sides) if i == 0 or s.spec.window_column is not None]
        if not statuses:
            return 0, 0, []
        rows = pl.concat(statuses).collect()
    finally:
        if con is not None:
            con.close()
    seen = rows.filter(pl.col("__has") & pl.col("__k").is_not_null()).select("__k").unique()
    unread = rows.filter(~pl.col("__has")).join(
        seen, on="__k", how="anti", nulls_equal=False)
    bad = unread.filter(pl.col("__bad"))
    examples = bad.get_column("__raw").unique(maintain_order=True).head(WINDOW_EXAMPLES).to_list()
    return unread.height - bad.height, bad.height, examples


# --- the whole source in chunks (reconciliation, issue 12) ------------------------------------------
# Separate functions, so the window reads above stay as they are. A chunk is the rows whose record
# key hashes to it (rows without a key: chunk 0), so every row of a record is in one chunk and the
# chunks together are every row of the source, NULL window values and all.
#
# Customers: every row that supersession can relate must meet in one chunk. Prepare relates rows
# by the identity the tenant matches them by (contract.identity.record_key over the mapped Email
# and CustomerId, by the tenant's priority: two rows with one email and different or no
# CustomerIds are one customer) and, before that, by CustomerId (a CustomerId's newest row is its
# only version, whatever its email). So a customer's chunk is that of its connected component in
# the graph whose nodes are identities and whose edges are CustomerIds: a CustomerId whose rows
# carry two identities (an older row with another email) joins them. Nearly every component is
# one identity; the few others (found from the CustomerIds with rows under 2+ identities, by label
# propagation in Polars: a loop over rounds, not rows) are chunked by their least identity hash
# (`CustomerChunking.overrides`). Under the `customerid` priority a CustomerId IS the identity of
# its rows: no component spans two identities and nothing needs finding.

_CHUNK_FUNCTION = "replenit_identity_chunk"
_IDS_FUNCTION = "replenit_identity_hashes"
_IDS = pl.Schema({"__h": pl.UInt64, "__c": pl.UInt64})
_OVERRIDES = pl.Schema({"__h": pl.UInt64, "__rep": pl.UInt64})
_IDS_BATCH = 1_000_000  # rows of identity columns turned into hashes at a time (pass 1)


def _identity_source_columns(mapping: EntityMapping) -> list[str]:
    """The source columns a customer's identity is computed from (its Email and CustomerId fields')."""
    return sorted(set().union(*(f.source_columns() for f in mapping.fields if f.target in ("Email", "CustomerId"))))


def customer_identity_hashes(mapping: EntityMapping, rows: Any, customer_priority: str) -> Any:
    """(__h, __c) for each source row: the hash of its identity (`record_key` over the mapped Email
    and CustomerId, each field's own cast and default: the very normalization the run supersedes
    and diffs by, computed in Polars even for a DuckDB source, since DuckDB's trim and lower
    differ from it), null without one; and the hash of its CustomerId where the contract accepts
    it (prepare groups rows by it), else null. `rows`: a DataFrame, or a LazyFrame (a lazy result)."""
    fields = [f for f in mapping.fields if f.target in ("Email", "CustomerId")]
    mapped = rows.select(f.expression() for f in fields)
    columns = mapped.collect_schema().names() if isinstance(mapped, pl.LazyFrame) else mapped.columns
    # In two steps: an expression used twice (record_key runs Python UDFs) would be evaluated twice.
    cid = pl.col("CustomerId").cast(pl.String)
    accepted = (cid.is_not_null() & (cid.str.strip_chars(formats.WHITESPACE) != "") & identifier_accepted_expr("CustomerId", cid)
                if "CustomerId" in columns else pl.lit(False))
    keyed = mapped.select(record_key(mapping.entity, columns, customer_priority).alias("__k"), accepted.alias("__ok"),
                          *(["CustomerId"] if "CustomerId" in columns else []))
    by_id = pl.when(pl.col("__ok")).then(cid.hash()) if "CustomerId" in columns else pl.lit(None, pl.UInt64)
    return keyed.select(pl.when(pl.col("__k").is_not_null()).then(pl.col("__k").hash()).alias("__h"),
                        by_id.cast(pl.UInt64).alias("__c"))


def customer_components(pairs: pl.DataFrame) -> pl.DataFrame:
    """Identities (`__h`) that share a customer with a lesser one, and that one (`__rep`, the least
    identity hash of their component). `pairs`: (__c, __h) of rows with both; only CustomerIds
    with 2+ identities matter (the others join nothing), so the rounds run over few edges."""
    edges = pairs.select("__c", "__h").unique()
    edges = edges.filter(pl.col("__h").n_unique().over("__c") > 1)
    if not edges.height:
        return pl.DataFrame(schema=_OVERRIDES)
    rep = edges.select("__h").unique().with_columns(pl.col("__h").alias("__rep"))
    while True:  # rounds: each takes the least representative over a CustomerId, then jumps a pointer
        by_id = edges.join(rep, on="__h").group_by("__c").agg(pl.col("__rep").min())
        new = edges.join(by_id, on="__c").group_by("__h").agg(pl.col("__rep").min())
        jump = new.select(pl.col("__h").alias("__rep"), pl.col("__rep").alias("__next"))
        new = new.join(jump, on="__rep", how="left").select("__h", pl.min_horizontal("__rep", "__next").alias("__rep"))
        if new.sort("__h").equals(rep.sort("__h")):
            break
        rep = new
    return rep.filter(pl.col("__rep") != pl.col("__h")).cast(_OVERRIDES)


class CustomerChunking:
    """Which chunk each customer row belongs to: its identity's component's representative hashed
    into `chunks` (`overrides` maps the few identities whose representative is another); rows
    without an identity go to chunk 0."""

    def __init__(self, chunks: int, overrides: pl.DataFrame | None = None):
        self.chunks = chunks
        self.overrides = overrides if overrides is not None else pl.DataFrame(schema=_OVERRIDES)

    def of(self, ids: pl.DataFrame) -> pl.Series:
        """The chunk (UInt64) of each row of `ids` (customer_identity_hashes' frame)."""
        h = ids.get_column("__h")
        if self.overrides.height:
            h = h.replace(self.overrides.get_column("__h"), self.overrides.get_column("__rep"))
        return (h % self.chunks).fill_null(0).cast(pl.UInt64).alias("__chunk")

    def moves(self) -> pl.DataFrame:
        """(__h, __from, __to): identities whose component is chunked elsewhere than they hash."""
        o = self.overrides
        return o.select("__h", (pl.col("__h") % self.chunks).alias("__from"), (pl.col("__rep") % self.chunks).alias("__to")
                        ).filter(pl.col("__from") != pl.col("__to"))


def customer_chunks(mapping: EntityMapping, rows: pl.DataFrame, chunking: CustomerChunking, customer_priority: str) -> pl.Series:
    """Each source row's chunk (UInt64) by its customer's component (see above)."""
    return chunking.of(customer_identity_hashes(mapping, rows, customer_priority))


def _customer_chunk_expr(mapping: EntityMapping, chunking: CustomerChunking, customer_priority: str) -> pl.Expr:
    """`customer_chunks` as an expression over a (lazy) source frame."""
    columns = _identity_source_columns(mapping)
    return pl.struct(columns).map_batches(
        lambda s: customer_chunks(mapping, s.struct.unnest(), chunking, customer_priority), return_dtype=pl.UInt64)


def _register_udf(con: duckdb.DuckDBPyConnection, mapping: EntityMapping, rows: str, params: dict, name: str,
                  compute: Any, returns: Any) -> str:
    """Register `compute(frame of the identity columns) -> Arrow array` as the DuckDB function `name`
    (vectorised, over Arrow) on `con`; return the SQL that calls it on a row of `rows`."""
    columns = _identity_source_columns(mapping)
    quoted = ", ".join(_quote(c) for c in columns)
    types: list[Any] = con.sql(f"SELECT {quoted} FROM {rows} LIMIT 0", params=params or None).types  # noqa: S608 - identifiers quoted, values bound

    def udf(*arrays):
        return compute(pl.DataFrame([pl.Series(c, pl.from_arrow(a)) for c, a in zip(columns, arrays, strict=True)]))

    # DuckDB counts a function's parameters by its signature: one per identity column.
    udf.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f"c{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(columns))])
    con.create_function(name, udf, types, returns, type=duckdb.func.PythonUDFType.ARROW,
                        null_handling=duckdb.func.FunctionNullHandling.SPECIAL)
    return f"{name}({quoted})"


def _register_customer_chunks(con: duckdb.DuckDBPyConnection, mapping: EntityMapping, rows: str, params: dict,
                              chunking: CustomerChunking, customer_priority: str) -> str:
    """`customer_chunks` as a DuckDB function on `con`: the SQL that calls it on a row of `rows`."""
    return _register_udf(con, mapping, rows, params, _CHUNK_FUNCTION,
                         lambda frame: customer_chunks(mapping, frame, chunking, customer_priority).to_arrow(),
                         duckdb.sqltypes.UBIGINT)


def _register_identity_hashes(con: duckdb.DuckDBPyConnection, mapping: EntityMapping, rows: str, params: dict,
                              customer_priority: str) -> str:
    """`customer_identity_hashes` as a DuckDB function returning STRUCT(h, c) on `con`."""
    def compute(frame: pl.DataFrame) -> Any:
        ids = customer_identity_hashes(mapping, frame, customer_priority)
        return ids.select(pl.struct(pl.col("__h").alias("h"), pl.col("__c").alias("c"))).to_series().to_arrow()

    returns = duckdb.struct_type({"h": duckdb.sqltypes.UBIGINT, "c": duckdb.sqltypes.UBIGINT})
    return _register_udf(con, mapping, rows, params, _IDS_FUNCTION, compute, returns)


def _pairs(batches: Any, mapping: EntityMapping, customer_priority: str) -> pl.DataFrame:
    """(__c, __h) of the rows with both, distinct, from Arrow batches of identity columns."""
    parts = [customer_identity_hashes(mapping, pl.DataFrame(pl.from_arrow(batch)), customer_priority).drop_nulls().unique()
             for batch in batches]
    return pl.concat(parts).unique() if parts else pl.DataFrame(schema=_IDS)


def _lazy_pairs(lf: pl.LazyFrame, mapping: EntityMapping, customer_priority: str) -> pl.DataFrame:
    """`_pairs` over a LazyFrame, streamed (only the hashes are held)."""
    ids = customer_identity_hashes(mapping, lf.select(_identity_source_columns(mapping)), customer_priority)
    return ids.drop_nulls().unique().collect(engine="streaming")


def customer_chunking(warehouse: "Warehouse", mapping: EntityMapping, chunks: int,
                      customer_priority: str = DEFAULT_CUSTOMER_PRIORITY) -> CustomerChunking:
    """The chunking of a customer source read per chunk (`read_source_chunk`, `read_frames_whole`):
    one pass over its identity columns finds the components that span identities. A table split
    into files (`SpilledChunks`) finds them from its files instead, with no pass of its own."""
    if chunks == 1 or customer_priority == "customerid" or read_key_column(mapping) is None:
        return CustomerChunking(chunks)
    columns = _identity_source_columns(mapping)
    src = mapping.source
    if mapping.read_by_frames:
        con = warehouse._connect() if _needs_duckdb(mapping) else None  # noqa: SLF001 - the same module's reader
        try:
            side = _sides(warehouse, con, mapping)[0]
            if side.lazy is not None:
                pairs = _lazy_pairs(side.lazy, mapping, customer_priority)
            else:
                rows, params = side._sql_rows()  # noqa: SLF001 - the same module's reader
                pairs = _pairs(con.sql(f"SELECT {', '.join(_quote(c) for c in columns)} FROM {rows}",  # type: ignore[union-attr]  # noqa: S608 - identifiers quoted, values bound
                                       params=params or None).to_arrow_reader(_IDS_BATCH), mapping, customer_priority)
        finally:
            if con is not None:
                con.close()
    elif src.path:
        pairs = _lazy_pairs(warehouse._scan(src), mapping, customer_priority)  # noqa: SLF001
    else:
        with warehouse._connect() as con:  # noqa: SLF001
            rows, params = (_quote(src.table), {}) if src.table else \
                (f"(\n{_query_text(src)}\n)", Warehouse._params(src, *_ALL_TIME))  # noqa: SLF001
            pairs = _pairs(con.sql(f"SELECT {', '.join(_quote(c) for c in columns)} FROM {rows}",  # noqa: S608 - identifiers quoted, values bound
                                   params=params or None).to_arrow_reader(_IDS_BATCH), mapping, customer_priority)
    return CustomerChunking(chunks, customer_components(pairs))

def source_row_count(warehouse: Warehouse, mapping: EntityMapping) -> int:
    """Every row of the source, whatever its window column says."""
    src = mapping.source
    if src.path:
        return int(warehouse._scan(src).select(pl.len()).collect().item())  # noqa: SLF001 - same module's reader
    with warehouse._connect() as con:  # noqa: SLF001
        if src.table:
            return int(con.sql(f"SELECT count(*) FROM {_quote(src.table)}").fetchall()[0][0])  # noqa: S608 - quoted identifier
        return int(con.sql(f"SELECT count(*) FROM (\n{_query_text(src)}\n)",  # noqa: S608 - the mapping's own query
                           params=Warehouse._params(src, *_ALL_TIME)).fetchall()[0][0])  # noqa: SLF001


def read_source_chunk(warehouse: Warehouse, mapping: EntityMapping, chunk: int, chunks: int,
                      columns: list[str] | None = None,
                      customer_priority: str = DEFAULT_CUSTOMER_PRIORITY,
                      chunking: CustomerChunking | None = None) -> pl.DataFrame:
    """Chunk `chunk` of `chunks` of the whole source (all of it when there is no key column to
    split by: chunk 0 has every row, the others none). `columns`: only these (a cheap pass over
    identities); default every column. Customers are split by their component (`customer_chunks`):
    pass `customer_chunking(...)` of the same `chunks`, found once for all the chunks."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} is not in 0..{chunks - 1}")
    src = mapping.source
    key = read_key_column(mapping)
    customers = mapping.entity == "customers"
    if customers and key is not None and chunks > 1 and chunking is None:
        chunking = customer_chunking(warehouse, mapping, chunks, customer_priority)
    if src.path:
        lf = warehouse._scan(src)  # noqa: SLF001
        warehouse._check_source_columns(mapping, lf.collect_schema())  # noqa: SLF001
        if key is None or chunks == 1:
            lf = lf if columns is None else lf.select(columns)
            return lf.collect() if chunk == 0 else lf.head(0).collect()
        if customers:
            assert chunking is not None
            part = _customer_chunk_expr(mapping, chunking, customer_priority)
        else:
            column = pl.col(key)
            part = pl.when(column.is_null()).then(pl.lit(0, pl.UInt64)).otherwise(column.hash() % chunks)
        lf = lf.filter(part == chunk)
        return (lf if columns is None else lf.select(columns)).collect()
    with warehouse._connect() as con:  # noqa: SLF001
        schema = warehouse._schema(con, mapping)  # noqa: SLF001
        warehouse._check_source_columns(mapping, schema)  # noqa: SLF001
        selected = ", ".join(_quote(c) for c in columns) if columns is not None else "*"
        if src.table:
            rows, params = _quote(src.table), {}
        else:
            rows, params = f"(\n{_query_text(src)}\n)", Warehouse._params(src, *_ALL_TIME)  # noqa: SLF001
        if key is None or chunks == 1:
            where = "true" if chunk == 0 else "false"
        elif customers:
            assert chunking is not None
            where = f"{_register_customer_chunks(con, mapping, rows, params, chunking, customer_priority)} = $replenit_chunk"
            params = {**params, "replenit_chunk": chunk}
        else:
            quoted = _quote(key)
            where = f"(CASE WHEN {quoted} IS NULL THEN 0 ELSE hash({quoted}) % $replenit_chunks END) = $replenit_chunk"
            params = {**params, "replenit_chunks": chunks, "replenit_chunk": chunk}
        sql = f"SELECT {selected} FROM {rows} WHERE {where}"  # noqa: S608 - identifiers quoted, values bound
        try:
            return con.sql(sql, params=params or None).pl()
        except duckdb.Error as exc:
            raise MappingError(f"{mapping.origin}: {mapping.entity}: reading the whole source fails: "
                               f"{str(exc).splitlines()[0]}; fix source.query") from None


SPILL_MEMORY = "300MB"  # DuckDB's memory while it splits a table into chunk files


class SpilledChunks:
    """A table source split into `chunks` Parquet partitions in ONE scan of the warehouse
    (DuckDB's partitioned COPY), instead of one scan per chunk: a 10M-row table read 40 times
    costs more than the work on its rows. Chunk c is read back in the table's row order. Use as a
    context manager: the files are removed at exit. Other sources read per chunk
    (`read_source_chunk`).

    Customers are split by identity as the rows are written (each row's identity and CustomerId
    hashes kept beside it); the components that span identities are then found from those two
    columns of the files (no second pass over the warehouse), and the few rows whose component is
    chunked elsewhere are copied to a folder of their own, read with their component's chunk."""

    def __init__(self, warehouse: Warehouse, mapping: EntityMapping, chunks: int, directory: str | Path,
                 customer_priority: str = DEFAULT_CUSTOMER_PRIORITY):
        self.warehouse, self.mapping, self.chunks, self.directory = warehouse, mapping, chunks, Path(directory)
        self.customer_priority = customer_priority
        self.moves = CustomerChunking(chunks).moves()

    def __enter__(self) -> "SpilledChunks":
        import shutil

        src, key = self.mapping.source, read_key_column(self.mapping)
        assert src.table and key is not None, "spilled chunks are for table sources with a record key"
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        customers = self.mapping.entity == "customers"
        with self.warehouse._connect() as con:  # noqa: SLF001
            self.schema = self.warehouse._schema(con, self.mapping)  # noqa: SLF001
            self.warehouse._check_source_columns(self.mapping, self.schema)  # noqa: SLF001
            table, quoted, n = _quote(src.table), _quote(key), int(self.chunks)
            # hash(NULL) is a constant: rows without a key all land in one chunk. The target is a
            # folder this code made, so its text is no user input. DuckDB's own memory counts in
            # this process: capped, it spills to the folder (10M rows: 1.8 GB peak uncapped, 0.44 GB).
            target = str(self.directory).replace("'", "''")
            con.execute(f"SET memory_limit = '{SPILL_MEMORY}'")
            con.execute(f"SET temp_directory = '{target}/duckdb-tmp'")
            if customers:  # by identity, not by a column (see customer_chunks)
                ids = _register_identity_hashes(con, self.mapping, table, {}, self.customer_priority)
                rows = (f"SELECT * EXCLUDE (replenit_ids), replenit_ids.h AS replenit_h, replenit_ids.c AS replenit_c, "  # noqa: S608 - quoted identifiers
                        f"coalesce(replenit_ids.h % {n}, 0) AS replenit_chunk "
                        f"FROM (SELECT *, rowid AS replenit_rowid, {ids} AS replenit_ids FROM {table})")
            else:
                rows = f"SELECT *, rowid AS replenit_rowid, hash({quoted}) % {n} AS replenit_chunk FROM {table}"  # noqa: S608 - quoted identifiers
            con.execute(f"COPY ({rows}) TO '{target}/chunks' (FORMAT parquet, PARTITION_BY (replenit_chunk), COMPRESSION zstd)")
            if customers and self.customer_priority != "customerid":
                self._move_components(con, target)
        return self

    def _move_components(self, con: duckdb.DuckDBPyConnection, target: str) -> None:
        """Find the components that span identities from the files' hash columns (only CustomerIds
        whose rows carry 2+ identities), and copy the rows chunked elsewhere than their component
        to `moved/` by their component's chunk."""
        files = f"read_parquet('{target}/chunks/*/*.parquet', hive_partitioning = false)"
        pairs = con.sql(
            f"WITH ids AS (SELECT replenit_c AS c, replenit_h AS h FROM {files} "  # noqa: S608 - own folder
            "WHERE replenit_c IS NOT NULL AND replenit_h IS NOT NULL) "
            "SELECT DISTINCT c AS __c, h AS __h FROM ids "
            "WHERE c IN (SELECT c FROM ids GROUP BY c HAVING min(h) <> max(h))").pl()
        self.moves = CustomerChunking(self.chunks, customer_components(pairs.cast(_IDS))).moves()
        if not self.moves.height:
            return
        con.register("replenit_moves", self.moves.to_arrow())
        try:
            con.execute(f"COPY (SELECT f.*, m.__to AS replenit_chunk FROM {files} f JOIN replenit_moves m "  # noqa: S608 - own folder
                        f"ON f.replenit_h = m.__h) TO '{target}/moved' (FORMAT parquet, PARTITION_BY (replenit_chunk))")
        finally:
            con.unregister("replenit_moves")

    def read(self, chunk: int, columns: list[str] | None = None) -> pl.DataFrame:
        wanted = list(self.schema) if columns is None else columns
        frames = []
        gone = self.moves.filter(pl.col("__from") == chunk).get_column("__h")
        for folder, moved_out in (("chunks", gone), ("moved", None)):
            files = sorted((self.directory / folder / f"replenit_chunk={chunk}").glob("*.parquet"))
            if not files:
                continue
            if moved_out is not None and moved_out.len():
                frame = pl.read_parquet(files, columns=[*wanted, "replenit_rowid", "replenit_h"], hive_partitioning=False)
                frames.append(frame.filter((~pl.col("replenit_h").is_in(moved_out.implode())).fill_null(True)).drop("replenit_h"))
            else:
                frames.append(pl.read_parquet(files, columns=[*wanted, "replenit_rowid"], hive_partitioning=False))
        if not frames:
            return pl.DataFrame(schema={c: self.schema[c] for c in wanted})
        return pl.concat(frames).sort("replenit_rowid").drop("replenit_rowid")

    def __exit__(self, *exc: object) -> None:
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)


# --- the whole source of a mapping read by frames, in chunks (reconciliation of a normalized warehouse) --

def frames_record_keys(warehouse: Warehouse, mapping: EntityMapping) -> tuple[pl.DataFrame, int]:
    """(every record key of the mapping's sources as text (`__k`): the parents' keys and the keys
    the children name; the rows a read of them all gives, in rows_read's unit (one row per child
    row with a parent key, one per parent without a child, one per row without a key that has a
    time): the number a reconciliation's `rows_read` reaches). None of the window values matter."""
    con = warehouse._connect() if _needs_duckdb(mapping) else None  # noqa: SLF001 - the same module's reader
    try:
        keys_by_side, rows = [], 0
        for i, side in enumerate(_sides(warehouse, con, mapping)):
            keyed, strays = _side_row_counts(side)
            rows += strays + (keyed if i else 0)  # a child row with a parent key is a row of the read
            if side.key is None:
                keys_by_side.append(pl.DataFrame(schema={"__k": pl.String}))
                continue
            if side.lazy is not None:
                keys_by_side.append(side.lazy.select(pl.col(side.key).cast(pl.String).alias("__k")).unique().collect())
                continue
            source, params = side._sql_rows()  # noqa: SLF001 - the same module's reader
            keys_by_side.append(con.sql(f"SELECT DISTINCT CAST({_quote(side.key)} AS VARCHAR) AS __k FROM {source}",  # type: ignore[union-attr]  # noqa: S608 - identifiers quoted, values bound
                                        params=params or None).pl())
    finally:
        if con is not None:
            con.close()
    keys_by_side = [k.filter(pl.col("__k").is_not_null()) for k in keys_by_side]
    parents = keys_by_side[0]
    # A parent is one row of the read alone (its latest version) when no child names it.
    rows += parents.join(keys_by_side[1], on="__k", how="anti").height if len(keys_by_side) > 1 else parents.height
    keys = pl.concat(keys_by_side).unique() if keys_by_side else pl.DataFrame(schema={"__k": pl.String})
    return keys, rows


def _side_row_counts(side: "_Side") -> tuple[int, int]:
    """(rows with a key, rows without one that a read over all time takes: those with a time)."""
    if side.key is None:
        return 0, 0
    w = side.spec.window_column
    if side.lazy is not None:
        has_time = side.ts.is_not_null() if side.ts is not None else pl.lit(False)
        keyed, strays = side.lazy.select(pl.col(side.key).is_not_null().sum().alias("keyed"),
                                         (pl.col(side.key).is_null() & has_time).sum().alias("strays")).collect().row(0)
        return int(keyed), int(strays)
    source, params = side._sql_rows()  # noqa: SLF001 - the same module's reader
    assert side.con is not None
    keyed = int(side.con.sql(f"SELECT count({_quote(side.key)}) FROM {source}",  # noqa: S608 - identifiers quoted, values bound
                             params=params or None).fetchall()[0][0])
    if w is None or side.ts is None:
        return keyed, 0
    times = side.con.sql(f"SELECT {_quote(w)} FROM {source} WHERE {_quote(side.key)} IS NULL",  # noqa: S608 - identifiers quoted, values bound
                         params=params or None).pl()
    return keyed, int(times.select(side.ts.is_not_null().sum()).item())


def read_frames_chunk(warehouse: Warehouse, mapping: EntityMapping, keys: pl.DataFrame, chunk: int, chunks: int) -> pl.DataFrame:
    """Chunk `chunk` of `chunks` of a mapping read by frames: the records whose key hashes to it,
    each whole with every version of its children; chunk 0 also has the rows without a key (of
    any time). `keys`: frames_record_keys' first value."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} is not in 0..{chunks - 1}")
    mine = keys.filter(pl.col("__k").hash() % chunks == chunk)
    lo, hi = ALL_TIME_UTC if chunk == 0 else (ALL_TIME_UTC[0], ALL_TIME_UTC[0])
    return read_frames(warehouse, mapping, lo, hi, keys=mine)


def _side_rows(side: _Side) -> int:
    if side.lazy is not None:
        return int(side.lazy.select(pl.len()).collect().item())
    source, params = side._sql_rows()  # noqa: SLF001 - the same module's reader
    return int(side.con.sql(f"SELECT count(*) FROM {source}", params=params or None).fetchall()[0][0])  # type: ignore[union-attr]  # noqa: S608 - identifiers quoted, values bound


def frames_row_count(warehouse: Warehouse, mapping: EntityMapping) -> int:
    """Every row of the mapping's sources (parent and children), whatever their window values say."""
    con = warehouse._connect() if _needs_duckdb(mapping) else None  # noqa: SLF001 - the same module's reader
    try:
        return sum(_side_rows(side) for side in _sides(warehouse, con, mapping))
    finally:
        if con is not None:
            con.close()


def read_frames_whole(warehouse: Warehouse, mapping: EntityMapping, chunk: int = 0, chunks: int = 1,
                      customer_priority: str = DEFAULT_CUSTOMER_PRIORITY,
                      chunking: CustomerChunking | None = None) -> pl.DataFrame:
    """Every row of a customer mapping read by frames (one source, one row per version), whatever
    its window value: NULL or unparsable ones too (READ_TS is then null), unlike a window's read
    (`read_frames` over ALL_TIME keeps only rows whose value parses). With `chunks` > 1 (the
    mapping has an identity column), only the rows whose customer identity hashes to `chunk`
    (`customer_chunks`: pass `customer_chunking(...)`, found once), so all versions of a customer
    are in one chunk."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} is not in 0..{chunks - 1}")
    if mapping.child_source is not None or mapping.entity != "customers":
        raise ValueError(f"{mapping.entity}: read a mapping with record keys by chunks of keys (read_frames_chunk)")
    if chunks > 1 and chunking is None:
        chunking = customer_chunking(warehouse, mapping, chunks, customer_priority)
    con = warehouse._connect() if _needs_duckdb(mapping) else None  # noqa: SLF001 - the same module's reader
    try:
        side = _sides(warehouse, con, mapping)[0]
        if side.lazy is not None:
            lf = side.lazy if chunking is None else side.lazy.filter(_customer_chunk_expr(mapping, chunking, customer_priority) == chunk)
            frame = lf.with_columns(side.ts.alias(READ_TS)).collect()
        else:
            assert con is not None
            rows, params = side._sql_rows()  # noqa: SLF001 - the same module's reader
            where = "true"
            if chunking is not None:
                where = f"{_register_customer_chunks(con, mapping, rows, params, chunking, customer_priority)} = $replenit_chunk"
                params = {**params, "replenit_chunk": chunk}
            frame = con.sql(f"SELECT * FROM {rows} WHERE {where}", params=params or None).pl()  # noqa: S608 - identifiers quoted, values bound
            frame = frame.with_columns(side.ts.alias(READ_TS))
    finally:
        if con is not None:
            con.close()
    return frame
