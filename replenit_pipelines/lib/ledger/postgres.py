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
"""

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import polars as pl

from replenit_pipelines.lib.ledger.hashing import CANONICAL_VERSION, hashes_as_int128, identity_keys
from replenit_pipelines.lib.ledger.base import (
    KEY_LOOKUP_SCHEMA,
    LAYOUT,
    LOOKUP_SCHEMA,
    RETRY_SCHEMA,
    RETRY_STATUSES,
    LedgerScopeError,
    ledger_scope,
    now_ms,
)
from replenit_pipelines.lib.postgres import Reconnecting, StateUrl, connect, ensure_schema

_LOCK_SPACE = 0x5245504C  # advisory locks (space, ledger_id): acknowledgements shared, compaction exclusive
_SCAN_ABOVE = 20_000  # more identities than this: read the whole ledger at once and let the caller join
_ANY_CHUNK = 10_000  # identities per `= ANY(%s)` array

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_scopes (
    ledger_id SERIAL PRIMARY KEY, scope TEXT NOT NULL, entity TEXT NOT NULL,
    canonical_version TEXT NOT NULL, layout TEXT NOT NULL, UNIQUE (scope, entity));
CREATE TABLE IF NOT EXISTS ledger_entries (
    ledger_id INTEGER NOT NULL, identity TEXT NOT NULL, idkey BIGINT NOT NULL,
    hash BYTEA NOT NULL, exact BYTEA, acked_at BIGINT NOT NULL, run_id TEXT, api_id TEXT,
    PRIMARY KEY (ledger_id, identity));
CREATE TABLE IF NOT EXISTS ledger_acks (
    seq BIGSERIAL PRIMARY KEY, ledger_id INTEGER NOT NULL, identity TEXT NOT NULL, idkey BIGINT NOT NULL,
    hash BYTEA NOT NULL, exact BYTEA, acked_at BIGINT NOT NULL, run_id TEXT, api_id TEXT);
CREATE TABLE IF NOT EXISTS ledger_retries (
    ledger_id INTEGER NOT NULL, identity TEXT NOT NULL,
    payload BYTEA NOT NULL, hash BYTEA NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    first_failure BIGINT NOT NULL, last_failure BIGINT NOT NULL, last_reason TEXT, run_id TEXT,
    PRIMARY KEY (ledger_id, identity));
"""

_ACKNOWLEDGE = """
INSERT INTO ledger_acks (ledger_id, identity, idkey, hash, exact, acked_at, run_id, api_id)
SELECT %s, u.identity, u.idkey, u.hash, u.exact, %s, %s, u.api_id
FROM unnest(%b::text[], %b::bigint[], %b::bytea[], %b::bytea[], %b::text[]) AS u (identity, idkey, hash, exact, api_id)
"""
# The newest acknowledgement of each identity of one ledger, across the keyed table and the log.
_CURRENT = """
SELECT identity, idkey, hash, exact, acked_at, run_id, api_id FROM ledger_entries e
WHERE e.ledger_id = %(ledger)s AND NOT EXISTS (SELECT 1 FROM ledger_acks a WHERE a.ledger_id = %(ledger)s AND a.identity = e.identity)
UNION ALL
(SELECT DISTINCT ON (identity) identity, idkey, hash, exact, acked_at, run_id, api_id FROM ledger_acks
 WHERE ledger_id = %(ledger)s ORDER BY identity, seq DESC)
"""
_FOLD = """
INSERT INTO ledger_entries (ledger_id, identity, idkey, hash, exact, acked_at, run_id, api_id)
SELECT DISTINCT ON (identity) ledger_id, identity, idkey, hash, exact, acked_at, run_id,
    first_value(api_id) OVER (PARTITION BY identity ORDER BY api_id IS NULL, seq DESC) AS api_id  -- the newest known
FROM ledger_acks WHERE ledger_id = %s ORDER BY identity, seq DESC
ON CONFLICT (ledger_id, identity) DO UPDATE SET idkey = excluded.idkey, hash = excluded.hash, exact = excluded.exact,
    acked_at = excluded.acked_at, run_id = excluded.run_id, api_id = COALESCE(excluded.api_id, ledger_entries.api_id)
"""
_QUEUE = """
INSERT INTO ledger_retries (ledger_id, identity, payload, hash, status, attempts, first_failure, last_failure, last_reason, run_id)
VALUES (%s, %s, %s, %s, %s, 1, %s, %s, %s, %s) ON CONFLICT (ledger_id, identity) DO UPDATE SET
    attempts = CASE WHEN ledger_retries.hash = excluded.hash THEN ledger_retries.attempts + 1 ELSE 1 END,
    first_failure = CASE WHEN ledger_retries.hash = excluded.hash THEN ledger_retries.first_failure ELSE excluded.first_failure END,
    payload = excluded.payload, hash = excluded.hash, status = excluded.status,
    last_failure = excluded.last_failure, last_reason = excluded.last_reason, run_id = excluded.run_id
"""


class PostgresLedger:
    """The ledger of one (scope, entity) in Postgres. Safe from many processes and machines at
    once; each instance holds one connection, and its writes may come from several threads."""

    def __init__(self, url: StateUrl, scope: str, entity: str):
        self.url = url
        self.scope, self.entity = scope, entity
        self._tx_lock = threading.Lock()  # the client's worker threads acknowledge through one connection
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

    @classmethod
    def open(cls, url: StateUrl, base_url: str, tenant_id: str, entity: str) -> "PostgresLedger":
        return cls(url, ledger_scope(base_url, tenant_id), entity)

    @property
    def _con(self) -> Any:
        return self._connection.get()

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "PostgresLedger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresLedger(scope={self.scope!r}, entity={self.entity!r}, url={self.url.masked!r})"

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._tx_lock:
            return self._connection.run(lambda con: con.execute(sql, params).fetchall())

    # -- the ledger ---------------------------------------------------------------------------

    def lookup(self, identities: pl.Series | Sequence[str]) -> pl.DataFrame:
        """As SqliteLedger.lookup: the asked identities Replenit acknowledged; more than 20,000
        asked: the whole ledger (a superset the caller joins on identity)."""
        asked = pl.Series("identity", identities, dtype=pl.String)
        if asked.len() > _SCAN_ABOVE:
            return self._read_all(LOOKUP_SCHEMA)
        asked = asked.drop_nulls().unique()
        rows: list[tuple[Any, ...]] = []
        for start in range(0, asked.len(), _ANY_CHUNK):
            rows += self._rows(
                f"SELECT identity, hash, exact, acked_at FROM ({_CURRENT}) c WHERE identity = ANY(%(asked)s)",  # noqa: S608 - fixed SQL
                {"ledger": self.ledger_id, "asked": asked.slice(start, _ANY_CHUNK).to_list()})
        return pl.DataFrame(rows, schema=LOOKUP_SCHEMA, orient="row")

    def lookup_keys(self, identities: pl.Series | Sequence[str]) -> pl.DataFrame:
        asked = pl.Series("identity", identities, dtype=pl.String)
        if asked.len() > _SCAN_ABOVE:
            return self._read_all(KEY_LOOKUP_SCHEMA)
        found = self.lookup(asked)
        return found.select(identity_keys(found["identity"]), "hash", hashes_as_int128(found["exact"]))

    def all_key_hashes(self) -> pl.DataFrame:
        """As SqliteLedger.all_key_hashes: the whole ledger as idkey, hash, exact (both hashes Int128)."""
        return self._read_all({"idkey": pl.Int64, "hash": pl.Int128, "exact": pl.Int128})

    def api_ids(self, identities: Sequence[str]) -> dict[str, str | None]:
        """As SqliteLedger.api_ids: identity -> the id its DELETE takes, the newest known (None: not
        recorded); identities not in the ledger are absent. Reads only (a dry run asks too)."""
        out: dict[str, str | None] = {}
        asked = list(dict.fromkeys(identities))
        for start in range(0, len(asked), _ANY_CHUNK):
            chunk = asked[start:start + _ANY_CHUNK]
            out.update(self._rows("SELECT identity, api_id FROM ledger_entries WHERE ledger_id = %s AND identity = ANY(%s)",
                                  [self.ledger_id, chunk]))
            for identity, api_id in self._rows(  # the log, oldest first: the newest non-null id wins
                    "SELECT identity, api_id FROM ledger_acks WHERE ledger_id = %s AND identity = ANY(%s) ORDER BY seq",
                    [self.ledger_id, chunk]):
                if api_id is not None or identity not in out:
                    out[identity] = api_id
        return out

    def _read_all(self, schema: dict[str, Any]) -> pl.DataFrame:
        columns = list(schema)
        with self._tx_lock, self._con.cursor() as cur:
            if cur.execute("SELECT EXISTS (SELECT 1 FROM ledger_acks WHERE ledger_id = %s)", [self.ledger_id]).fetchone()[0]:
                cur.execute(f"SELECT {', '.join(columns)} FROM ({_CURRENT}) c", {"ledger": self.ledger_id})  # noqa: S608 - fixed names
            else:  # compacted: the keyed table alone
                cur.execute(f"SELECT {', '.join(columns)} FROM ledger_entries WHERE ledger_id = %s", [self.ledger_id])  # noqa: S608
            rows = cur.fetchall()
        raw = {c: (pl.Binary if t == pl.Int128 else t) for c, t in schema.items()}
        frame = pl.DataFrame(rows, schema=raw, orient="row")
        return frame.with_columns(pl.col(c).bin.reinterpret(dtype=pl.Int128) for c, t in schema.items() if t == pl.Int128)

    def acknowledge(self, identities: Sequence[str], hashes: Sequence[bytes], run_id: str,
                    exact: Sequence[bytes] | None = None, api_ids: Sequence[str | None] | None = None) -> None:
        """The API accepted these records (one batch): one transaction, one upsert. A queued retry
        of the same identity is older than this acknowledgement, so it leaves the queue."""
        ids = list(identities)
        if len(ids) != len(hashes) or (exact is not None and len(exact) != len(ids)) or (api_ids is not None and len(api_ids) != len(ids)):
            raise ValueError("acknowledge: identities, hashes, exact hashes and api ids must have the same length")
        at = now_ms()
        ex = list(exact) if exact is not None else [None] * len(ids)
        api = list(api_ids) if api_ids is not None else [None] * len(ids)
        keys = identity_keys(ids).to_list()
        latest: dict[str, tuple[Any, ...]] = {}  # an identity twice in a batch: the last one wins, as in the SQLite log
        for i, k, h, e, a in zip(ids, keys, hashes, ex, api, strict=True):
            if i is not None:
                latest[i] = (k, h, e, a)
        if not latest:
            return
        cols = list(zip(*latest.values(), strict=True))
        def write(con: Any) -> None:
            # Pipelined: the transaction's statements go out together and cost one round trip, not five.
            with con.pipeline(), con.transaction():
                con.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [_LOCK_SPACE, self.ledger_id])
                # The arrays as binary parameters (%b): as text, 500 hashes are escaped byte by byte (most of the time).
                con.execute(_ACKNOWLEDGE, [self.ledger_id, at, run_id, list(latest), *[list(c) for c in cols]])
                con.execute("DELETE FROM ledger_retries WHERE ledger_id = %s AND identity = ANY(%b) AND first_failure <= %s",
                            [self.ledger_id, list(latest), at])

        with self._tx_lock:  # a dropped connection: the batch is written again on a new one (appending twice is harmless)
            self._connection.run(write)

    def restamp(self, identities: Sequence[str], exact: Sequence[bytes]) -> None:
        self.compact()
        with self._tx_lock, self._con.transaction():
            self._con.execute(
                "UPDATE ledger_entries SET exact = u.exact FROM unnest(%s::text[], %s::bytea[]) AS u (identity, exact) "
                "WHERE ledger_entries.ledger_id = %s AND ledger_entries.identity = u.identity",
                [list(identities), list(exact), self.ledger_id])

    def forget(self, identities: Sequence[str]) -> None:
        with self._tx_lock, self._con.transaction():
            for table in ("ledger_entries", "ledger_acks", "ledger_retries"):  # a queued payload would re-create it
                self._con.execute(f"DELETE FROM {table} WHERE ledger_id = %s AND identity = ANY(%s)",  # noqa: S608 - fixed names
                                  [self.ledger_id, list(identities)])

    def compact(self) -> None:
        """Fold the acknowledgement log into the keyed table (newest wins), in one transaction that
        waits for the batches still committing. Called at the end of a run; lookups are correct either way."""
        with self._tx_lock, self._con.transaction():
            self._con.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_SPACE, self.ledger_id])
            if self._con.execute("SELECT EXISTS (SELECT 1 FROM ledger_acks WHERE ledger_id = %s)", [self.ledger_id]).fetchone()[0]:
                self._con.execute(_FOLD, [self.ledger_id])
                self._con.execute("DELETE FROM ledger_acks WHERE ledger_id = %s", [self.ledger_id])

    def pending_compaction(self) -> int:
        """Acknowledgements logged since the last compact() (a run that ended early leaves some)."""
        return self._rows("SELECT count(*) FROM ledger_acks WHERE ledger_id = %s", [self.ledger_id])[0][0]

    def size(self) -> int:
        return self._rows(
            "SELECT (SELECT count(*) FROM ledger_entries WHERE ledger_id = %(ledger)s) + (SELECT count(DISTINCT identity) "
            "FROM ledger_acks a WHERE a.ledger_id = %(ledger)s AND NOT EXISTS (SELECT 1 FROM ledger_entries e "
            "WHERE e.ledger_id = %(ledger)s AND e.identity = a.identity))", {"ledger": self.ledger_id})[0][0]

    def newest_ack(self) -> int | None:
        return self._rows("SELECT max(t) FROM (SELECT max(acked_at) AS t FROM ledger_entries WHERE ledger_id = %(ledger)s "
                          "UNION ALL SELECT max(acked_at) FROM ledger_acks WHERE ledger_id = %(ledger)s) m",
                          {"ledger": self.ledger_id})[0][0]

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

    # -- the retry queue -----------------------------------------------------------------------

    def queue_failures(self, entries: pl.DataFrame) -> None:
        at = now_ms()
        rows = [(self.ledger_id, r["identity"], r["payload"], r["hash"], r["status"], at, at, r["last_reason"], r["run_id"])
                for r in entries.select("identity", "payload", "hash", "status", "last_reason", "run_id").iter_rows(named=True)]
        if not rows:
            return
        with self._tx_lock, self._con.transaction(), self._con.cursor() as cur:
            cur.executemany(_QUEUE, rows)

    def queued(self, statuses: Iterable[str] = RETRY_STATUSES) -> pl.DataFrame:
        rows = self._rows(
            f"SELECT {', '.join(RETRY_SCHEMA)} FROM ledger_retries WHERE ledger_id = %s AND status = ANY(%s) "  # noqa: S608 - fixed names
            "ORDER BY first_failure, identity", [self.ledger_id, list(statuses)])
        return pl.DataFrame(rows, schema=RETRY_SCHEMA, orient="row")

    def set_retry_status(self, identities: Sequence[str], status: str) -> None:
        if status not in RETRY_STATUSES:
            raise ValueError(f"retry status {status!r} is not one of {', '.join(RETRY_STATUSES)}")
        with self._tx_lock, self._con.transaction():
            self._con.execute("UPDATE ledger_retries SET status = %s WHERE ledger_id = %s AND identity = ANY(%s)",
                              [status, self.ledger_id, list(identities)])

    def dequeue(self, identities: Sequence[str]) -> None:
        with self._tx_lock, self._con.transaction():
            self._con.execute("DELETE FROM ledger_retries WHERE ledger_id = %s AND identity = ANY(%s)",
                              [self.ledger_id, list(identities)])
