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
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from replenit_pipelines.lib.warehouse.mapping import EntityMapping, MappingError, SourceSpec

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
# The widest window a query source is run for when it reads whole records (DuckDB's TIMESTAMP
# covers these; naive, since the column's zone does not matter at the ends of time).
_ALL_TIME = (datetime(1, 1, 2), datetime(9999, 12, 30))
_WINDOW_PARAM = re.compile(r"\$(start|end)\b")


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
                f"{self._where(mapping)}{_did_you_mean(src.window_column, columns)}; it has: {', '.join(columns)}. "
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
        if mapping.source.path:
            return dict(self._schema(None, mapping))
        with self._connect() as con:
            return dict(self._schema(con, mapping))

    def check(self, mapping: EntityMapping) -> None:
        schema = self.columns(mapping)
        self._check_source_columns(mapping, pl.Schema(schema))
        mapping.check_columns(list(schema))

    # --- reading ------------------------------------------------------------------------------

    @staticmethod
    def _params(src: SourceSpec, start: datetime, end: datetime) -> dict:
        used = set(_WINDOW_PARAM.findall(src.query or ""))
        return {k: v for k, v in {"start": start, "end": end}.items() if k in used}

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
        src = mapping.source
        if src.path:
            lf = self._scan(src)
            schema = self._schema(None, mapping)
            self._check_source_columns(mapping, schema)
            lo, hi = _local_bounds(src, start, end, _naive(schema[src.window_column]))
            col = pl.col(src.window_column)
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
            lo, hi = _local_bounds(src, start, end, _naive(schema[src.window_column]))
            key = read_key_column(mapping)
            if src.table:
                return self._read_table(con, src, key, lo, hi)
            return self._read_query(con, mapping, key, lo, hi)

    @staticmethod
    def _read_table(con: duckdb.DuckDBPyConnection, src: SourceSpec, key: str | None,
                    lo: datetime, hi: datetime) -> pl.DataFrame:
        table, col = _quote(src.table or ""), _quote(src.window_column)
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
        src = mapping.source
        key = read_key_column(mapping)
        if src.path:
            lf = self._scan(src)
            unread = lf.filter(pl.col(src.window_column).is_null())
            if key is not None:
                seen = lf.filter(pl.col(src.window_column).is_not_null() & pl.col(key).is_not_null()).select(key).unique()
                unread = unread.join(seen, on=key, how="anti", nulls_equal=False)
            return int(unread.select(pl.len()).collect().item())
        col = _quote(src.window_column)
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


# --- the whole source in chunks (reconciliation, issue 12) ------------------------------------------
# Separate functions, so the window reads above stay as they are. A chunk is the rows whose record
# key hashes to it (rows without a key: chunk 0), so every row of a record is in one chunk and the
# chunks together are every row of the source, NULL window values and all.

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
                      columns: list[str] | None = None) -> pl.DataFrame:
    """Chunk `chunk` of `chunks` of the whole source (all of it when there is no key column to
    split by: chunk 0 has every row, the others none). `columns`: only these (a cheap pass over
    identities); default every column."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} is not in 0..{chunks - 1}")
    src = mapping.source
    key = read_key_column(mapping)
    if src.path:
        lf = warehouse._scan(src)  # noqa: SLF001
        warehouse._check_source_columns(mapping, lf.collect_schema())  # noqa: SLF001
        if columns is not None:
            lf = lf.select(columns)
        if key is None or chunks == 1:
            return lf.collect() if chunk == 0 else lf.head(0).collect()
        column = pl.col(key)
        part = pl.when(column.is_null()).then(pl.lit(0, pl.UInt64)).otherwise(column.hash() % chunks)
        return lf.filter(part == chunk).collect()
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
    (`read_source_chunk`)."""

    def __init__(self, warehouse: Warehouse, mapping: EntityMapping, chunks: int, directory: str | Path):
        self.warehouse, self.mapping, self.chunks, self.directory = warehouse, mapping, chunks, Path(directory)

    def __enter__(self) -> "SpilledChunks":
        import shutil

        src, key = self.mapping.source, read_key_column(self.mapping)
        assert src.table and key is not None, "spilled chunks are for table sources with a record key"
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        with self.warehouse._connect() as con:  # noqa: SLF001
            self.schema = self.warehouse._schema(con, self.mapping)  # noqa: SLF001
            self.warehouse._check_source_columns(self.mapping, self.schema)  # noqa: SLF001
            table, quoted = _quote(src.table), _quote(key)
            # hash(NULL) is a constant: rows without a key all land in one chunk. The target is a
            # folder this code made, so its text is no user input. DuckDB's own memory counts in
            # this process: capped, it spills to the folder (10M rows: 1.8 GB peak uncapped, 0.44 GB).
            target = str(self.directory).replace("'", "''")
            con.execute(f"SET memory_limit = '{SPILL_MEMORY}'")
            con.execute(f"SET temp_directory = '{target}/duckdb-tmp'")
            con.execute(
                f"COPY (SELECT *, rowid AS replenit_rowid, hash({quoted}) % {int(self.chunks)} AS replenit_chunk "  # noqa: S608 - quoted identifiers, own folder
                f"FROM {table}) TO '{target}/chunks' (FORMAT parquet, PARTITION_BY (replenit_chunk), COMPRESSION zstd)")
        return self

    def read(self, chunk: int, columns: list[str] | None = None) -> pl.DataFrame:
        files = sorted((self.directory / "chunks" / f"replenit_chunk={chunk}").glob("*.parquet"))
        wanted = list(self.schema) if columns is None else columns
        if not files:
            return pl.DataFrame(schema={c: self.schema[c] for c in wanted})
        frame = pl.read_parquet(files, columns=[*wanted, "replenit_rowid"], hive_partitioning=False)
        return frame.sort("replenit_rowid").drop("replenit_rowid")

    def __exit__(self, *exc: object) -> None:
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)
