"""A warehouse's sources, reached: a DuckDB file opened read-only, files scanned by Polars, a
query's bound parameters, each source's schema with a one-line error when it cannot be read, and
quoted identifiers. The reader (reader.py), the generic path (frames.py) and the chunk readers
(chunks.py) all go through it."""

import re
from datetime import datetime
from pathlib import Path

import duckdb
import duckdb.func
import duckdb.sqltypes
import polars as pl

from replenit_pipelines.lib.warehouse.keys import read_key_column
from replenit_pipelines.lib.warehouse.mapping import (
    EntityMapping,
    MappingError,
    SourceSpec,
    did_you_mean_quoted,
)
from replenit_pipelines.lib.warehouse.python_sources import load_python_source
from replenit_pipelines.lib.warehouse.windows import ALL_TIME

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


# A query's bound parameters: the window's $start and $end, and $all, true when the run reads the
# source over all time (`--all`, the reconcile job, a record's other rows), false in a partition:
# `WHERE ts >= $start AND ts < $end OR (ts IS NULL AND $all)` lets --all read rows without a time.
WINDOW_PARAM = re.compile(r"\$(start|end|all)\b")


def query_text(src: SourceSpec) -> str:
    """The mapping's query, ready to be a subquery (no trailing semicolon)."""
    return (src.query or "").strip().rstrip(";").rstrip()


def quote(identifier: str) -> str:
    """A table or column name as a DuckDB identifier. `schema.table` is two names; any other name
    (Northwind's `Order Details`, a column `Unit Price`) is one, its double quotes doubled."""
    if _IDENT.match(identifier):
        return ".".join(f'"{part}"' for part in identifier.split("."))
    if not identifier.strip() or "\x00" in identifier:
        raise MappingError(f"{identifier!r} is not a table or column name")
    return '"' + identifier.replace('"', '""') + '"'



# Strings handed to Polars as Arrow string views, Polars' own layout: not converted on arrival (a
# copy of every text column: ~50 MB less peak and faster reads of a million customers, issue 28).
ARROW_STRING_VIEWS: dict[str, str | bool | int | float | list[str]] = {"arrow_output_version": "1.4", "produce_arrow_string_view": True}


class SourceAccess:
    """The warehouse behind a mapping: a DuckDB file, or a folder of files for `path:` sources."""

    def __init__(self, database: str | Path | None):
        self.database = str(database) if database else None

    def connect(self) -> duckdb.DuckDBPyConnection:
        if not self.database:
            raise MappingError("this source reads a DuckDB table: set REPLENIT_WAREHOUSE to the DuckDB file")
        if not Path(self.database).exists():
            raise MappingError(f"warehouse {self.database} does not exist: set REPLENIT_WAREHOUSE to your DuckDB "
                               f"file, or create a demo one there with `replenit demo-warehouse {self.database}`")
        return duckdb.connect(self.database, read_only=True, config=ARROW_STRING_VIEWS)

    # --- schema, checked before any row is read --------------------------------------------------

    def where(self, mapping: EntityMapping) -> str:
        src = mapping.source
        if src.table:
            return f"table {src.table}" + (f" in {self.database}" if self.database else "")
        return f"path {src.path}" if src.path else "the source query"

    def schema(self, con: duckdb.DuckDBPyConnection | None, mapping: EntityMapping) -> pl.Schema:
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
                return self.scan(src).collect_schema()
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise MappingError(f"{mapping.origin}: {mapping.entity}: cannot read {src.path}: "
                                   f"{str(exc).splitlines()[0]}; set source.path") from None
        assert con is not None
        if src.table:
            try:
                return con.sql(f"SELECT * FROM {quote(src.table)} LIMIT 0").pl().schema  # noqa: S608 - quoted identifier
            except duckdb.CatalogException:
                tables = [r[0] if r[1] == "main" else f"{r[1]}.{r[0]}" for r in con.sql(
                    "SELECT table_name, schema_name FROM duckdb_tables() UNION ALL "
                    "SELECT view_name, schema_name FROM duckdb_views() WHERE NOT internal").fetchall()]
                raise MappingError(
                    f"{mapping.origin}: {mapping.entity}: table {src.table!r} is not in {self.database}"
                    f"{did_you_mean_quoted(src.table, tables)}; it has: {', '.join(sorted(tables)) or 'no tables'}. "
                    f"Set source.table to one of them (or REPLENIT_WAREHOUSE to the right file)"
                ) from None
        try:
            return con.sql(f"SELECT * FROM (\n{query_text(src)}\n) LIMIT 0",  # noqa: S608 - the mapping's own query
                           params=self.params(src, *ALL_TIME)).pl().schema
        except duckdb.Error as exc:
            raise MappingError(f"{mapping.origin}: {mapping.entity}: the source query fails: "
                               f"{str(exc).splitlines()[0]}; fix source.query") from None

    def check_source_columns(self, mapping: EntityMapping, schema: pl.Schema) -> None:
        """The window column and the record key must exist before a window is read."""
        columns = list(schema)
        src = mapping.source
        if src.window_column not in schema:
            raise MappingError(
                f"{mapping.origin}: {mapping.entity}: window column {src.window_column!r} is not a column of "
                f"{self.where(mapping)}{did_you_mean_quoted(src.time_column, columns)}; it has: {', '.join(columns)}. "
                f"Set source.window_column to the column that says when a row last changed"
            )
        key = read_key_column(mapping)
        if key is not None and key not in schema:
            target = next(f.target for f in mapping.fields if f.column == key and "." not in f.target)
            raise MappingError(
                f"{mapping.origin}: {mapping.entity}: {target} column {key!r} is not a column of "
                f"{self.where(mapping)}{did_you_mean_quoted(key, columns)}; it has: {', '.join(columns)}. "
                f"Set {target} to the column that identifies a record"
            )


    @staticmethod
    def params(src: SourceSpec, start: datetime, end: datetime) -> dict:
        used = set(WINDOW_PARAM.findall(src.query or ""))
        bounds = {"start": start, "end": end, "all": (start, end) == ALL_TIME}
        return {k: v for k, v in bounds.items() if k in used}

    @staticmethod
    def scan(src: SourceSpec) -> pl.LazyFrame:
        assert src.path is not None
        suffix = Path(src.path).suffix.lower()
        if suffix == ".parquet":
            return pl.scan_parquet(src.path)
        if suffix == ".csv":
            return pl.scan_csv(src.path, try_parse_dates=True)
        if suffix in (".ndjson", ".jsonl"):
            return pl.scan_ndjson(src.path)
        raise MappingError(f"{src.path}: read Parquet, CSV or NDJSON files (by their suffix)")
