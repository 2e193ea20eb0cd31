"""Customers in chunks: every row that supersession can relate meets in one chunk (the connected
components of the CustomerId-identity graph), for a reconciliation (chunks.py)."""

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

import duckdb
import duckdb.func
import duckdb.sqltypes
import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, identifier_accepted_expr, record_key
from replenit_pipelines.lib.warehouse.access import SourceAccess, query_text, quote
from replenit_pipelines.lib.warehouse.frames import needs_duckdb, source_sides
from replenit_pipelines.lib.warehouse.keys import read_key_column
from replenit_pipelines.lib.warehouse.mapping import (
    EntityMapping,
)
from replenit_pipelines.lib.warehouse.windows import ALL_TIME

_CHUNK_FUNCTION = "replenit_identity_chunk"


_IDS_FUNCTION = "replenit_identity_hashes"


IDS = pl.Schema({"__h": pl.UInt64, "__c": pl.UInt64})


OVERRIDES = pl.Schema({"__h": pl.UInt64, "__rep": pl.UInt64})


IDS_BATCH = 1_000_000  # rows of identity columns read at a time: hashed (pass 1), or matched (identity_rows)


def identity_source_columns(mapping: EntityMapping) -> list[str]:
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
        return pl.DataFrame(schema=OVERRIDES)
    rep = edges.select("__h").unique().with_columns(pl.col("__h").alias("__rep"))
    while True:  # rounds: each takes the least representative over a CustomerId, then jumps a pointer
        by_id = edges.join(rep, on="__h").group_by("__c").agg(pl.col("__rep").min())
        new = edges.join(by_id, on="__c").group_by("__h").agg(pl.col("__rep").min())
        jump = new.select(pl.col("__h").alias("__rep"), pl.col("__rep").alias("__next"))
        new = new.join(jump, on="__rep", how="left").select("__h", pl.min_horizontal("__rep", "__next").alias("__rep"))
        if new.sort("__h").equals(rep.sort("__h")):
            break
        rep = new
    return rep.filter(pl.col("__rep") != pl.col("__h")).cast(OVERRIDES)


class CustomerChunking:
    """Which chunk each customer row belongs to: its identity's component's representative hashed
    into `chunks` (`overrides` maps the few identities whose representative is another); rows
    without an identity go to chunk 0."""

    def __init__(self, chunks: int, overrides: pl.DataFrame | None = None):
        self.chunks = chunks
        self.overrides = overrides if overrides is not None else pl.DataFrame(schema=OVERRIDES)

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


def customer_chunk_expr(mapping: EntityMapping, chunking: CustomerChunking, customer_priority: str) -> pl.Expr:
    """`customer_chunks` as an expression over a (lazy) source frame."""
    columns = identity_source_columns(mapping)
    return pl.struct(columns).map_batches(
        lambda s: customer_chunks(mapping, s.struct.unnest(), chunking, customer_priority), return_dtype=pl.UInt64)


def _register_udf(con: duckdb.DuckDBPyConnection, mapping: EntityMapping, rows: str, params: dict, name: str,
                  compute: Any, returns: Any) -> str:
    """Register `compute(frame of the identity columns) -> Arrow array` as the DuckDB function `name`
    (vectorised, over Arrow) on `con`; return the SQL that calls it on a row of `rows`."""
    columns = identity_source_columns(mapping)
    quoted = ", ".join(quote(c) for c in columns)
    types: list[Any] = con.sql(f"SELECT {quoted} FROM {rows} LIMIT 0", params=params or None).types  # noqa: S608 - identifiers quoted, values bound

    def udf(*arrays: Any) -> Any:  # Arrow arrays in, an Arrow array out
        return compute(pl.DataFrame([pl.Series(c, pl.from_arrow(a)) for c, a in zip(columns, arrays, strict=True)]))

    # DuckDB counts a function's parameters by its signature: one per identity column.
    udf.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f"c{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(columns))])
    con.create_function(name, udf, types, returns, type=duckdb.func.PythonUDFType.ARROW,
                        null_handling=duckdb.func.FunctionNullHandling.SPECIAL)
    return f"{name}({quoted})"


def register_customer_chunks(con: duckdb.DuckDBPyConnection, mapping: EntityMapping, rows: str, params: dict,
                              chunking: CustomerChunking, customer_priority: str) -> str:
    """`customer_chunks` as a DuckDB function on `con`: the SQL that calls it on a row of `rows`."""
    return _register_udf(con, mapping, rows, params, _CHUNK_FUNCTION,
                         lambda frame: customer_chunks(mapping, frame, chunking, customer_priority).to_arrow(),
                         duckdb.sqltypes.UBIGINT)


def register_identity_hashes(con: duckdb.DuckDBPyConnection, mapping: EntityMapping, rows: str, params: dict,
                              customer_priority: str) -> str:
    """`customer_identity_hashes` as a DuckDB function returning STRUCT(h, c) on `con`."""
    def compute(frame: pl.DataFrame) -> Any:
        ids = customer_identity_hashes(mapping, frame, customer_priority)
        return ids.select(pl.struct(pl.col("__h").alias("h"), pl.col("__c").alias("c"))).to_series().to_arrow()

    returns = duckdb.struct_type({"h": duckdb.sqltypes.UBIGINT, "c": duckdb.sqltypes.UBIGINT})
    return _register_udf(con, mapping, rows, params, _IDS_FUNCTION, compute, returns)


def identity_pairs(batches: Any, mapping: EntityMapping, customer_priority: str) -> pl.DataFrame:
    """(__c, __h) of the rows with both, distinct, from Arrow batches of identity columns."""
    parts = [customer_identity_hashes(mapping, pl.DataFrame(pl.from_arrow(batch)), customer_priority).drop_nulls().unique()
             for batch in batches]
    return pl.concat(parts).unique() if parts else pl.DataFrame(schema=IDS)


def lazy_identity_pairs(lf: pl.LazyFrame, mapping: EntityMapping, customer_priority: str) -> pl.DataFrame:
    """`_pairs` over a LazyFrame, streamed (only the hashes are held)."""
    ids = customer_identity_hashes(mapping, lf.select(identity_source_columns(mapping)), customer_priority)
    return ids.drop_nulls().unique().collect(engine="streaming")


def customer_chunking(warehouse: SourceAccess, mapping: EntityMapping, chunks: int,
                      customer_priority: str = DEFAULT_CUSTOMER_PRIORITY) -> CustomerChunking:
    """The chunking of a customer source read per chunk (`read_source_chunk`, `read_frames_whole`):
    one pass over its identity columns finds the components that span identities. A table split
    into files (`SpilledChunks`) finds them from its files instead, with no pass of its own."""
    if chunks == 1 or customer_priority == "customerid" or read_key_column(mapping) is None:
        return CustomerChunking(chunks)
    pairs = _over_identity_columns(warehouse, mapping, identity_source_columns(mapping),
                                   lambda lf: lazy_identity_pairs(lf, mapping, customer_priority),
                                   lambda reader: identity_pairs(reader, mapping, customer_priority))
    return CustomerChunking(chunks, customer_components(pairs))


FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def _over_identity_columns(warehouse: SourceAccess, mapping: EntityMapping, columns: list[str],
                           lazy: Callable[[pl.LazyFrame], pl.DataFrame], batches: Callable[[Any], pl.DataFrame]) -> pl.DataFrame:
    """`columns` of every row of the whole source, given to `lazy` as a LazyFrame (a source Polars
    reads) or to `batches` as an Arrow reader of IDS_BATCH rows (a DuckDB table or query)."""
    src = mapping.source

    def reader(con: Any, rows: str, params: dict) -> Any:
        return con.sql(f"SELECT {', '.join(quote(c) for c in columns)} FROM {rows}",  # noqa: S608 - identifiers quoted, values bound
                       params=params or None).to_arrow_reader(IDS_BATCH)

    if mapping.read_by_frames:
        con = warehouse.connect() if needs_duckdb(mapping) else None
        try:
            side = source_sides(warehouse, con, mapping)[0]
            if side.lazy is not None:
                return lazy(side.lazy.select(columns))
            rows, params = side.sql_rows()
            return batches(reader(side.connection, rows, params))
        finally:
            if con is not None:
                con.close()
    if src.path:
        return lazy(warehouse.scan(src).select(columns))
    with warehouse.connect() as con:
        rows, params = (quote(src.table), {}) if src.table else (f"(\n{query_text(src)}\n)", SourceAccess.params(src, *ALL_TIME))
        return batches(reader(con, rows, params))


def identity_rows(warehouse: SourceAccess, mapping: EntityMapping, extra_columns: list[str],
                  pick: Callable[[Any], Any]) -> pl.DataFrame:
    """`pick` (a DataFrame or LazyFrame -> the same, filtered) over the source columns of a customer's
    identity (its Email and CustomerId fields', and `extra_columns`), every row of the whole source,
    streamed: batches of a DuckDB source, the streaming engine over a lazy one; only what `pick`
    keeps is held (which other customers share a window's emails: lib/stages/extract.py)."""
    columns = sorted({*identity_source_columns(mapping), *extra_columns})

    def batches(reader: Any) -> pl.DataFrame:
        # DuckDB hands ~123k rows a batch whatever it is asked: `pick` runs over IDS_BATCH rows at a
        # time (each call hashes what it matches against).
        parts, pending, held = [], [], 0
        for batch in reader:
            pending.append(batch)
            held += batch.num_rows
            if held >= IDS_BATCH:
                parts.append(pick(pl.DataFrame(pl.from_arrow(pending))))
                pending, held = [], 0
        if pending or not parts:
            parts.append(pick(pl.DataFrame(pl.from_arrow(pending)) if pending else pl.DataFrame(schema={c: pl.String for c in columns})))
        return pl.concat(parts)

    return _over_identity_columns(warehouse, mapping, columns,
                                  lambda lf: cast(pl.DataFrame, pick(lf).collect(engine="streaming")), batches)
