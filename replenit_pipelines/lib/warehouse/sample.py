"""A few whole records of the source, for a sample sync (`replenit sync ENTITY --sample N` or
`--identity ID ...`, issue 27): every row of each chosen record whatever its window value (an
order with all its lines, a product with all its variants, a customer with all its versions), as
the read of a reconciliation's chunk gives them, so the stages after it are the real ones.

Which records: `--sample N` takes the first N record keys in ascending text order over the whole
source (the column behind OrderId / ProductId; a customer's CustomerId column, else its Email
column): deterministic, the same N for the same warehouse, not the newest ones (they move while
you try). `--identity` takes the records whose key column holds one of the given values."""

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from replenit_pipelines.lib.warehouse.access import SourceAccess, query_text, quote
from replenit_pipelines.lib.warehouse.chunks import frames_record_keys
from replenit_pipelines.lib.warehouse.frames import read_frames
from replenit_pipelines.lib.warehouse.keys import read_key_column
from replenit_pipelines.lib.warehouse.mapping import EntityMapping, MappingError
from replenit_pipelines.lib.warehouse.reader import Warehouse
from replenit_pipelines.lib.warehouse.windows import ALL_TIME, ALL_TIME_UTC


@dataclass(frozen=True)
class SampleRead:
    rows: pl.DataFrame  # every row of the chosen records, as a reconciliation's chunk read has them
    keys: list[str]  # the chosen record keys, as text, ascending
    missing: list[str]  # asked keys (--identity) the source does not have
    key_column: str  # the source column the keys are values of


def key_column(mapping: EntityMapping) -> str:
    key = read_key_column(mapping)
    if key is None:
        raise MappingError(f"{mapping.origin}: {mapping.entity}: a sample picks records by the column behind "
                           f"{mapping.spec.key_field if mapping.spec.children_field else 'CustomerId or Email'}, "
                           "and this mapping computes it (an expr or a constant): map it to a column to sample")
    return key


def read_sample(warehouse: Warehouse, mapping: EntityMapping, n: int | None = None,
                identities: Sequence[str] | None = None) -> SampleRead:
    """The first `n` records by key, or the records whose key is one of `identities` (as text)."""
    if (n is None) == (identities is None):
        raise ValueError("read_sample: give either n or identities")
    if n is not None and n < 1:
        raise ValueError(f"--sample must be at least 1, not {n}")
    column = key_column(mapping)
    if mapping.read_by_frames:
        keys = frames_record_keys(warehouse, mapping)[0].get_column("__k")
        chosen = sorted(keys.to_list())[:n] if identities is None else sorted(set(identities) & set(keys.to_list()))
        empty = (ALL_TIME_UTC[0], ALL_TIME_UTC[0])  # no window: only the keys' records, none without a key
        rows = read_frames(warehouse, mapping, *empty, keys=pl.DataFrame({"__k": chosen}, schema={"__k": pl.String}))
    else:
        chosen, rows = _read_source(warehouse, mapping, column, n, identities)
    missing = [] if identities is None else [i for i in dict.fromkeys(identities) if i not in set(chosen)]
    return SampleRead(rows, chosen, missing, column)


def _read_source(warehouse: Warehouse, mapping: EntityMapping, column: str, n: int | None,
                 identities: Sequence[str] | None) -> tuple[list[str], pl.DataFrame]:
    src = mapping.source
    as_text = pl.col(column).cast(pl.String)
    if src.path:
        lf = warehouse.scan(src)
        warehouse.check_source_columns(mapping, lf.collect_schema())
        keys = lf.select(as_text.alias("__k")).drop_nulls().unique()
        keys = keys.sort("__k").head(n or 0) if identities is None else keys.filter(pl.col("__k").is_in(list(identities)))
        chosen = keys.collect().get_column("__k").to_list()
        return sorted(chosen), lf.filter(as_text.is_in(chosen)).collect()
    with warehouse.connect() as con:
        warehouse.check_source_columns(mapping, warehouse.schema(con, mapping))
        if src.table:
            rows, params = quote(src.table), {}
        else:
            rows, params = f"(\n{query_text(src)}\n)", SourceAccess.params(src, *ALL_TIME)
        k = f"CAST({quote(column)} AS VARCHAR)"
        if identities is None:
            pick = f"SELECT DISTINCT {k} AS k FROM {rows} WHERE {quote(column)} IS NOT NULL ORDER BY k LIMIT $replenit_n"  # noqa: S608 - identifiers quoted, values bound
            params = {**params, "replenit_n": int(n or 0)}
        else:
            pick = f"SELECT DISTINCT {k} AS k FROM {rows} WHERE {k} IN (SELECT unnest($replenit_ids))"  # noqa: S608 - identifiers quoted, values bound
            params = {**params, "replenit_ids": list(identities)}
        sql = f"WITH replenit_keys AS MATERIALIZED ({pick}) SELECT * FROM {rows} WHERE {k} IN (SELECT k FROM replenit_keys)"  # noqa: S608
        try:
            frame = con.sql(sql, params=params).pl()
        except Exception as exc:  # noqa: BLE001 - duckdb's errors: one line, what to fix
            raise MappingError(f"{mapping.origin}: {mapping.entity}: reading the sample fails: "
                               f"{str(exc).splitlines()[0]}; fix source.query") from None
    chosen = sorted(frame.get_column(column).cast(pl.String).drop_nulls().unique().to_list())
    return chosen, frame
