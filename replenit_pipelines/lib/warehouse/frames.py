"""The generic path: child sources, converted window columns, Python sources.

A mapping whose children have their own source, whose window column is text or epoch numbers,
or whose source is a Polars LazyFrame from Python is read here (EntityMapping.read_by_frames).
Each source is projected to (record key, window value); the window's keys are those of the
parent rows in it and those of the child rows in it; then each such parent is read whole (its
latest version) and joined with every version of each of its children (prepare keeps the newest
of each child by its key and its own time, counted as superseded). A parent without children
is one row with NULL child columns (an empty array); a child whose parent is missing is a row
with NULL parent columns (quarantined: its record has no id).
"""

from dataclasses import replace
from datetime import datetime

import duckdb
import duckdb.func
import duckdb.sqltypes
import polars as pl

from replenit_pipelines.lib.warehouse.access import WINDOW_PARAM, SourceAccess, query_text, quote
from replenit_pipelines.lib.warehouse.keys import read_key_column
from replenit_pipelines.lib.warehouse.mapping import (
    CHILD_PARENT_KEY,
    READ_TS,
    EntityMapping,
    MappingError,
    SourceSpec,
    child_column,
    did_you_mean_quoted,
)
from replenit_pipelines.lib.warehouse.python_sources import load_python_source
from replenit_pipelines.lib.warehouse.windows import (
    ALL_TIME,
    ALL_TIME_UTC,
    WINDOW_EXAMPLES,
    is_naive,
    local_bounds,
    present,
    window_rows,
    window_value,
)


class Side:
    """One source of a mapping read by frames (the parent's or the children's), keyed by the
    column that holds the parent's record key."""

    def __init__(self, warehouse: SourceAccess, con: duckdb.DuckDBPyConnection | None, mapping: EntityMapping,
                 spec: SourceSpec, key: str | None, what: str, bound_prefix: str = "", key_role: str = "key"):
        self.warehouse, self.con, self.mapping, self.spec, self.key, self.what = warehouse, con, mapping, spec, key, what
        # A query's $start/$end are renamed with this prefix in the SQL this side builds, so the
        # parent's and the child's bounds never share a name in one statement (issue 21).
        self.bound_prefix = bound_prefix
        self.lazy = self._lazy() if con is None else None
        self.schema = self._schema()
        for col, role in ((key, key_role), (spec.window_column, "window column")):
            if col is not None and col not in self.schema:
                columns = list(self.schema)
                raise MappingError(f"{mapping.origin}: {what}: {role} {col!r} is not a column of {spec.describe()}"
                                   f"{did_you_mean_quoted(col, columns)}; it has: {', '.join(columns)}")
        w = spec.window_column
        # Without a window column every row's time is null: no window selects it, a read over all
        # time (--all, reconciliation) reads it by its record key.
        self.ts = window_value(w, spec.window_format, self.schema[w], spec.timezone) if w else pl.lit(None, pl.Datetime("us", "UTC"))
        self.present = present(w, self.schema[w]) if w else pl.lit(False)

    def in_window(self, lo: datetime, hi: datetime) -> pl.Expr:
        """Which rows without a record key a read of [lo, hi) takes: those whose time is in it, and
        over all time (ALL_TIME_UTC: --all, a reconciliation's chunk 0) every one, a NULL or
        unparsable time included: such a row has no record to be read with, so no other read
        would ever take it (it is quarantined: no id), and it is counted in rows_read."""
        if (lo, hi) == ALL_TIME_UTC:
            return pl.lit(True)
        return (self.ts >= lo) & (self.ts < hi)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection of a side read in SQL (a side read by Polars has `lazy` instead)."""
        assert self.con is not None, f"{self.what}: read by Polars, not in DuckDB"
        return self.con

    def _lazy(self) -> pl.LazyFrame:
        if self.spec.python:
            return load_python_source(self.spec, self.mapping.origin)
        return SourceAccess.scan(self.spec)

    def _schema(self) -> pl.Schema:
        if self.lazy is not None:
            try:
                return self.lazy.collect_schema()
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise MappingError(f"{self.mapping.origin}: {self.what}: cannot read {self.spec.describe()}: "
                                   f"{str(exc).splitlines()[0]}") from None
        return self.warehouse.schema(self.con, replace(self.mapping, source=self.spec))

    def sql_rows(self) -> tuple[str, dict]:
        """The source's rows as a FROM item (a query over all time: a source read by frames is
        selected by its window column, never by its query's $start/$end) and its parameters,
        named with `bound_prefix`."""
        if self.spec.table:
            return quote(self.spec.table), {}
        query = WINDOW_PARAM.sub(lambda m: f"${self.bound_prefix}{m.group(1)}", query_text(self.spec))
        params = SourceAccess.params(self.spec, *ALL_TIME)
        return f"(\n{query}\n)", {f"{self.bound_prefix}{name}": bound for name, bound in params.items()}

    def _native_window(self, lo: datetime, hi: datetime) -> tuple[datetime, datetime] | None:
        """The window's bounds in the column's own terms when it is a TIMESTAMP: pushed down."""
        w = self.spec.window_column
        if w is None or not isinstance(self.schema[w], pl.Datetime):
            return None
        return local_bounds(self.spec, lo, hi, is_naive(self.schema[w]))

    def touched(self, lo: datetime, hi: datetime) -> pl.DataFrame:
        """The record keys of this source's rows in [lo, hi) (`__k`; a row without a key gives null)."""
        w, native = self.spec.window_column, self._native_window(lo, hi)
        if w is None:
            return pl.DataFrame(schema={"__k": self.schema[self.key]} if self.key else {"__k": pl.String})
        assert self.key is not None and self.ts is not None
        if self.lazy is not None:
            lf = window_rows(self.lazy, self.spec, lo, hi, self.schema)
            return lf.select(pl.col(self.key).alias("__k")).unique().collect()
        rows, params = self.sql_rows()
        k, wq = quote(self.key), quote(w)
        if native is not None:
            sql = f"SELECT DISTINCT {k} AS __k FROM {rows} WHERE {wq} >= $replenit_lo AND {wq} < $replenit_hi"  # noqa: S608 - identifiers quoted, values bound
            return self.connection.sql(sql, params=params | {"replenit_lo": native[0], "replenit_hi": native[1]}).pl()
        sql = f"SELECT {k} AS __k, {wq} FROM {rows}"  # noqa: S608 - identifiers quoted
        frame = self.connection.sql(sql, params=params or None).pl()
        return frame.filter((self.ts >= lo) & (self.ts < hi)).select("__k").unique()

    def rows(self, keys: pl.DataFrame, lo: datetime, hi: datetime, columns: list[str] | None = None) -> pl.DataFrame:
        """Every row of the keys' records, and the window's rows without a key; `columns`: only those."""
        assert self.key is not None
        keys = keys.filter(pl.col("__k").is_not_null()).unique()
        in_window = self.in_window(lo, hi)
        if columns is not None:  # the key and the window column too: the filters below need them
            columns = list(dict.fromkeys([self.key, *([self.spec.window_column] if self.spec.window_column else []), *columns]))
        if self.lazy is not None:
            lf = self.lazy if columns is None else self.lazy.select(columns)
            whole = lf.join(keys.lazy().select(pl.col("__k").cast(self.schema[self.key]).alias(self.key)),
                            on=self.key, how="semi", maintain_order="left")
            strays = lf.filter(pl.col(self.key).is_null() & in_window)
            return pl.concat([whole, strays]).collect()
        rows, params = self.sql_rows()
        k = quote(self.key)
        cols = "*" if columns is None else ", ".join(quote(c) for c in columns)
        assert self.con is not None
        self.con.register("replenit_keys", keys.select(pl.col("__k").cast(self.schema[self.key])).to_arrow())
        try:
            # Two statements: a semi join is fast on a million rows; an OR beside it in one WHERE is not.
            whole = self.connection.sql(f"SELECT {cols} FROM {rows} WHERE {k} IN (SELECT __k FROM replenit_keys)",  # noqa: S608 - identifiers quoted, values bound
                                 params=params or None).pl()
            strays = self.connection.sql(f"SELECT {cols} FROM {rows} WHERE {k} IS NULL", params=params or None).pl()  # noqa: S608 - identifiers quoted, values bound
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
            rows, params = self.sql_rows()
            cols = ", ".join(quote(c) for c in dict.fromkeys(c for c in (self.key, w) if c)) or "1 AS replenit_row"
            lf = self.connection.sql(f"SELECT {cols} FROM {rows}", params=params or None).pl().lazy()  # noqa: S608 - identifiers quoted
        return lf.select(
            key.alias("__k"),
            (self.present & self.ts.is_not_null()).alias("__has"),
            (self.present & self.ts.is_null()).alias("__bad"),
            (pl.col(w).cast(pl.String) if w else pl.lit(None, pl.String)).alias("__raw"),
        )


def child_frame(side: Side, rows: pl.DataFrame, mapping: EntityMapping) -> pl.DataFrame:
    """Child rows -> the parent's key, the child's key, each child field's source value (as a column
    of its own, so no child column can clash with a parent's) and the child's own time."""
    child = mapping.spec.children_field
    assert child is not None and side.key is not None and mapping.child_key is not None
    exprs = [pl.col(side.key).alias("__k"), pl.col(side.key).cast(pl.String).alias(CHILD_PARENT_KEY),
             pl.col(mapping.child_key).cast(pl.String).alias(child_column(f"{child.name}:key")),
             (side.ts if side.ts is not None else pl.lit(None, pl.Datetime("us", "UTC"))).alias("__child_ts")]
    for f in mapping.children:
        if f.column is not None or f.expr is not None:
            exprs.append(f.source_expression().alias(child_column(f.target)))
    try:
        return rows.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise _child_field_error(side, rows, mapping, exc) from None


def _child_field_error(side: Side, rows: pl.DataFrame, mapping: EntityMapping, exc: Exception) -> MappingError:
    """The child field that fails on the data, named as a parent field's error names it (the file,
    `orders.OrderItems.Price`, what it reads), with the cast that gives NULL instead of failing."""
    child = mapping.spec.children_field
    assert child is not None
    where, reason = f"{mapping.origin}: {mapping.entity}.{child.name}: a field", str(exc).splitlines()[0]
    for f in mapping.children:
        if f.column is None and f.expr is None:
            continue
        try:
            rows.select(f.source_expression())
        except pl.exceptions.PolarsError as field_exc:
            where, reason = f"{mapping.origin}: {mapping.entity}.{f.target} ({f.describe(quoted=True)})", str(field_exc).splitlines()[0]
            break
    hint = ("; fix the expr: it is Polars SQL over the source's columns, where CAST stops the run on a value it cannot "
            "read: map the column with cast: (such a value is quarantined as type), or TRY_CAST(x AS DOUBLE) (NULL, silently)")
    return MappingError(f"{where} cannot be evaluated over {side.spec.describe()}: {reason}{hint}")


def source_sides(warehouse: SourceAccess, con: duckdb.DuckDBPyConnection | None, mapping: EntityMapping) -> list[Side]:
    key = read_key_column(mapping)
    parent_con = None if (mapping.source.path or mapping.source.python) else con
    sides = [Side(warehouse, parent_con, mapping, mapping.source, key, mapping.entity)]
    if mapping.child_source is not None:
        src = mapping.child_source
        child = mapping.spec.children_field
        assert child is not None
        side = Side(warehouse, None if (src.path or src.python) else con, mapping, src, mapping.parent_key,
                     f"{mapping.entity}.{child.name}", bound_prefix="replenit_child_", key_role="parent_key")
        if mapping.child_key not in side.schema:
            columns = list(side.schema)
            raise MappingError(f"{mapping.origin}: {mapping.entity}.{child.name}: key {mapping.child_key!r} is not a column "
                               f"of {src.describe()}{did_you_mean_quoted(str(mapping.child_key), columns)}; it has: {', '.join(columns)}")
        sides.append(side)
    return sides


def needs_duckdb(mapping: EntityMapping) -> bool:
    return any(s is not None and (s.table or s.query) for s in (mapping.source, mapping.child_source))


def native(side: Side) -> bool:
    """The side's window column is a TIMESTAMP or DATE (or it has none): DuckDB can order it."""
    w = side.spec.window_column
    return w is None or isinstance(side.schema[w], pl.Datetime | pl.Date)


def _joined_in_duckdb(parent: Side, child: Side, keys: pl.DataFrame, child_columns: list[str], mapping: EntityMapping,
                      start: datetime, end: datetime) -> pl.DataFrame:
    """read_frames' join, run by DuckDB when both sources are in it (a third of the time of
    moving both tables to Polars and joining there, on a million lines): each touched parent's
    latest version with every child row (a child whose parent is missing keeps NULL parent
    columns), then the parents without children and the window's parent rows without a key."""
    con = parent.con
    assert con is not None and parent.key is not None and child.key is not None
    prow, pparams = parent.sql_rows()
    crow, cparams = child.sql_rows()
    pk, ck = quote(parent.key), quote(child.key)
    cw = child.spec.window_column
    wanted = list(dict.fromkeys([child.key, *([cw] if cw else []), *child_columns]))
    child_as = {c: f"replenit_child__{c}" for c in wanted}
    # The latest version of each parent by its window column (by content alone without one).
    pw = f"{quote(parent.spec.window_column)} DESC NULLS LAST, " if parent.spec.window_column else ""
    same_type = parent.schema[parent.key] == child.schema[child.key]
    pkey = f"p.{pk}" if same_type else f"CAST(p.{pk} AS VARCHAR)"
    ckey = f"c.{quote(child_as[child.key])}"
    ckey = ckey if same_type else f"CAST({ckey} AS VARCHAR)"
    con.register("replenit_keys", keys.select(pl.col("__k").cast(parent.schema[parent.key], strict=False)).to_arrow())
    con.register("replenit_child_keys", keys.select(pl.col("__k").cast(child.schema[child.key], strict=False)).to_arrow())
    try:
        sql = (
            # The latest version of each parent; between versions of one time, the content decides
            # (the greatest as text), never the scan order.
            f"WITH p AS (SELECT * FROM {prow} AS replenit_p WHERE {pk} IN (SELECT __k FROM replenit_keys) "  # noqa: S608 - identifiers quoted, values bound
            f"QUALIFY row_number() OVER (PARTITION BY {pk} ORDER BY {pw}CAST(replenit_p AS VARCHAR) DESC) = 1), "
            f"c AS (SELECT {', '.join(f'{quote(c)} AS {quote(a)}' for c, a in child_as.items())} FROM {crow} "
            f"WHERE {ck} IN (SELECT __k FROM replenit_child_keys)) "
            f"SELECT p.*, c.* FROM c LEFT JOIN p ON {pkey} = {ckey} "
            f"UNION ALL BY NAME SELECT * FROM p WHERE {pkey} NOT IN (SELECT {ckey} FROM c WHERE {ckey} IS NOT NULL)")
        frame = con.sql(sql, params=(pparams | cparams) or None).pl()
        strays = con.sql(f"SELECT * FROM {prow} WHERE {pk} IS NULL", params=pparams or None).pl()  # noqa: S608 - identifiers quoted, values bound
        child_strays = con.sql(f"SELECT {', '.join(quote(c) for c in wanted)} FROM {crow} WHERE {ck} IS NULL",  # noqa: S608 - identifiers quoted, values bound
                               params=cparams or None).pl()
    finally:
        con.unregister("replenit_keys")
        con.unregister("replenit_child_keys")
    parent_columns = list(parent.schema)
    raw_children = frame.select(pl.col(a).alias(c) for c, a in child_as.items())
    children = child_frame(child, raw_children, mapping).drop("__k")
    joined = pl.concat([frame.select(parent_columns), children], how="horizontal")
    if strays.height:  # the window's parent rows without a key (quarantined: no id)
        strays = strays.filter(parent.in_window(start, end))
        joined = pl.concat([joined, strays], how="diagonal_relaxed")
    if child_strays.height:  # the window's child rows without a parent key, likewise
        child_strays = child_strays.filter(child.in_window(start, end))
        joined = pl.concat([joined, child_frame(child, child_strays, mapping).drop("__k")], how="diagonal_relaxed")
    return joined.with_columns(pl.coalesce("__child_ts", parent.ts).alias(READ_TS)).drop("__child_ts")


def read_frames(warehouse: SourceAccess, mapping: EntityMapping, start: datetime, end: datetime,
                keys: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every record touched in [start, end) through its own rows or its children's, whole: the
    frame `mapping.as_read()` maps (READ_TS is each row's time: the child's own, else its parent's).
    `keys` (a `__k` text column): these records instead of the window's (a reconciliation's chunk);
    the window then only selects the rows without a record key."""
    con = warehouse.connect() if needs_duckdb(mapping) else None
    try:
        sides = source_sides(warehouse, con, mapping)
        parent = sides[0]
        if parent.key is None:  # customers known by an expr only: the window's rows (read whole, rare)
            lf = parent.lazy
            if lf is None:
                rows, params = parent.sql_rows()
                lf = parent.connection.sql(f"SELECT * FROM {rows}", params=params or None).pl().lazy()  # noqa: S608 - identifiers quoted
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
        if native(parent) and native(child_side) and parent.con is not None and child_side.con is not None:
            return _joined_in_duckdb(parent, child_side, keys, sorted(needed & set(child_side.schema)), mapping, start, end)
        children = child_frame(child_side, child_side.rows(
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


def window_counts(warehouse: SourceAccess, mapping: EntityMapping) -> tuple[int, int, list[str]]:
    """(rows without a window value, rows whose window value does not parse, a few of those values),
    over every source of the mapping, counting only rows no window reads: a row whose record has
    a window value elsewhere (its parent, its other rows, a child) is read with it."""
    con = warehouse.connect() if needs_duckdb(mapping) else None
    try:
        sides = source_sides(warehouse, con, mapping)
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
