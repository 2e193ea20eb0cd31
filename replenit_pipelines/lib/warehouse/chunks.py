"""The whole source in chunks (reconciliation, issue 12).
Separate functions, so the window reads above stay as they are. A chunk is the rows whose record
key hashes to it (rows without a key: chunk 0), so every row of a record is in one chunk and the
chunks together are every row of the source, NULL window values and all.

Customers: every row that supersession can relate must meet in one chunk. Prepare relates rows
by the identity the tenant matches them by (contract.identity.record_key over the mapped Email
and CustomerId, by the tenant's priority: two rows with one email and different or no
CustomerIds are one customer) and, before that, by CustomerId (a CustomerId's newest row is its
only version, whatever its email). So a customer's chunk is that of its connected component in
the graph whose nodes are identities and whose edges are CustomerIds: a CustomerId whose rows
carry two identities (an older row with another email) joins them. Nearly every component is
one identity; the few others (found from the CustomerIds with rows under 2+ identities, by label
propagation in Polars: a loop over rounds, not rows) are chunked by their least identity hash
(`CustomerChunking.overrides`). Under the `customerid` priority a CustomerId IS the identity of
its rows: no component spans two identities and nothing needs finding.
"""

from pathlib import Path

import duckdb
import duckdb.func
import duckdb.sqltypes
import polars as pl

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY
from replenit_pipelines.lib.warehouse.access import SourceAccess, query_text, quote
from replenit_pipelines.lib.warehouse.customer_chunks import (
    IDS,
    CustomerChunking,
    customer_chunk_expr,
    customer_chunking,
    customer_components,
    register_customer_chunks,
    register_identity_hashes,
)
from replenit_pipelines.lib.warehouse.frames import Side, needs_duckdb, read_frames, source_sides
from replenit_pipelines.lib.warehouse.keys import read_key_column
from replenit_pipelines.lib.warehouse.mapping import (
    READ_TS,
    EntityMapping,
    MappingError,
)
from replenit_pipelines.lib.warehouse.reader import Warehouse
from replenit_pipelines.lib.warehouse.windows import ALL_TIME, ALL_TIME_UTC


def source_row_count(warehouse: Warehouse, mapping: EntityMapping) -> int:
    """Every row of the source, whatever its window column says."""
    src = mapping.source
    if src.path:
        return int(warehouse.scan(src).select(pl.len()).collect().item())
    with warehouse.connect() as con:
        if src.table:
            return int(con.sql(f"SELECT count(*) FROM {quote(src.table)}").fetchall()[0][0])  # noqa: S608 - quoted identifier
        return int(con.sql(f"SELECT count(*) FROM (\n{query_text(src)}\n)",  # noqa: S608 - the mapping's own query
                           params=SourceAccess.params(src, *ALL_TIME)).fetchall()[0][0])


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
        lf = warehouse.scan(src)
        warehouse.check_source_columns(mapping, lf.collect_schema())
        if key is None or chunks == 1:
            lf = lf if columns is None else lf.select(columns)
            return lf.collect() if chunk == 0 else lf.head(0).collect()
        if customers:
            assert chunking is not None
            part = customer_chunk_expr(mapping, chunking, customer_priority)
        else:
            column = pl.col(key)
            part = pl.when(column.is_null()).then(pl.lit(0, pl.UInt64)).otherwise(column.hash() % chunks)
        lf = lf.filter(part == chunk)
        return (lf if columns is None else lf.select(columns)).collect()
    with warehouse.connect() as con:
        schema = warehouse.schema(con, mapping)
        warehouse.check_source_columns(mapping, schema)
        selected = ", ".join(quote(c) for c in columns) if columns is not None else "*"
        if src.table:
            rows, params = quote(src.table), {}
        else:
            rows, params = f"(\n{query_text(src)}\n)", SourceAccess.params(src, *ALL_TIME)
        if key is None or chunks == 1:
            where = "true" if chunk == 0 else "false"
        elif customers:
            assert chunking is not None
            where = f"{register_customer_chunks(con, mapping, rows, params, chunking, customer_priority)} = $replenit_chunk"
            params = {**params, "replenit_chunk": chunk}
        else:
            quoted = quote(key)
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
        with self.warehouse.connect() as con:
            self.schema = self.warehouse.schema(con, self.mapping)
            self.warehouse.check_source_columns(self.mapping, self.schema)
            table, quoted, n = quote(src.table), quote(key), int(self.chunks)
            # hash(NULL) is a constant: rows without a key all land in one chunk. The target is a
            # folder this code made, so its text is no user input. DuckDB's own memory counts in
            # this process: capped, it spills to the folder (10M rows: 1.8 GB peak uncapped, 0.44 GB).
            target = str(self.directory).replace("'", "''")
            con.execute(f"SET memory_limit = '{SPILL_MEMORY}'")
            con.execute(f"SET temp_directory = '{target}/duckdb-tmp'")
            if customers:  # by identity, not by a column (see customer_chunks)
                ids = register_identity_hashes(con, self.mapping, table, {}, self.customer_priority)
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
        self.moves = CustomerChunking(self.chunks, customer_components(pairs.cast(IDS))).moves()
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


def frames_record_keys(warehouse: Warehouse, mapping: EntityMapping) -> tuple[pl.DataFrame, int]:
    """(every record key of the mapping's sources as text (`__k`): the parents' keys and the keys
    the children name; the rows a read of them all gives, in rows_read's unit (one row per child
    row with a parent key, one per parent without a child, one per row without a key that has a
    time): the number a reconciliation's `rows_read` reaches). None of the window values matter."""
    con = warehouse.connect() if needs_duckdb(mapping) else None
    try:
        keys_by_side, rows = [], 0
        for i, side in enumerate(source_sides(warehouse, con, mapping)):
            keyed, strays = side_row_counts(side)
            rows += strays + (keyed if i else 0)  # a child row with a parent key is a row of the read
            if side.key is None:
                keys_by_side.append(pl.DataFrame(schema={"__k": pl.String}))
                continue
            if side.lazy is not None:
                keys_by_side.append(side.lazy.select(pl.col(side.key).cast(pl.String).alias("__k")).unique().collect())
                continue
            source, params = side.sql_rows()
            keys_by_side.append(side.connection.sql(f"SELECT DISTINCT CAST({quote(side.key)} AS VARCHAR) AS __k FROM {source}",  # noqa: S608 - identifiers quoted, values bound
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


def side_row_counts(side: "Side") -> tuple[int, int]:
    """(rows with a key, rows without one: a read over all time takes each, whatever its time
    (Side.in_window))."""
    if side.key is None:
        return 0, 0
    if side.lazy is not None:
        keyed, strays = side.lazy.select(pl.col(side.key).is_not_null().sum().alias("keyed"),
                                         pl.col(side.key).is_null().sum().alias("strays")).collect().row(0)
        return int(keyed), int(strays)
    source, params = side.sql_rows()
    assert side.con is not None
    keyed, strays = side.con.sql(f"SELECT count({quote(side.key)}), count(*) - count({quote(side.key)}) FROM {source}",  # noqa: S608 - identifiers quoted, values bound
                                 params=params or None).fetchall()[0]
    return int(keyed), int(strays)


def read_frames_chunk(warehouse: Warehouse, mapping: EntityMapping, keys: pl.DataFrame, chunk: int, chunks: int) -> pl.DataFrame:
    """Chunk `chunk` of `chunks` of a mapping read by frames: the records whose key hashes to it,
    each whole with every version of its children; chunk 0 also has the rows without a key (of
    any time). `keys`: frames_record_keys' first value."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} is not in 0..{chunks - 1}")
    mine = keys.filter(pl.col("__k").hash() % chunks == chunk)
    lo, hi = ALL_TIME_UTC if chunk == 0 else (ALL_TIME_UTC[0], ALL_TIME_UTC[0])
    return read_frames(warehouse, mapping, lo, hi, keys=mine)


def side_rows(side: Side) -> int:
    if side.lazy is not None:
        return int(side.lazy.select(pl.len()).collect().item())
    source, params = side.sql_rows()
    return int(side.connection.sql(f"SELECT count(*) FROM {source}", params=params or None).fetchall()[0][0])  # noqa: S608 - identifiers quoted, values bound


def frames_row_count(warehouse: Warehouse, mapping: EntityMapping) -> int:
    """Every row of the mapping's sources (parent and children), whatever their window values say."""
    con = warehouse.connect() if needs_duckdb(mapping) else None
    try:
        return sum(side_rows(side) for side in source_sides(warehouse, con, mapping))
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
    con = warehouse.connect() if needs_duckdb(mapping) else None
    try:
        side = source_sides(warehouse, con, mapping)[0]
        if side.lazy is not None:
            lf = side.lazy if chunking is None else side.lazy.filter(customer_chunk_expr(mapping, chunking, customer_priority) == chunk)
            frame = lf.with_columns(side.ts.alias(READ_TS)).collect()
        else:
            assert con is not None
            rows, params = side.sql_rows()
            where = "true"
            if chunking is not None:
                where = f"{register_customer_chunks(con, mapping, rows, params, chunking, customer_priority)} = $replenit_chunk"
                params = {**params, "replenit_chunk": chunk}
            frame = con.sql(f"SELECT * FROM {rows} WHERE {where}", params=params or None).pl()  # noqa: S608 - identifiers quoted, values bound
            frame = frame.with_columns(side.ts.alias(READ_TS))
    finally:
        if con is not None:
            con.close()
    return frame
