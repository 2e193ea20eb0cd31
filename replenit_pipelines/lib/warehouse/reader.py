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

from datetime import datetime

import duckdb
import duckdb.func
import duckdb.sqltypes
import polars as pl

from replenit_pipelines.lib.warehouse.access import WINDOW_PARAM, SourceAccess, query_text, quote
from replenit_pipelines.lib.warehouse.frames import needs_duckdb, read_frames, source_sides, window_counts
from replenit_pipelines.lib.warehouse.keys import read_key_column
from replenit_pipelines.lib.warehouse.mapping import (
    EntityMapping,
    MappingError,
    SourceSpec,
    did_you_mean,
)
from replenit_pipelines.lib.warehouse.windows import ALL_TIME, is_naive, local_bounds


class Warehouse(SourceAccess):
    """The warehouse behind a mapping, read a window at a time (the extract stage's reader)."""

    def columns(self, mapping: EntityMapping) -> dict[str, pl.DataType]:
        if mapping.source.path or mapping.source.python:
            return dict(self.schema(None, mapping))
        with self.connect() as con:
            return dict(self.schema(con, mapping))

    def unparsable_window_values(self, mapping: EntityMapping) -> tuple[int, list[str]]:
        """Rows no window reads because their window value does not parse, and a few such values."""
        if not mapping.read_by_frames:
            return 0, []
        _, bad, examples = window_counts(self, mapping)
        return bad, examples

    def check(self, mapping: EntityMapping) -> None:
        if mapping.read_by_frames:
            con = self.connect() if needs_duckdb(mapping) else None
            try:
                sides = source_sides(self, con, mapping)  # sources readable; keys and window columns present
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
        self.check_source_columns(mapping, pl.Schema(schema))
        mapping.check_columns(list(schema))

    # --- reading ------------------------------------------------------------------------------

    def read(self, mapping: EntityMapping, start: datetime, end: datetime) -> pl.DataFrame:
        """Every row of every record touched in [start, end) (UTC-aware datetimes)."""
        if mapping.read_by_frames:
            return read_frames(self, mapping, start, end)
        src = mapping.source
        if src.path:
            lf = self.scan(src)
            schema = self.schema(None, mapping)
            self.check_source_columns(mapping, schema)
            lo, hi = local_bounds(src, start, end, is_naive(schema[src.time_column]))
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
        with self.connect() as con:
            schema = self.schema(con, mapping)
            self.check_source_columns(mapping, schema)
            lo, hi = local_bounds(src, start, end, is_naive(schema[src.time_column]))
            key = read_key_column(mapping)
            if src.table:
                return self._read_table(con, src, key, lo, hi)
            return self._read_query(con, mapping, key, lo, hi)

    @staticmethod
    def _read_table(con: duckdb.DuckDBPyConnection, src: SourceSpec, key: str | None,
                    lo: datetime, hi: datetime) -> pl.DataFrame:
        table, col = quote(src.table or ""), quote(src.time_column)
        in_window = f"{col} >= $start AND {col} < $end"
        if key is None:
            sql = f"SELECT * FROM {table} WHERE {in_window}"  # noqa: S608 - identifiers quoted, values bound
        else:
            k = quote(key)
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
        query = query_text(src)
        params = self.params(src, lo, hi)
        if key is None:
            sql = query
        else:
            k = quote(key)
            wide = WINDOW_PARAM.sub(lambda m: f"$replenit_all_{m.group(1)}", query)
            params |= {f"replenit_all_{name}": bound for name, bound in self.params(src, *ALL_TIME).items()}
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
            lf = self.scan(src)
            unread = lf.filter(pl.col(src.time_column).is_null())
            if key is not None:
                seen = lf.filter(pl.col(src.time_column).is_not_null() & pl.col(key).is_not_null()).select(key).unique()
                unread = unread.join(seen, on=key, how="anti", nulls_equal=False)
            return int(unread.select(pl.len()).collect().item())
        col = quote(src.time_column)
        if src.table:
            rows, params = quote(src.table), None
        else:
            rows, params = f"(\n{query_text(src)}\n)", self.params(src, *ALL_TIME)
        nulls = f"SELECT count(*) FROM {rows} WHERE {col} IS NULL"  # noqa: S608 - identifiers quoted, values bound
        with self.connect() as con:
            count = int(con.sql(nulls, params=params).fetchall()[0][0])
            if key is None or not count:  # no NULL rows (the usual case): no join
                return count
            k = quote(key)
            sql = (f"WITH replenit_rows AS MATERIALIZED (SELECT * FROM {rows}) "  # noqa: S608 - identifiers quoted, values bound
                   f"SELECT count(*) FROM replenit_rows WHERE {col} IS NULL AND ({k} IS NULL OR {k} NOT IN "
                   f"(SELECT {k} FROM replenit_rows WHERE {col} IS NOT NULL AND {k} IS NOT NULL))")
            return int(con.sql(sql, params=params).fetchall()[0][0])
