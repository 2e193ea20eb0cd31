"""The acknowledged-state ledger in Postgres (REPLENIT_STATE_URL): the `Ledger` of lib/ledger/store.py
for run workers on several machines, chosen by `open_ledger`.

Tables: `ledger_scopes` (one row per (scope, entity): its id, the canonical version and layout of
its hashes), `ledger_entries` (the acknowledged identities, keyed by (ledger_id, identity)),
`ledger_acks` (the acknowledgement log) and `ledger_retries` (the retry queue). As in the SQLite
files (lib/ledger/store.py), and for the same reason:
- a batch's acknowledgement is appended to the log (one INSERT of arrays, no index to update:
  about a third of the server time of an upsert of 500 random keys into the keyed table), and
  `compact()` folds the log into `ledger_entries` at the end of a run (newest wins). Lookups read
  both. Acknowledgements take a shared advisory lock of their ledger and `compact()` an exclusive
  one, so the fold never races a batch still committing;
- one database for every entity and scope: a row carries its ledger id (from `ledger_scopes`; no
  foreign key, whose check cost a fifth of an upsert), so a sandbox and a production tenant never
  mix, and an entity's rows are found through the primary key;
- `api_id` (nullable): the id Replenit gave the record, when known (issue 12); an acknowledgement
  without one keeps the id known before.

Durability (issue 28): a batch's acknowledgement commits without waiting for the WAL's flush
(`synchronous_commit = off`; an fsync is most of its time). It is visible to every session at once,
and a client killed (kill -9) loses nothing it committed; a crash of the server or its machine can
lose the acknowledgements of its last ~0.6 s (up to 3 x `wal_writer_delay`), whose batches a re-run
sends again. Two exceptions wait for the flush: an acknowledgement that took entries out of the
retry queue (lost, the queue's older payload would come back and be re-sent over the one just
stored), and the run's end: `compact()`, and `close()` when acknowledgements came after the last
`compact()` (a run that ended on an error, a stop). A synchronous commit flushes the WAL up to
itself, so every acknowledgement before it. If the connection was lost since an acknowledgement
and the server no longer has it (it crashed before flushing), the run's end raises
`AcknowledgementsLost`: the run fails, and its re-run sends those batches again.
"""

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import polars as pl

from replenit_pipelines.lib.ledger.base import (
    LAYOUT,
    LedgerScopeError,
    ReadAt,
    ledger_scope,
    now_ms,
)
from replenit_pipelines.lib.ledger.hashing import CANONICAL_VERSION
from replenit_pipelines.lib.ledger.payloads import PayloadCodec
from replenit_pipelines.lib.ledger.sql import (
    _KEEP_DICT,
    ADDED_COLUMNS,
    POSTGRES,
    SqlLedger,
    acknowledged_rows,
    added_column_type,
    create_tables,
    kept_batch,
)
from replenit_pipelines.lib.postgres import PostgresError, Reconnecting, StateUrl, connect, ensure_schema

T = TypeVar("T")
_LOCK_SPACE = 0x5245504C  # advisory locks (space, ledger_id): acknowledgements shared, compaction exclusive

# A log created before issue 28 had an index on seq that nothing reads and every acknowledgement wrote.
_OLD_LOG_INDEX = ("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'ledger_acks_pkey' AND conrelid = "
                  "'ledger_acks'::regclass) THEN ALTER TABLE ledger_acks DROP CONSTRAINT ledger_acks_pkey; END IF; END $$")
# The registry of ledgers (one row per scope and entity: its id, hash version and layout), then the
# ledger's tables (lib/ledger/sql.py TABLES), their rows carrying their ledger's id.
SCHEMA = ";\n".join([
    "CREATE TABLE IF NOT EXISTS ledger_scopes (ledger_id SERIAL PRIMARY KEY, scope TEXT NOT NULL, entity TEXT NOT NULL, "
    "canonical_version TEXT NOT NULL, layout TEXT NOT NULL, UNIQUE (scope, entity))", *create_tables(POSTGRES),
    _OLD_LOG_INDEX,
    # Nullable columns added after the tables' first release (lib/ledger/sql.py ADDED_COLUMNS): NULL for older rows.
    *(f"ALTER TABLE {getattr(POSTGRES, t)} ADD COLUMN IF NOT EXISTS {c} {added_column_type(POSTGRES, k)}" for t, c, k in ADDED_COLUMNS),
]) + ";"

_ACKNOWLEDGE = """
INSERT INTO ledger_acks (ledger_id, identity, idkey, hash, exact, acked_at, run_id, api_id, read_at)
SELECT %s, u.identity, u.idkey, u.hash, u.exact, %s, %s, u.api_id, u.read_at
FROM unnest(%b::text[], %b::bigint[], %b::bytea[], %b::bytea[], %b::text[], %b::bigint[]) AS u (identity, idkey, hash, exact, api_id, read_at)
"""
_FOLD = """
INSERT INTO ledger_entries (ledger_id, identity, idkey, hash, exact, acked_at, run_id, read_at, api_id)
SELECT DISTINCT ON (identity) ledger_id, identity, idkey, hash, exact, acked_at, run_id, read_at,
    first_value(api_id) OVER (PARTITION BY identity ORDER BY api_id IS NULL, seq DESC) AS api_id  -- the newest known
FROM ledger_acks WHERE ledger_id = %s ORDER BY identity, seq DESC
ON CONFLICT (ledger_id, identity) DO UPDATE SET idkey = excluded.idkey, hash = excluded.hash, exact = excluded.exact,
    acked_at = excluded.acked_at, run_id = excluded.run_id, api_id = COALESCE(excluded.api_id, ledger_entries.api_id),
    read_at = excluded.read_at
"""
# The batch's queued retries that this acknowledgement supersedes, out of the queue. An empty queue (the
# usual case) skips the 500 key probes: the EXISTS is a one-time filter. The commit waits for the flush
# (the session's synchronous_commit) only if an entry went: otherwise it is set off, and the row returned says so.
_DEQUEUE_ACKED = """
WITH gone AS (
    DELETE FROM ledger_retries r USING unnest(%b::text[], %b::bigint[]) AS u (identity, read_at)
    WHERE r.ledger_id = %s AND r.identity = u.identity AND r.first_failure <= %s
    AND (r.read_at IS NULL OR r.read_at <= coalesce(u.read_at, %s))
    AND EXISTS (SELECT 1 FROM ledger_retries WHERE ledger_id = %s) RETURNING 1)
SELECT set_config('synchronous_commit', 'off', true) WHERE NOT EXISTS (SELECT 1 FROM gone)
"""
# An acknowledgement (a batch, committed whole) still there: any of its records in the log, or folded into the
# keyed table and not acknowledged again since. Any one of them will do: another run may since have acknowledged
# some of the same records again (its entry overwrites ours), which loses nothing.
_ACK_KEPT = """
SELECT EXISTS (SELECT 1 FROM ledger_acks WHERE ledger_id = %(ledger)s AND identity = ANY(%(identities)s) AND acked_at = %(at)s
               AND run_id = %(run)s)
    OR EXISTS (SELECT 1 FROM ledger_entries WHERE ledger_id = %(ledger)s AND identity = ANY(%(identities)s) AND acked_at = %(at)s
               AND run_id = %(run)s)
"""
_KEEP_ARRAYS = """
INSERT INTO ledger_payloads (ledger_id, identity, hash, payload, acked_at)
SELECT %s, u.identity, u.hash, u.payload, %s FROM unnest(%b::text[], %b::bytea[], %b::bytea[]) AS u (identity, hash, payload)
ON CONFLICT (ledger_id, identity) DO UPDATE SET hash = excluded.hash, payload = excluded.payload, acked_at = excluded.acked_at
"""


class AcknowledgementsLost(PostgresError):
    """The server no longer has acknowledgements this ledger committed without waiting for the flush:
    it crashed (or failed over) before flushing them. Their records were delivered; a re-run sends them again."""


class PostgresLedger(SqlLedger):
    """The ledger of one (scope, entity) in Postgres. Safe from many processes and machines at
    once; each instance holds one connection, and its writes may come from several threads."""

    def __init__(self, url: StateUrl, scope: str, entity: str, keep_payloads: bool = False):
        self.url = url
        self.keep_payloads = keep_payloads  # each acknowledgement also keeps its payloads (lib/ledger/payloads.py)
        self.codec = PayloadCodec()
        self.dialect = POSTGRES
        self.scope, self.entity = scope, entity
        self._tx_lock = threading.Lock()  # the client's worker threads acknowledge through one connection
        # Acknowledgements committed without waiting for the flush, not yet made durable by a
        # synchronous commit: per connection (Reconnecting.opened), its last one (identities, acked_at, run_id).
        self._unflushed: dict[int, tuple[list[str], int, str]] = {}
        self._connection = Reconnecting(url, "ledger", lambda con: ensure_schema(con, url, "ledger", SCHEMA))
        with self._con.transaction():
            self._con.execute(
                "INSERT INTO ledger_scopes (scope, entity, canonical_version, layout) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (scope, entity) DO NOTHING", [scope, entity, str(CANONICAL_VERSION), LAYOUT])
            ledger_id, version, layout = self._con.execute(
                "SELECT ledger_id, canonical_version, layout FROM ledger_scopes WHERE scope = %s AND entity = %s",
                [scope, entity]).fetchone()
        self.ledger_id = int(ledger_id)
        if layout != LAYOUT or version != str(CANONICAL_VERSION):
            raise LedgerScopeError(
                f"the Postgres ledger of {entity} at {scope} holds layout {layout}, canonical-version {version} hashes; "
                f"this code writes layout {LAYOUT}, version {CANONICAL_VERSION}: delete its rows (ledger_id {ledger_id}) "
                "and run a full_refresh sync, which re-acknowledges every record")
        self._load_dicts()

    @classmethod
    def open(cls, url: StateUrl, base_url: str, tenant_id: str, entity: str, keep_payloads: bool = False) -> "PostgresLedger":
        return cls(url, ledger_scope(base_url, tenant_id), entity, keep_payloads)

    @property
    def _con(self) -> Any:
        return self._connection.get()

    def close(self) -> None:
        """Acknowledgements since the last `compact()` (a run that ended without one: an error, a
        stop) are folded first, so made durable; then the connection closes."""
        try:
            if self._unflushed and not self._connection.closed:
                self.compact()
        finally:
            self._connection.close()

    def __repr__(self) -> str:
        return f"PostgresLedger(scope={self.scope!r}, entity={self.entity!r}, url={self.url.masked!r})"

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._tx_lock:
            return self._connection.run(lambda con: con.execute(sql, params).fetchall())

    def _read_snapshot(self, work: Callable[[Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]], T]) -> T:
        """work(read), its statements in one REPEATABLE READ transaction: one snapshot."""
        def tx(con: Any) -> T:
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                return work(lambda sql, params: con.execute(sql, params).fetchall())

        with self._tx_lock:
            return self._connection.run(tx)

    def _write(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        with self._tx_lock, self._con.transaction(), self._con.cursor() as cur:
            for sql, rows in statements:
                cur.executemany(sql, rows)

    # -- the ledger ---------------------------------------------------------------------------

    def _read_all(self, schema: dict[str, Any]) -> pl.DataFrame:
        columns = list(schema)
        with self._tx_lock, self._con.cursor() as cur:
            if cur.execute("SELECT EXISTS (SELECT 1 FROM ledger_acks WHERE ledger_id = %s)", [self.ledger_id]).fetchone()[0]:
                cur.execute(self.dialect.sql("SELECT {columns} FROM ({current}) c", columns=", ".join(columns)), self._scope(4))
            else:  # compacted: the keyed table alone
                cur.execute(self.dialect.sql("SELECT {columns} FROM {entries} WHERE {scope}true", columns=", ".join(columns)), self._scope())
            rows = cur.fetchall()
        raw = {c: (pl.Binary if t == pl.Int128 else t) for c, t in schema.items()}
        frame = pl.DataFrame(rows, schema=raw, orient="row")
        return frame.with_columns(pl.col(c).bin.reinterpret(dtype=pl.Int128) for c, t in schema.items() if t == pl.Int128)

    def acknowledge(self, identities: Sequence[str], hashes: Sequence[bytes], run_id: str,
                    exact: Sequence[bytes] | None = None, api_ids: Sequence[str | None] | None = None,
                    read_at: ReadAt = None, payloads: Sequence[bytes] | None = None) -> None:
        """The API accepted these records (one batch): one transaction, one upsert. A queued retry
        of the same identity is older than this acknowledgement, so it leaves the queue (unless it
        was read later than this version). `read_at`: as in lib/ledger/store.py. `payloads`: kept in
        the same transaction when this ledger keeps payloads (as SqliteLedger.acknowledge)."""
        at = now_ms()
        # An identity twice in a batch: the last one wins, as in the SQLite log. (Lengths are checked
        # here first, with the same message as SQLite's.)
        latest: dict[str, tuple[Any, ...]] = {i: (k, h, e, a, r)
                                              for i, k, h, e, a, r in acknowledged_rows(identities, hashes, exact, api_ids, read_at)}
        if not latest:
            return
        kept = kept_batch(self.codec, identities, hashes, payloads) if self.keep_payloads else None
        cols = list(zip(*latest.values(), strict=True))
        def write(con: Any) -> bool:
            """The batch written; True if its commit waited for the flush."""
            # Pipelined: the transaction's statements go out together and cost one round trip, not five.
            with con.pipeline(), con.transaction():
                con.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [_LOCK_SPACE, self.ledger_id])
                # The arrays as binary parameters (%b): as text, 500 hashes are escaped byte by byte (most of the time).
                con.execute(_ACKNOWLEDGE, [self.ledger_id, at, run_id, list(latest), *[list(c) for c in cols]])
                con.execute("INSERT INTO ledger_ack_runs (ledger_id, run_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            [self.ledger_id, run_id])
                not_waiting = con.execute(_DEQUEUE_ACKED, [list(latest), list(cols[4]), self.ledger_id, at, at, self.ledger_id])
                if kept is not None:  # one statement of arrays, as the log's
                    if kept.trained is not None:
                        con.execute(POSTGRES.sql(_KEEP_DICT), [self.ledger_id, *kept.trained])
                    con.execute(_KEEP_ARRAYS, [self.ledger_id, at, kept.identities, kept.hashes, kept.frames])
            return not_waiting.fetchone() is None

        with self._tx_lock:  # a dropped connection: the batch is written again on a new one (appending twice is harmless)
            flushed = self._connection.run(write)
            if flushed:  # this connection's earlier acknowledgements too
                self._unflushed.pop(self._connection.opened, None)
            else:
                self._unflushed[self._connection.opened] = (list(latest), at, run_id)

    def restamp(self, identities: Sequence[str], exact: Sequence[bytes]) -> None:
        self.compact()
        with self._tx_lock, self._con.transaction():
            self._con.execute(
                "UPDATE ledger_entries SET exact = u.exact FROM unnest(%s::text[], %s::bytea[]) AS u (identity, exact) "
                "WHERE ledger_entries.ledger_id = %s AND ledger_entries.identity = u.identity",
                [list(identities), list(exact), self.ledger_id])

    def compact(self) -> None:
        """Fold the acknowledgement log into the keyed table (newest wins), in one transaction that
        waits for the batches still committing. Called at the end of a run; lookups are correct either way.

        The run's end is durable: this commit waits for the flush, and so flushes every acknowledgement
        before it. (It writes whenever this ledger's acknowledgements are in the log; if another process
        folded them first, that process's synchronous commit flushed them.) Raises AcknowledgementsLost
        if the connection was lost since an acknowledgement the server no longer has."""
        def fold(con: Any) -> list[tuple[list[str], int, str]]:
            with con.transaction():
                lost = [ack for opened, ack in self._unflushed.items() if opened != self._connection.opened
                        and not con.execute(_ACK_KEPT, {"ledger": self.ledger_id, "identities": ack[0], "at": ack[1],
                                                        "run": ack[2]}).fetchone()[0]]
                con.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_SPACE, self.ledger_id])
                if con.execute("SELECT EXISTS (SELECT 1 FROM ledger_acks WHERE ledger_id = %s)", [self.ledger_id]).fetchone()[0]:
                    con.execute(_FOLD, [self.ledger_id])
                    con.execute("DELETE FROM ledger_acks WHERE ledger_id = %s", [self.ledger_id])
                con.execute("DELETE FROM ledger_ack_runs WHERE ledger_id = %s", [self.ledger_id])
            return lost

        with self._tx_lock:  # a connection the server dropped: folded on a new one
            lost = self._connection.run(fold)
            self._unflushed.clear()
        if lost:
            raise AcknowledgementsLost(
                f"ledger of {self.entity}: the state database ({self.url.masked}) lost acknowledgements of this run "
                f"(run {lost[0][2]}): its connection dropped and the server had not flushed them (a crash or failover). "
                "Those records were delivered; run again and they are sent again")

    def all_identities(self, chunk_size: int = 100_000) -> Iterator[pl.Series]:
        """Every acknowledged identity, in chunks, read in one snapshot (a REPEATABLE READ
        transaction on a connection of its own, through a server-side cursor)."""
        con = connect(self.url, "ledger")
        try:
            con.autocommit = False
            con.isolation_level = 3  # psycopg.IsolationLevel.REPEATABLE_READ
            with con.cursor(name="replenit_all_identities") as cur:
                cur.execute("SELECT identity FROM ledger_entries WHERE ledger_id = %(ledger)s UNION "
                            "SELECT identity FROM ledger_acks WHERE ledger_id = %(ledger)s ORDER BY identity", {"ledger": self.ledger_id})
                while rows := cur.fetchmany(chunk_size):
                    yield pl.Series("identity", [r[0] for r in rows], dtype=pl.String)
            con.rollback()
        finally:
            con.close()
