"""The ledger's SQL, written once for SQLite and Postgres (as dlt's sql_client: one client, the
dialect's hooks for what really differs).

What differs, and so is a hook of `Dialect`:
- the tables' names, and the scope: a SQLite file is one ledger, where one Postgres database holds
  every ledger and its rows carry their `ledger_id` (`{scope}` in the SQL below);
- the placeholders (`?` or `%s`) and a list of identities as a parameter (`IN (?, ?, ...)` in
  chunks under SQLite's parameter limit, or one array: `IN (SELECT unnest(?::text[]))`);
- how a statement reaches the connection and how a transaction is held (the backend's `_read`
  and `_write` hooks).
What stays each backend's own: appending a batch's acknowledgements (rows, or arrays in one
statement, under Postgres' advisory lock), folding the log into the keyed table (SQLite applies
the log in order; Postgres cannot upsert one key twice in a statement), the whole-ledger read and
the snapshot of `all_identities`, and `restamp` (one UPDATE from arrays in Postgres).
"""

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import polars as pl

from replenit_pipelines.lib.ledger.base import LOOKUP_SCHEMA, RETRY_SCHEMA, RETRY_STATUSES, CurrentRead, ReadAt, now_ms
from replenit_pipelines.lib.ledger.hashing import hashes_as_int128, identity_keys
from replenit_pipelines.lib.ledger.payloads import PayloadCodec
from replenit_pipelines.lib.postgres import qmarks_to_pyformat

ENTRY_SCHEMA = {"identity": pl.String, "hash": pl.Binary, "acked_at": pl.Int64, "run_id": pl.String}
T = TypeVar("T")
SCAN_ABOVE = 20_000  # more identities than this: read the whole ledger and let the caller join


@dataclass(frozen=True)
class Dialect:
    """What the ledger's SQL says differently on one backend."""

    entries: str  # the keyed table of acknowledged identities
    acks: str  # the acknowledgement log
    retries: str  # the retry queue
    payloads: str  # the last acknowledged payloads, when kept (lib/ledger/payloads.py)
    payload_dicts: str  # their compression dictionaries
    scoped: bool  # rows carry their ledger's id (one database, many ledgers)
    ids_chunk: int  # identities per statement
    pyformat: bool  # `%s` placeholders (psycopg), else `?`
    ack_runs: str = "ack_runs"  # the runs with acknowledgements in the log (the send-time check's shortcut)

    def ids(self, n: int) -> str:
        """The SQL of a list of n identities given by `ids_params`."""
        return "SELECT unnest(?::text[])" if self.pyformat else ", ".join("?" * n)

    def ids_params(self, chunk: list[str]) -> list[Any]:
        return [chunk] if self.pyformat else list(chunk)

    def sql(self, text: str, **parts: str) -> str:
        """`text` with its tables, scope and placeholders for this backend: `{entries}`, `{acks}`,
        `{retries}`, `{scope}` (a condition, with the ledger id as its one parameter: `ledger_id = ?
        AND`, or nothing), `{scope_col}` and `{scope_mark}` (an inserted row's ledger id), and the
        caller's `parts` (a list of identities' placeholders, fixed column names: never values)."""
        filled = text.replace("{current}", CURRENT).format(
            entries=self.entries, acks=self.acks, retries=self.retries, ack_runs=self.ack_runs,
            scope="ledger_id = ? AND " if self.scoped else "",
            payloads=self.payloads, payload_dicts=self.payload_dicts, scope_col="ledger_id, " if self.scoped else "", scope_mark="?, " if self.scoped else "", **parts)
        return qmarks_to_pyformat(filled) if self.pyformat else filled


# One definition of each table (logical name: columns as (name, type)); `create_tables` writes it in
# a dialect's types. The entries and the retry queue are keyed by identity (and ledger id), the
# log by its sequence.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "entries": (("identity", "text key"), ("idkey", "int"), ("hash", "blob"), ("exact", "blob?"), ("acked_at", "int"),
                ("run_id", "text?"), ("api_id", "text?"), ("read_at", "int?")),
    "acks": (("seq", "seq"), ("identity", "text"), ("idkey", "int"), ("hash", "blob"), ("exact", "blob?"), ("acked_at", "int"),
             ("run_id", "text?"), ("api_id", "text?"), ("read_at", "int?")),
    "retries": (("identity", "text key"), ("payload", "blob"), ("hash", "blob"), ("status", "text"), ("attempts", "int4"),
                ("first_failure", "int"), ("last_failure", "int"), ("last_reason", "text?"), ("run_id", "text?"),
                ("read_at", "int?")),
    # The runs whose acknowledgements are in the log (cleared when it is folded): the send-time check
    # reads the log (no index on identity: a scan) only when another run than its own has some there.
    "ack_runs": (("run_id", "text key"),),
    # Kept payloads (REPLENIT_LEDGER_KEEP_PAYLOADS, lib/ledger/payloads.py): zstd, with the content hash they
    # were acknowledged under; one that is not the entry's current hash is stale and reads as not kept.
    "payloads": (("identity", "text key"), ("hash", "blob"), ("payload", "blob"), ("acked_at", "int")),
    "payload_dicts": (("dict_id", "int key"), ("dict", "blob")),  # the zstd dictionaries the payloads name
}
# Nullable columns added after a table's first release (table, column, kind): a ledger made before
# gets them, NULL for its rows. `read_at` (the send-time check): when the warehouse read of the
# acknowledged (or queued) version began; NULL reads as its acked_at (first_failure in the queue).
ADDED_COLUMNS = (("entries", "api_id", "text"), ("acks", "api_id", "text"),
                 ("entries", "read_at", "int"), ("acks", "read_at", "int"), ("retries", "read_at", "int"))
_TYPES = {
    "sqlite": {"text": "TEXT", "int": "INTEGER", "int4": "INTEGER", "blob": "BLOB", "seq": "INTEGER PRIMARY KEY"},
    # The log's seq orders it and needs no index (the log is read whole and folded by each run): without
    # one, a batch's acknowledgement writes a third less WAL, which its commit waits to flush.
    "postgres": {"text": "TEXT", "int": "BIGINT", "int4": "INTEGER", "blob": "BYTEA", "seq": "BIGSERIAL NOT NULL"},
}


def added_column_type(dialect: "Dialect", kind: str) -> str:
    return _TYPES["postgres" if dialect.scoped else "sqlite"][kind]


def create_tables(dialect: "Dialect") -> list[str]:
    """The CREATE TABLE statements of the entries, the log and the retry queue in `dialect`."""
    types = _TYPES["postgres" if dialect.scoped else "sqlite"]
    statements = []
    for table, columns in TABLES.items():
        cols = [f"{name} {types[kind.split()[0].rstrip('?')]}{'' if kind.endswith('?') or kind == 'seq' else ' NOT NULL'}"
                for name, kind in columns]
        key = [name for name, kind in columns if kind.endswith(" key")]
        if dialect.scoped:
            cols.insert(0, "ledger_id INTEGER NOT NULL")
            key = ["ledger_id", *key] if key else []
        cols += [f"PRIMARY KEY ({', '.join(key)})"] if key else []
        rowid = " WITHOUT ROWID" if key and not dialect.scoped else ""  # SQLite: the table is its key's B-tree
        statements.append(f"CREATE TABLE IF NOT EXISTS {getattr(dialect, table)} ({', '.join(cols)}){rowid}")
    return statements


SQLITE = Dialect(entries="ledger", acks="acks", retries="retries", payloads="payloads", payload_dicts="payload_dicts",
                 scoped=False, ids_chunk=900, pyformat=False)
POSTGRES = Dialect(entries="ledger_entries", acks="ledger_acks", retries="ledger_retries", payloads="ledger_payloads",
                   payload_dicts="ledger_payload_dicts", scoped=True, ids_chunk=10_000, pyformat=True, ack_runs="ledger_ack_runs")

# The newest acknowledgement of each identity, across the compacted table and the log ({scope} twice).
CURRENT = """
SELECT identity, idkey, hash, exact, acked_at, run_id, api_id, coalesce(read_at, acked_at) AS read_at FROM {entries}
WHERE {scope}identity NOT IN (SELECT identity FROM {acks} WHERE {scope}true)
UNION ALL
SELECT identity, idkey, hash, exact, acked_at, run_id, api_id, coalesce(read_at, acked_at) FROM {acks}
WHERE {scope}seq IN (SELECT max(seq) FROM {acks} WHERE {scope}true GROUP BY identity)
"""
_QUEUE = """
INSERT INTO {retries} ({scope_col}identity, payload, hash, status, attempts, first_failure, last_failure, last_reason, run_id,
    read_at)
VALUES ({scope_mark}?, ?, ?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT ({scope_col}identity) DO UPDATE SET
    attempts = CASE WHEN {retries}.hash = excluded.hash THEN {retries}.attempts + 1 ELSE 1 END,
    first_failure = CASE WHEN {retries}.hash = excluded.hash THEN {retries}.first_failure ELSE excluded.first_failure END,
    payload = excluded.payload, hash = excluded.hash, status = excluded.status,
    last_failure = excluded.last_failure, last_reason = excluded.last_reason, run_id = excluded.run_id, read_at = excluded.read_at
"""


_KEEP_DICT = "INSERT INTO {payload_dicts} ({scope_col}dict_id, dict) VALUES ({scope_mark}?, ?) ON CONFLICT DO NOTHING"
_KEEP = """
INSERT INTO {payloads} ({scope_col}identity, hash, payload, acked_at) VALUES ({scope_mark}?, ?, ?, ?)
ON CONFLICT ({scope_col}identity) DO UPDATE SET hash = excluded.hash, payload = excluded.payload, acked_at = excluded.acked_at
"""


@dataclass(frozen=True)
class KeptBatch:
    """One acknowledged batch's payloads, compressed before its transaction: identities, hashes and
    frames aligned (the last of an identity given twice wins, as in the log), and the dictionary
    trained on this batch, to be stored first (None: none new)."""

    identities: list[str]
    hashes: list[bytes]
    frames: list[bytes]
    trained: tuple[int, bytes] | None


def kept_batch(codec: PayloadCodec, identities: Sequence[str | None], hashes: Sequence[bytes | None],
               payloads: Sequence[bytes] | None) -> KeptBatch | None:
    if payloads is None:
        return None
    if len(payloads) != len(identities):
        raise ValueError("acknowledge: identities and payloads must have the same length")
    latest = {i: (h, p) for i, h, p in zip(identities, hashes, payloads, strict=True) if i is not None and h is not None}
    if not latest:
        return None
    frames, trained = codec.compress([p for _, p in latest.values()])
    return KeptBatch(list(latest), [h for h, _ in latest.values()], frames, trained)


def acknowledged_rows(identities: Sequence[str | None], hashes: Sequence[bytes | None], exact: Sequence[bytes | None] | None,
                      api_ids: Sequence[str | None] | None, read_at: ReadAt = None,
                      ) -> list[tuple[str, int, bytes | None, bytes | None, str | None, int | None]]:
    """One batch's acknowledgements as (identity, idkey, hash, exact, api_id, read_at) rows, in
    order; a record without identity is never acknowledged. Computed before any transaction: the
    write lock is held only to write."""
    ids = list(identities)
    reads = [read_at] * len(ids) if read_at is None or isinstance(read_at, int) else list(read_at)
    if len(ids) != len(hashes) or (exact is not None and len(exact) != len(ids)) or (api_ids is not None and len(api_ids) != len(ids)) \
            or len(reads) != len(ids):
        raise ValueError("acknowledge: identities, hashes, exact hashes, api ids and read times must have the same length")
    ex = list(exact) if exact is not None else [None] * len(ids)
    api = list(api_ids) if api_ids is not None else [None] * len(ids)
    keys = identity_keys(ids).to_list()
    return [(i, k, h, e, a, r) for i, k, h, e, a, r in zip(ids, keys, hashes, ex, api, reads, strict=True) if i is not None]


class SqlLedger:
    """The `Ledger` operations whose SQL is one for every backend. A backend sets `dialect`,
    `ledger_id` (when scoped), `entity` and `scope`, and gives `_read` (rows of one statement) and
    `_write` (statements with their rows, in one transaction)."""

    dialect: Dialect
    ledger_id: int = 0
    entity: str
    scope: str
    codec: PayloadCodec  # the kept payloads' compression (lib/ledger/payloads.py)

    def _load_dicts(self) -> None:
        self.codec.load([(int(i), bytes(d)) for i, d in self._read(
            self.dialect.sql("SELECT dict_id, dict FROM {payload_dicts} WHERE {scope}true"), self._scope())])

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        raise NotImplementedError

    def _read_snapshot(self, work: Callable[[Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]], T]) -> T:
        raise NotImplementedError

    def _read_all(self, schema: dict[str, Any]) -> pl.DataFrame:
        raise NotImplementedError

    def compact(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "Self":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scope(self, times: int = 1) -> list[Any]:
        """The parameters of `{scope}` appearing `times` times (none when unscoped)."""
        return [self.ledger_id] * times if self.dialect.scoped else []

    def _id_chunks(self, identities: Iterable[str]) -> Iterator[tuple[str, list[Any]]]:
        """(SQL of the list, its parameters) for each chunk of identities."""
        asked = list(identities)
        for start in range(0, len(asked), self.dialect.ids_chunk):
            chunk = asked[start:start + self.dialect.ids_chunk]
            yield self.dialect.ids(len(chunk)), self.dialect.ids_params(chunk)

    # -- the ledger ---------------------------------------------------------------------------

    def lookup(self, identities: pl.Series | Sequence[str]) -> pl.DataFrame:
        """identity, hash, exact, acked_at of the asked identities the API has acknowledged (the
        others are absent). Many identities (more than 20,000): the whole ledger, a superset the
        caller joins on identity (as `diff` and `plan_retries` do)."""
        asked = pl.Series("identity", identities, dtype=pl.String)
        if asked.len() > SCAN_ABOVE:
            return self._read_all(LOOKUP_SCHEMA)  # a superset: filtering a million identities costs 0.2 s the caller's join repeats
        rows: list[tuple[Any, ...]] = []
        for ids, params in self._id_chunks(asked.drop_nulls().unique().to_list()):
            rows += self._read(self.dialect.sql(
                "SELECT identity, hash, exact, acked_at, read_at FROM ({current}) c WHERE identity IN ({ids})", ids=ids),
                [*self._scope(4), *params])
        return pl.DataFrame(rows, schema=LOOKUP_SCHEMA, orient="row")

    def lookup_keys(self, identities: pl.Series | Sequence[str]) -> pl.DataFrame:
        """idkey (hashing.identity_keys), hash, exact (as Int128: hashing.hashes_as_int128) of the
        asked identities the API has acknowledged: what `diff` needs. Many identities (more than
        20,000): the whole ledger's integer keys and hashes, without its identity strings. A
        superset, and two entries may share an idkey (a 64-bit collision): `diff` keeps one per key."""
        asked = pl.Series("identity", identities, dtype=pl.String)
        if asked.len() > SCAN_ABOVE:
            return self._read_all({"idkey": pl.Int64, "hash": pl.Binary, "exact": pl.Int128})
        found = self.lookup(asked)
        return found.select(identity_keys(found["identity"]), "hash", hashes_as_int128(found["exact"]))

    def all_key_hashes(self) -> pl.DataFrame:
        """The whole ledger as idkey, hash, exact, both hashes as Int128: a reconciliation's lookup
        table, 40 bytes an entry."""
        return self._read_all({"idkey": pl.Int64, "hash": pl.Int128, "exact": pl.Int128})

    def current_reads(self, identities: Sequence[str], run_id: str | None = None) -> dict[str, CurrentRead]:
        """identity -> (hash, read time, run) of its newest acknowledgement, for the identities of one
        request (the send-time check: lib/stages/acknowledge.py send_check); absent: not acknowledged.
        The keyed table by its primary key; the log (no index on identity: read whole) only when a run
        other than `run_id` has acknowledgements there (`ack_runs`), the log's newest entry winning.
        `run_id` None: the log is always read."""
        asked = list(dict.fromkeys(i for i in identities if i is not None))
        if not asked:
            return {}
        param: Any
        if self.dialect.pyformat:
            where, param = "identity = ANY(?::text[])", asked
        else:
            where, param = "identity IN (SELECT value FROM json_each(?))", json.dumps(asked)
        select = "SELECT identity, hash, coalesce(read_at, acked_at), run_id, {seq} FROM {table} WHERE {scope}{where}"

        def in_one_snapshot(read: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
            # One snapshot: a compaction between two statements would otherwise move an entry out of
            # the log after the keyed table was read.
            rows = read(self.dialect.sql(select, seq="-1", table=self.dialect.entries, where=where), [*self._scope(), param])
            others = run_id is None or read(self.dialect.sql(
                "SELECT EXISTS (SELECT 1 FROM {ack_runs} WHERE {scope}run_id <> ?)"), [*self._scope(), run_id])[0][0]
            if others:
                rows += read(self.dialect.sql(select, seq="seq", table=self.dialect.acks, where=where), [*self._scope(), param])
            return rows

        rows = self._read_snapshot(in_one_snapshot)
        out: dict[str, CurrentRead] = {}
        for identity, hash_, read_at, acked_by, _ in sorted(rows, key=lambda r: r[4]):  # the newest (the log's last) wins
            out[identity] = CurrentRead(bytes(hash_), int(read_at), acked_by)
        return out

    def api_ids(self, identities: Sequence[str]) -> dict[str, str | None]:
        """identity -> the id its DELETE takes, the newest known (None: not recorded, e.g. an entry
        acknowledged before issue 12); identities not in the ledger are absent. Reads only."""
        out: dict[str, str | None] = {}
        for ids, params in self._id_chunks(dict.fromkeys(identities)):
            out.update(self._read(self.dialect.sql(
                "SELECT identity, api_id FROM {entries} WHERE {scope}identity IN ({ids})", ids=ids), [*self._scope(), *params]))
            for identity, api_id in self._read(self.dialect.sql(  # the log, oldest first: the newest non-null id wins
                    "SELECT identity, api_id FROM {acks} WHERE {scope}identity IN ({ids}) ORDER BY seq", ids=ids), [*self._scope(), *params]):
                if api_id is not None or identity not in out:
                    out[identity] = api_id
        return out

    def holders(self, api_ids: Sequence[str]) -> dict[str, list[str]]:
        """api_id -> the identities whose newest known id it is (a customer who changed email: its
        old and new address under one CustomerId). Reads only; scans the ledger, so it is asked
        only for the ids a run is about to delete."""
        wanted = set(api_ids)
        candidates: dict[str, None] = {}
        for ids, params in self._id_chunks(dict.fromkeys(wanted)):
            for table in (self.dialect.entries, self.dialect.acks):
                for (identity,) in self._read(self.dialect.sql(
                        "SELECT DISTINCT identity FROM {table} WHERE {scope}api_id IN ({ids})", table=table, ids=ids),
                        [*self._scope(), *params]):
                    candidates[identity] = None
        out: dict[str, list[str]] = {}
        for identity, api_id in self.api_ids(list(candidates)).items():
            if api_id in wanted:
                out.setdefault(api_id, []).append(identity)
        return out

    def forget(self, identities: Sequence[str]) -> None:
        """Replenit no longer holds these (an acknowledged delete, issue 12); a queued payload of
        one would re-create it, so it leaves the retry queue too."""
        statements = []
        for ids, params in self._id_chunks(identities):
            statements += [(self.dialect.sql("DELETE FROM {table} WHERE {scope}identity IN ({ids})", table=table, ids=ids),
                            [[*self._scope(), *params]])
                           for table in (self.dialect.entries, self.dialect.acks, self.dialect.retries, self.dialect.payloads)]
        if statements:
            self._write(statements)

    def entries(self, identities: Sequence[str]) -> pl.DataFrame:
        """identity, hash, acked_at, run_id of the asked identities the API has acknowledged (the
        newest acknowledgement, compacted or not): what a sample sync shows it holds."""
        rows: list[tuple[Any, ...]] = []
        for ids, params in self._id_chunks(dict.fromkeys(identities)):
            rows += self._read(self.dialect.sql(
                "SELECT identity, hash, acked_at, run_id FROM ({current}) c WHERE identity IN ({ids}) ORDER BY identity", ids=ids),
                [*self._scope(4), *params])
        return pl.DataFrame(rows, schema=ENTRY_SCHEMA, orient="row")

    def kept_payloads(self, identities: Sequence[str]) -> dict[str, bytes]:
        """identity -> the payload last acknowledged, decompressed, for the asked identities whose
        payload was kept under their current acknowledgement (REPLENIT_LEDGER_KEEP_PAYLOADS); the
        others (never kept, or stale: acknowledged again since without keeping) are absent."""
        out: dict[str, bytes] = {}
        for ids, params in self._id_chunks(dict.fromkeys(identities)):
            for identity, blob in self._read(self.dialect.sql(
                    "SELECT p.identity, p.payload FROM {payloads} p JOIN ({current}) c ON c.identity = p.identity AND c.hash = p.hash "
                    "WHERE {scope}p.identity IN ({ids})", ids=ids), [*self._scope(5), *params]):
                payload = self.codec.decompress(bytes(blob))
                if payload is None:  # a dictionary another process trained since: read them again
                    self._load_dicts()
                    payload = self.codec.decompress(bytes(blob))
                if payload is not None:
                    out[identity] = payload
        return out

    def kept_payload_count(self) -> int:
        return int(self._read(self.dialect.sql("SELECT count(*) FROM {payloads} WHERE {scope}true"), self._scope())[0][0])

    def size(self) -> int:
        return int(self._read(self.dialect.sql(
            "SELECT (SELECT count(*) FROM {entries} WHERE {scope}true) + (SELECT count(DISTINCT identity) FROM {acks} a "
            "WHERE {scope}NOT EXISTS (SELECT 1 FROM {entries} e WHERE {scope}e.identity = a.identity))"), self._scope(3))[0][0])

    def pending_compaction(self) -> int:
        """Acknowledgements logged since the last compact() (a run that ended early leaves some)."""
        return int(self._read(self.dialect.sql("SELECT count(*) FROM {acks} WHERE {scope}true"), self._scope())[0][0])

    def newest_ack(self) -> int | None:
        """Epoch ms of the newest acknowledgement, or None for an empty ledger."""
        at = self._read(self.dialect.sql(
            "SELECT max(t) FROM (SELECT max(acked_at) AS t FROM {entries} WHERE {scope}true "
            "UNION ALL SELECT max(acked_at) FROM {acks} WHERE {scope}true) m"), self._scope(2))[0][0]
        return None if at is None else int(at)

    # -- the retry queue -----------------------------------------------------------------------

    def queue_failures(self, entries: pl.DataFrame) -> None:
        """Records that ended a run undelivered: identity, payload, hash, status ('failed' or
        'rejected'), last_reason, run_id. The same content failing again counts one more attempt
        and keeps its first failure; new content for the identity starts over at attempt 1."""
        at = now_ms()
        if "read_at" not in entries.columns:
            entries = entries.with_columns(pl.lit(None, dtype=pl.Int64).alias("read_at"))
        rows = [(*self._scope(), r["identity"], r["payload"], r["hash"], r["status"], at, at, r["last_reason"], r["run_id"],
                 r["read_at"])
                for r in entries.select("identity", "payload", "hash", "status", "last_reason", "run_id", "read_at").iter_rows(named=True)]
        if rows:
            self._write([(self.dialect.sql(_QUEUE), rows)])

    def queued(self, statuses: Iterable[str] = RETRY_STATUSES) -> pl.DataFrame:
        wanted = list(statuses)
        rows = self._read(self.dialect.sql(
            "SELECT {columns} FROM {retries} WHERE {scope}status IN ({marks}) ORDER BY first_failure, identity",
            columns=", ".join(RETRY_SCHEMA), marks=", ".join("?" * len(wanted))), [*self._scope(), *wanted])
        return pl.DataFrame(rows, schema=RETRY_SCHEMA, orient="row")

    def set_retry_status(self, identities: Sequence[str], status: str) -> None:
        if status not in RETRY_STATUSES:
            raise ValueError(f"retry status {status!r} is not one of {', '.join(RETRY_STATUSES)}")
        statements = [(self.dialect.sql("UPDATE {retries} SET status = ? WHERE {scope}identity IN ({ids})", ids=ids),
                       [[status, *self._scope(), *params]]) for ids, params in self._id_chunks(identities)]
        if statements:
            self._write(statements)

    def dequeue(self, identities: Sequence[str]) -> None:
        statements = [(self.dialect.sql("DELETE FROM {retries} WHERE {scope}identity IN ({ids})", ids=ids),
                       [[*self._scope(), *params]]) for ids, params in self._id_chunks(identities)]
        if statements:
            self._write(statements)
