"""The acknowledged-state ledger: what Replenit holds, per (scope, entity, identity).

For each identity, the content hash (lib/ledger/hashing.py) of the payload the API last accepted
with a 200, its exact-bytes hash, when (epoch milliseconds, UTC) and by which run, and its
identity key (hashing.identity_keys), the 64-bit integer the diff joins on: a whole-ledger lookup
(`lookup_keys`) reads integers and hashes, never the identity strings. The retry queue
of records whose delivery ran out of retries, or was rejected, lives beside it (lib/ledger/retries.py).

Embedded backend: SQLite in WAL mode, one file per (scope, entity) under
`$REPLENIT_STATE_DIR/ledger/<scope>/<entity>.sqlite`. Why:
- one file per entity: two runs of different entities never wait on each other's writes;
  a scope (API base URL + tenant) is a folder, and the file records its scope and entity and
  refuses to open under another, so sandbox and production never mix;
- WAL with `synchronous=FULL`: every acknowledgement is one transaction fsync'd at commit, so a
  kill -9 (or a power cut) keeps every batch committed before it; readers in other processes
  never block the writer;
- acknowledgements are appended to a log table (`acks`) and folded into the keyed table
  (`ledger`) by `compact()` at the end of a run: an upsert of 500 random identities into a 1M-row
  B-tree dirties ~500 pages (p95 13 ms measured), an append dirties ~10 (about 1 ms). Lookups read
  both, the newest acknowledgement winning. The WAL is checkpointed by `compact()` too, not in
  the middle of a batch's commit.
DuckDB (the state store) suits analytics but allows one writing process and pays ~10 ms per small
transaction; it is not used here. The Postgres backend (REPLENIT_STATE_URL, lib/ledger/postgres.py)
implements `Ledger` for run workers on several machines; `open_ledger` chooses.
"""

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa

from replenit_pipelines.lib.ledger.base import (
    KEY_LOOKUP_SCHEMA,
    LAYOUT,
    LOOKUP_SCHEMA,
    RETRY_SCHEMA,
    RETRY_STATUSES,
    Ledger,
    LedgerScopeError,
    ReadAt,
    ledger_scope,
    now_ms,
    scope_folder,
)
from replenit_pipelines.lib.ledger.hashing import CANONICAL_VERSION
from replenit_pipelines.lib.ledger.payloads import PayloadCodec
from replenit_pipelines.lib.ledger.sql import (
    _KEEP,
    _KEEP_DICT,
    ADDED_COLUMNS,
    SQLITE,
    SqlLedger,
    acknowledged_rows,
    added_column_type,
    create_tables,
    kept_batch,
)

__all__ = ["KEY_LOOKUP_SCHEMA", "LAYOUT", "LOOKUP_SCHEMA", "RETRY_SCHEMA", "RETRY_STATUSES", "Ledger", "LedgerScopeError",
           "SqliteLedger", "ledger_scope", "now_ms", "scope_folder"]


# The file's metadata (its scope, entity, hash version and layout), then the ledger's tables (lib/ledger/sql.py TABLES).
SCHEMA = ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)", *create_tables(SQLITE)]


T = TypeVar("T")
_ROW_CHUNK = 16_384  # rows per fetchmany when rows are read one by one (the log, or identity strings): ~3 MB of tuples
_PACK_ROWS = 131_072  # ledger entries per packed statement (~6 MB of packed values)


def _has_rows(con: sqlite3.Connection, table: str) -> bool:
    return con.execute(SQLITE.sql("SELECT EXISTS (SELECT 1 FROM {table})", table=table)).fetchone()[0] == 1


def _as_schema(frame: pl.DataFrame, schema: dict[str, type[pl.DataType]]) -> pl.DataFrame:
    return frame.select(pl.col(c).bin.reinterpret(dtype=pl.Int128) if t == pl.Int128 else pl.col(c).cast(t)
                        for c, t in schema.items())


def _row_chunks(cur: sqlite3.Cursor, schema: dict[str, type[pl.DataType]]) -> Iterator[pl.DataFrame]:
    """A statement's rows (columns as `schema`), turned into Polars chunk by chunk: the Python
    tuples of one chunk at a time, never the whole result's."""
    raw = {c: pl.Binary if t == pl.Int128 else t for c, t in schema.items()}
    while rows := cur.fetchmany(_ROW_CHUNK):
        yield _as_schema(pl.DataFrame(rows, schema=raw, orient="row"), schema)


def _fixed16(blob: bytes, n: int) -> pl.Series:
    """n 16-byte values laid end to end, as a Binary series (Arrow reads the buffer in place)."""
    series = pl.from_arrow(pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(blob)]))
    assert isinstance(series, pl.Series)  # an Arrow array is always a series
    return series.cast(pl.Binary)


def _packed_chunks(con: sqlite3.Connection, schema: dict[str, type[pl.DataType]],
                   without: pl.Series | None = None) -> Iterator[pl.DataFrame]:
    """The compacted table's idkey, hash and exact, _PACK_ROWS entries (a range of the primary
    key) at a time. SQLite packs each column of a range into one value (group_concat: the
    integers as decimal text, the 16-byte hashes end to end; every aggregate is fed each row in
    the same step, so the n-th value of each column is one row's) and Polars unpacks them: one
    Python object per column and range, where a row-by-row read builds four per entry (1M
    entries: ~0.5 s against ~1.2 s; a second SQLite library is not an option, see `_reader`).
    A range holding NULL exact hashes (a retry's acknowledgement) reads their mask too; one
    holding a hash of another length (never written by this code) is read row by row."""
    after: tuple[str, ...] = ()  # the last identity of the range before
    while True:
        bound = con.execute(f"SELECT identity FROM ledger {'WHERE identity > ?' if after else ''} "  # noqa: S608 - fixed text
                            "ORDER BY identity LIMIT 1 OFFSET ?", (*after, _PACK_ROWS - 1)).fetchone()
        where = " AND ".join([*(["identity > ?"] if after else []), *(["identity <= ?"] if bound else [])])
        in_range, params = f"FROM ledger {'WHERE ' + where if where else ''}", (*after, *(bound or ()))
        n, non_null, keys, hashes, exact = con.execute(
            "SELECT count(*), count(exact), group_concat(idkey), CAST(group_concat(hash, '') AS BLOB), "  # noqa: S608 - fixed text
            f"CAST(group_concat(coalesce(exact, zeroblob(16)), '') AS BLOB) {in_range}", params).fetchone()
        if n and (len(hashes) != 16 * n or len(exact) != 16 * n):
            for rows in _row_chunks(con.execute(f"SELECT {', '.join(schema)} {in_range}", params), schema):  # noqa: S608
                yield rows if without is None else rows.filter(~pl.col("idkey").is_in(without))
        elif n:
            frame = pl.DataFrame([pl.Series("idkey", [keys]).str.split(",").explode().cast(pl.Int64),
                                  _fixed16(hashes, n).alias("hash"), _fixed16(exact, n).alias("exact")])
            if non_null < n:
                mask = con.execute(f"SELECT CAST(group_concat(exact IS NULL, '') AS BLOB) {in_range}", params).fetchone()[0]  # noqa: S608
                is_null = pl.Series(np.frombuffer(mask, dtype=np.uint8) == ord("1"))
                frame = frame.with_columns(pl.when(is_null).then(None).otherwise(pl.col("exact")).alias("exact"))
            yield _as_schema(frame if without is None else frame.filter(~pl.col("idkey").is_in(without)), schema)
        if bound is None:
            return
        after = bound


class SqliteLedger(SqlLedger):
    """The embedded ledger of one (scope, entity). Safe to open from many processes at once;
    each instance holds one connection, and its writes may come from several threads (the
    client's workers acknowledge their batches as they finish)."""

    def __init__(self, path: str | Path, scope: str, entity: str, busy_timeout_ms: int = 30_000, keep_payloads: bool = False):
        self.path = Path(path)
        self.keep_payloads = keep_payloads  # each acknowledgement also keeps its payloads (lib/ledger/payloads.py)
        self.codec = PayloadCodec()
        self.dialect = SQLITE
        self.scope, self.entity = scope, entity
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tx_lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_ms / 1000
        self._con = sqlite3.connect(str(self.path), isolation_level=None, timeout=self._busy_timeout_s,
                                    check_same_thread=False)
        self._con.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self._con.execute("PRAGMA journal_mode = WAL")
        self._con.execute("PRAGMA synchronous = FULL")  # fsync the WAL at every commit: an ack survives a power cut
        self._con.execute("PRAGMA wal_autocheckpoint = 20000")  # checkpoints happen in compact(), not mid-batch
        meta = self._meta()
        if not meta:  # a new file: the schema and its scope, once (opening an existing ledger writes nothing)
            with self._tx():
                for statement in SCHEMA:
                    self._con.execute(statement)
                for key, value in (("scope", scope), ("entity", entity), ("canonical_version", str(CANONICAL_VERSION)),
                                   ("layout", LAYOUT)):
                    self._con.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
            meta = self._meta()
        if meta["scope"] != scope or meta["entity"] != entity:
            raise LedgerScopeError(
                f"{self.path} is the ledger of {meta['entity']} at {meta['scope']}, not of {entity} at {scope}: "
                "point REPLENIT_STATE_DIR at this tenant's own state folder"
            )
        if meta.get("layout") != LAYOUT:
            raise LedgerScopeError(
                f"{self.path} has table layout {meta.get('layout', '1')}, this code reads layout {LAYOUT}: "
                "move the file aside and run a full_refresh sync, which re-acknowledges every record"
            )
        self._add_columns()
        self._add_payloads()
        self._load_dicts()
        if meta["canonical_version"] != str(CANONICAL_VERSION):
            raise LedgerScopeError(
                f"{self.path} holds canonical-version {meta['canonical_version']} hashes, this code writes "
                f"{CANONICAL_VERSION}: move the file aside and run a full_refresh sync, which re-acknowledges every record"
            )

    def _add_columns(self) -> None:
        """Ledgers written before a nullable column existed (`api_id`: deletes, issue 12; `read_at`:
        the send-time check) get it, NULL for their entries (the layout is unchanged); and the
        `ack_runs` table (the send-time check), empty."""
        if not self._con.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'ack_runs')").fetchone()[0]:
            with self._tx():
                self._con.execute(next(t for t in SCHEMA if " ack_runs " in t))
        for logical, column, kind in ADDED_COLUMNS:
            table = getattr(self.dialect, logical)
            columns = {row[1] for row in self._con.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                with self._tx():
                    columns = {row[1] for row in self._con.execute(f"PRAGMA table_info({table})")}  # another process may have added it
                    if column not in columns:
                        self._con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {added_column_type(self.dialect, kind)}")

    def _add_payloads(self) -> None:
        """Ledgers written before kept payloads (issue 27) lack their table: add it, once (a table
        of its own, so the layout is unchanged and older code ignores it)."""
        if not self._con.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'payload_dicts')").fetchone()[0]:
            with self._tx():
                for statement in create_tables(SQLITE):
                    if " payloads " in statement or " payload_dicts " in statement:
                        self._con.execute(statement)

    def _meta(self) -> dict[str, str]:
        try:
            return dict(self._con.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:  # no such table: a new file
            return {}

    @classmethod
    def open(cls, state_dir: str | Path, base_url: str, tenant_id: str, entity: str, keep_payloads: bool = False) -> "SqliteLedger":
        scope = ledger_scope(base_url, tenant_id)
        return cls(Path(state_dir) / "ledger" / scope_folder(scope) / f"{entity}.sqlite", scope, entity, keep_payloads=keep_payloads)

    def close(self) -> None:
        self._con.close()

    def __repr__(self) -> str:
        return f"SqliteLedger(scope={self.scope!r}, entity={self.entity!r}, path={str(self.path)!r})"

    class _Tx:
        def __init__(self, con: sqlite3.Connection, lock: threading.Lock):
            self.con, self.lock = con, lock

        def __enter__(self) -> None:
            self.lock.acquire()  # the client's worker threads acknowledge through one connection
            try:
                self.con.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock upgrading a read
            except BaseException:
                self.lock.release()
                raise

        def __exit__(self, exc_type: object, *rest: object) -> None:
            try:
                self.con.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.lock.release()

    def _tx(self) -> "SqliteLedger._Tx":
        return SqliteLedger._Tx(self._con, self._tx_lock)

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # Under the write lock: the workers' acknowledgements share this connection, and a COMMIT
        # while another thread's statement is still stepping fails ("database is locked").
        with self._tx_lock:
            return self._con.execute(sql, params).fetchall()

    def _read_snapshot(self, work: Callable[[Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]], T]) -> T:
        """work(read), its statements in one read transaction: one snapshot of the file."""
        with self._tx_lock:
            self._con.execute("BEGIN")
            try:
                return work(lambda sql, params: self._con.execute(sql, params).fetchall())
            finally:
                self._con.execute("COMMIT")

    def _write(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        with self._tx():
            for sql, rows in statements:
                self._con.executemany(sql, rows)

    # -- the ledger ---------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        """A read-only connection for a whole-ledger read, from the same SQLite library as the
        writer (the stdlib's `sqlite3`), never another one: SQLite tracks the connections to a
        file, and its POSIX locks, per library, and those locks belong to the process. A second
        library's connection (ADBC's bundled SQLite, DuckDB's sqlite scanner) believes it is the
        last one when it closes, checkpoints and unlinks the -wal and -shm files under this
        connection, which then commits every acknowledgement into a deleted file (issue 21)."""
        con = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None,
                              timeout=self._busy_timeout_s)
        con.execute("BEGIN")  # one snapshot for every statement of the read
        return con

    def _read_all(self, schema: dict[str, type[pl.DataType]] = LOOKUP_SCHEMA) -> pl.DataFrame:
        """The newest acknowledgement of every identity, as `schema`'s columns (an Int128 column
        is its 16-byte BLOB reinterpreted), in one snapshot, chunk by chunk."""
        with closing(self._reader()) as con:
            if "identity" in schema:  # `lookup` of a retry queue above 20,000: the strings are the answer
                frames = list(_row_chunks(con.execute(self.dialect.sql("SELECT {columns} FROM ({current})", columns=", ".join(schema))), schema))
            else:
                # The log (one run's acknowledgements at most) row by row, then the compacted table
                # packed by SQLite, without the entries the log supersedes, matched on idkey (a
                # compacted identity sharing its key with a logged one reads as absent: one needless
                # send, never a missed one).
                log = pl.concat([*_row_chunks(con.execute(
                    self.dialect.sql("SELECT {columns} FROM {acks} WHERE seq IN (SELECT max(seq) FROM {acks} GROUP BY identity)",
                                     columns=", ".join(schema))),
                    schema)], rechunk=False) if _has_rows(con, "acks") else pl.DataFrame(schema=schema)
                frames = [log, *_packed_chunks(con, schema, without=log["idkey"].implode() if log.height else None)]
        return pl.concat(frames, rechunk=False) if frames else pl.DataFrame(schema=schema)  # an empty ledger read row by row: none

    def acknowledge(self, identities: Sequence[str], hashes: Sequence[bytes], run_id: str,
                    exact: Sequence[bytes] | None = None, api_ids: Sequence[str | None] | None = None,
                    read_at: ReadAt = None, payloads: Sequence[bytes] | None = None) -> None:
        """The API accepted these records (one batch): one fsync'd transaction. A queued retry of
        the same identity is older than this acknowledgement, so it leaves the queue (unless it was
        read later than this version: it is newer, and waits). `api_ids`: the id a DELETE takes (a
        customer's CustomerId; None keeps the one recorded before). `read_at`: when the warehouse
        read of these versions began (the send-time check orders versions by it). `payloads` (the
        records as sent, aligned): kept, compressed, in the same transaction when this ledger keeps
        payloads (REPLENIT_LEDGER_KEEP_PAYLOADS), else ignored."""
        at = now_ms()
        rows = [(i, k, h, e, at, run_id, a, r) for i, k, h, e, a, r in acknowledged_rows(identities, hashes, exact, api_ids, read_at)]
        kept = kept_batch(self.codec, identities, hashes, payloads) if self.keep_payloads else None
        with self._tx():
            self._con.executemany("INSERT INTO acks (identity, idkey, hash, exact, acked_at, run_id, api_id, read_at) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if rows:
                self._con.execute("INSERT INTO ack_runs (run_id) VALUES (?) ON CONFLICT DO NOTHING", (run_id,))
            if kept is not None:
                if kept.trained is not None:
                    self._con.execute(SQLITE.sql(_KEEP_DICT), kept.trained)
                self._con.executemany(SQLITE.sql(_KEEP), [(i, h, f, at) for i, h, f in zip(kept.identities, kept.hashes, kept.frames, strict=True)])
            if self._has_retries():
                self._con.executemany("DELETE FROM retries WHERE identity = ? AND first_failure <= ? AND "
                                      "(read_at IS NULL OR read_at <= ?)", [(r[0], at, r[7] if r[7] is not None else at) for r in rows])

    def _has_retries(self) -> bool:
        return self._con.execute("SELECT EXISTS (SELECT 1 FROM retries)").fetchone()[0] == 1

    def restamp(self, identities: Sequence[str], exact: Sequence[bytes]) -> None:
        """New exact hashes for records whose content is unchanged but whose serialized bytes are
        not (a serializer upgrade): the next diff takes the fast path again. Not an acknowledgement."""
        self.compact()
        with self._tx():
            self._con.executemany("UPDATE ledger SET exact = ? WHERE identity = ?", list(zip(exact, identities, strict=True)))

    def compact(self) -> None:
        """Fold the acknowledgement log into the keyed table (newest wins) and checkpoint the WAL.
        Called at the end of a run; lookups are correct either way."""
        with self._tx():
            if self._con.execute("SELECT EXISTS (SELECT 1 FROM acks)").fetchone()[0]:
                self._con.execute(
                    "INSERT INTO ledger (identity, idkey, hash, exact, acked_at, run_id, api_id, read_at) "
                    "SELECT identity, idkey, hash, exact, acked_at, run_id, api_id, read_at FROM acks WHERE true ORDER BY seq "
                    "ON CONFLICT (identity) DO UPDATE SET idkey = excluded.idkey, hash = excluded.hash, exact = excluded.exact, "
                    "acked_at = excluded.acked_at, run_id = excluded.run_id, api_id = coalesce(excluded.api_id, ledger.api_id), "
                    "read_at = excluded.read_at"
                )
                self._con.execute("DELETE FROM acks")
            self._con.execute("DELETE FROM ack_runs")
        self._con.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def all_identities(self, chunk_size: int = 100_000) -> Iterator[pl.Series]:
        """Every acknowledged identity, in chunks (for reconciliation: what is gone from the source).
        Read in one snapshot: concurrent acknowledgements are either all seen or not at all."""
        con = self._reader()
        try:
            cur = con.execute(
                "SELECT identity FROM ledger UNION SELECT identity FROM acks ORDER BY identity")
            while rows := cur.fetchmany(chunk_size):
                yield pl.Series("identity", [r[0] for r in rows], dtype=pl.String)
        finally:
            con.close()
