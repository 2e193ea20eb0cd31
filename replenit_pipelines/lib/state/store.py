"""The local state store: a DuckDB file of what each run quarantined, dead-lettered and counted.

Queryable after the run (`replenit state "SELECT rule, count(*) FROM quarantine GROUP BY 1"`).
Every open, reads included, happens under one file lock (state.duckdb.lock), waited for at most
LOCK_WAIT_S: DuckDB refuses to open a file read-write while another process has it open at all, and
read-only while another writes it ("Could not set lock on file ... Conflicting lock"), so an
unlocked reader (`replenit state`) made a sync's write fail, and the other way round. Each open is
short-lived (one transaction or one query). The acknowledged-state ledger is not here: it is SQLite
files beside it (lib/ledger/), written per batch. With REPLENIT_STATE_URL set, `open_state_store`
(lib/state/__init__.py) returns the same store in Postgres instead (lib/state/postgres.py), for run
workers on several machines: both implement the `StateStore` Protocol, share the read methods
(`StateReads`) and one definition of each table.
"""

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import duckdb
import polars as pl
from filelock import FileLock, Timeout

from replenit_pipelines.lib.errors import ReplenitError
from replenit_pipelines.lib.validation.gate import RecentRun

# One definition per table; each backend writes it in its own types (create_tables).
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "quarantine": (("run_id", "text"), ("partition_key", "text"), ("entity", "text"), ("record_id", "text"),
                   ("source_row", "row"), ("rule", "text"), ("field", "text"), ("value", "text"), ("recorded_at", "time")),
    "dead_letters": (("run_id", "text"), ("partition_key", "text"), ("entity", "text"), ("record_id", "text"),
                     ("status", "text"), ("reasons", "texts"), ("payload", "text"), ("recorded_at", "time"),
                     ("attempts", "int"), ("first_failure", "time"), ("last_failure", "time"), ("last_reason", "text")),
    "sync_runs": (("run_id", "text"), ("partition_key", "text"), ("entity", "text"), ("window_start", "time"),
                  ("window_end", "time"), ("outcome", "text"), ("rows_read", "int"), ("rows_delivered", "int"),
                  ("rows_quarantined", "int"), ("rows_superseded", "int"), ("rows_unchanged", "int"),
                  ("rows_dead_lettered", "int"), ("rows_held_back", "int"), ("requests", "int"), ("finished_at", "time")),
}
TYPES = {
    "duckdb": {"text": "VARCHAR", "row": "UINTEGER", "int": "BIGINT", "time": "TIMESTAMPTZ", "texts": "VARCHAR[]"},
    "postgres": {"text": "TEXT", "row": "BIGINT", "int": "BIGINT", "time": "TIMESTAMPTZ", "texts": "TEXT[]"},
}
# Columns added to a table after its first release: a file or database made before gets them (NULL).
ADDED = {"dead_letters": ("attempts", "first_failure", "last_failure", "last_reason")}


def create_tables(dialect: str) -> str:
    """The state store's DDL in `dialect`'s types (`duckdb` or `postgres`)."""
    types = TYPES[dialect]
    statements = [f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{c} {types[t]}' for c, t in columns)})"
                  for table, columns in TABLES.items()]
    statements += [f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {c} {types[t]}"
                   for table, added in ADDED.items() for c, t in TABLES[table] if c in added]
    return ";\n".join(statements) + ";\n"


QUARANTINE_COLUMNS = tuple(c for c, _ in TABLES["quarantine"])
RUN_COLUMNS = tuple(c for c, _ in TABLES["sync_runs"] if c != "finished_at")
DEAD_LETTER_COLUMNS = tuple(c for c, _ in TABLES["dead_letters"])
# Filled from the retry queue (lib/stages/acknowledge.py); null for pushes and runs without a ledger.
_HISTORY: dict[str, pl.DataType] = {"attempts": pl.Int64(), "first_failure": pl.Datetime("us", "UTC"), "last_failure": pl.Datetime("us", "UTC"),
            "last_reason": pl.String()}


def dead_letter_rows(dead_letters: pl.DataFrame, meta: list[pl.Expr], now: datetime) -> pl.DataFrame:
    history = [pl.col(c).cast(t) if c in dead_letters.columns else pl.lit(None, dtype=t).alias(c) for c, t in _HISTORY.items()]
    return dead_letters.select(*meta, "record_id", "status", "reasons", "payload", pl.lit(now).alias("recorded_at"), *history)

def quarantine_rows(quarantine: pl.DataFrame, meta: list[pl.Expr], now: datetime) -> pl.DataFrame:
    return quarantine.select(*meta, "record_id", "source_row", "rule", "field", "value", pl.lit(now).alias("recorded_at"))


def run_meta(run_id: str, partition_key: str, entity: str) -> list[pl.Expr]:
    return [pl.lit(run_id).alias("run_id"), pl.lit(partition_key).alias("partition_key"), pl.lit(entity).alias("entity")]


class StateStore(Protocol):
    """What the runs and the commands need from a state store (DuckDB here, Postgres in lib/state/postgres.py)."""

    def record(self, run_id: str, partition_key: str, entity: str, quarantine: pl.DataFrame,
               dead_letters: pl.DataFrame, run_row: dict[str, Any]) -> None: ...
    def append_push(self, run_id: str, source: str, entity: str, quarantine: pl.DataFrame,
                    dead_letters: pl.DataFrame) -> None: ...
    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame: ...
    def recent_runs(self, entity: str, limit: int, exclude_partition: str | None = None) -> list[RecentRun]: ...
    def requests_since(self, since: datetime) -> pl.DataFrame: ...
    def close(self) -> None: ...


class StateReads:
    """The read methods, written once for both backends: SQL common to DuckDB and Postgres, with
    `?` placeholders, through the backend's `query` under its `lock` (another process may be
    writing: DuckDB would refuse the read-only open)."""

    lock: AbstractContextManager[Any]

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        raise NotImplementedError

    def recent_runs(self, entity: str, limit: int, exclude_partition: str | None = None) -> list[RecentRun]:
        """The entity's latest runs that were not held back, newest first: the quarantine gate's
        baseline. Runs of `exclude_partition` (the window being judged) are left out."""
        with self.lock:
            rows = self.query(
                "SELECT rows_read, rows_superseded, rows_quarantined FROM sync_runs "
                "WHERE entity = ? AND outcome <> 'held_back' AND partition_key IS DISTINCT FROM ? "
                "ORDER BY finished_at DESC LIMIT ?",
                [entity, exclude_partition, limit],
            )
        return [RecentRun(*(int(v or 0) for v in row)) for row in rows.iter_rows()]

    def requests_since(self, since: datetime) -> pl.DataFrame:
        """Each run finished since `since`, oldest first: entity, partition_key, outcome, requests
        (this window's and the retries', as the run recorded them) and finished_at. The quota view
        and the plans' expected load (lib/plan/) read it."""
        with self.lock:
            return self.query(
                "SELECT entity, partition_key, outcome, CAST(coalesce(requests, 0) AS BIGINT) AS requests, finished_at "
                "FROM sync_runs WHERE finished_at >= ? ORDER BY finished_at",
                [since],
            )


# How long a process waits for another's open of the state store (a sync's write takes milliseconds,
# a user's query in `replenit state` as long as its SQL) before it says which file is busy.
LOCK_WAIT_S = 300.0


class StateStoreBusy(ReplenitError):
    """The state store's lock was held by another process for longer than LOCK_WAIT_S."""


class StateFileLock:
    """The state file's lock (re-entrant within this process); a clear error after LOCK_WAIT_S."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = FileLock(str(path) + ".lock", timeout=LOCK_WAIT_S)

    def __enter__(self) -> None:
        self._locked()

    def _locked(self) -> None:
        try:
            self._lock.acquire()
        except Timeout:
            raise StateStoreBusy(f"the state store {self.path} stayed locked by another process for {LOCK_WAIT_S:.0f} s "
                                 f"({self._lock.lock_file}): a long query in `replenit state`, or a process hung while "
                                 "writing it; retry when it is done") from None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._lock.release()


_DEAD_LETTER_INSERT = f"INSERT INTO dead_letters ({', '.join(DEAD_LETTER_COLUMNS)}) SELECT * FROM d"  # noqa: S608 - fixed names
_RUN_INSERT = f"INSERT INTO sync_runs ({', '.join(RUN_COLUMNS)}, finished_at) VALUES ({', '.join('?' * len(RUN_COLUMNS))}, ?)"  # noqa: S608


class DuckDBStateStore(StateReads):
    """The state store in a DuckDB file. Every open, reads too, under the file lock (module doc)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = StateFileLock(self.path)
        with self.lock, duckdb.connect(str(self.path)) as con:
            con.execute(create_tables("duckdb"))

    def __repr__(self) -> str:
        return f"DuckDBStateStore({str(self.path)!r})"

    def close(self) -> None:
        """Nothing held open: every operation opens the file and closes it."""

    def record(self, run_id: str, partition_key: str, entity: str, quarantine: pl.DataFrame,
               dead_letters: pl.DataFrame, run_row: dict[str, Any]) -> None:
        """One run's quarantine, dead letters and counts, in one transaction. A re-run of the same
        run id and partition replaces what the earlier attempt wrote."""
        now = datetime.now(UTC)
        meta = run_meta(run_id, partition_key, entity)
        q, d = quarantine_rows(quarantine, meta, now), dead_letter_rows(dead_letters, meta, now)
        key = [run_id, partition_key, entity]
        with self.lock, duckdb.connect(str(self.path)) as con:
            con.execute("BEGIN")
            for table in ("quarantine", "dead_letters", "sync_runs"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ? AND partition_key = ? AND entity = ?", key)  # noqa: S608 - fixed names
            con.register("q", q.to_arrow())
            con.execute("INSERT INTO quarantine SELECT * FROM q")
            con.register("d", d.to_arrow())
            con.execute(_DEAD_LETTER_INSERT)
            con.execute(_RUN_INSERT, [*(run_row.get(c) for c in RUN_COLUMNS), now])
            con.execute("COMMIT")

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        with self.lock, duckdb.connect(str(self.path), read_only=True) as con:
            return con.sql(sql, params=params).pl()

    def append_push(self, run_id: str, source: str, entity: str, quarantine: pl.DataFrame,
                    dead_letters: pl.DataFrame) -> None:
        """Append what a `replenit push` refused (to quarantine: record_id, source_row = the record's
        index in the file, rule, field, value) and what the API rejected or retries could not
        deliver (to dead_letters: record_id, status, reasons, payload). `partition_key` holds the
        file pushed; a push writes several chunks under one run id, so nothing is replaced."""
        now = datetime.now(UTC)
        meta = run_meta(run_id, source, entity)
        q, d = quarantine_rows(quarantine, meta, now), dead_letter_rows(dead_letters, meta, now)
        with self.lock, duckdb.connect(str(self.path)) as con:
            con.execute("BEGIN")
            con.register("q", q.to_arrow())
            con.execute("INSERT INTO quarantine SELECT * FROM q")
            con.register("d", d.to_arrow())
            con.execute(_DEAD_LETTER_INSERT)
            con.execute("COMMIT")
