"""The local state store: a DuckDB file of what each run quarantined, dead-lettered and counted.

Queryable after the run (`replenit state "SELECT rule, count(*) FROM quarantine GROUP BY 1"`).
Every open, reads included, happens under one file lock (state.duckdb.lock), waited for at most
LOCK_WAIT_S: DuckDB refuses to open a file read-write while another process has it open at all, and
read-only while another writes it ("Could not set lock on file ... Conflicting lock"), so an
unlocked reader (`replenit state`) made a sync's write fail, and the other way round. Each open is
short-lived (one transaction or one query). The
acknowledged-state ledger is not here: it is SQLite files beside it (lib/ledger/), written per batch.
With REPLENIT_STATE_URL set, `open_state_store` returns the same store in Postgres instead
(lib/state/postgres.py), for run workers on several machines.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
from filelock import FileLock, Timeout

from replenit_pipelines.lib.errors import ReplenitError

from replenit_pipelines.lib.postgres import FROM_ENV, StateUrl, resolve, state_url_from_env
from replenit_pipelines.lib.validation.gate import RecentRun

# Mirrored in Postgres types by lib/state/postgres.py SCHEMA: a column added here is added there.
SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    run_id VARCHAR, partition_key VARCHAR, entity VARCHAR, record_id VARCHAR, source_row UINTEGER,
    rule VARCHAR, field VARCHAR, value VARCHAR, recorded_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS dead_letters (
    run_id VARCHAR, partition_key VARCHAR, entity VARCHAR, record_id VARCHAR, status VARCHAR,
    reasons VARCHAR[], payload VARCHAR, recorded_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS sync_runs (
    run_id VARCHAR, partition_key VARCHAR, entity VARCHAR, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ,
    outcome VARCHAR, rows_read BIGINT, rows_delivered BIGINT, rows_quarantined BIGINT, rows_superseded BIGINT,
    rows_unchanged BIGINT, rows_dead_lettered BIGINT, rows_held_back BIGINT, requests BIGINT, finished_at TIMESTAMPTZ);
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS attempts BIGINT;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS first_failure TIMESTAMPTZ;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS last_failure TIMESTAMPTZ;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS last_reason VARCHAR;
"""
DEAD_LETTER_COLUMNS = ("run_id", "partition_key", "entity", "record_id", "status", "reasons", "payload", "recorded_at",
                       "attempts", "first_failure", "last_failure", "last_reason")
# Filled from the retry queue (lib/stages/acknowledge.py); null for pushes and runs without a ledger.
_HISTORY: dict[str, pl.DataType] = {"attempts": pl.Int64(), "first_failure": pl.Datetime("us", "UTC"), "last_failure": pl.Datetime("us", "UTC"),
            "last_reason": pl.String()}


def _dead_letter_rows(dead_letters: pl.DataFrame, meta: list[pl.Expr], now: datetime) -> pl.DataFrame:
    history = [pl.col(c).cast(t) if c in dead_letters.columns else pl.lit(None, dtype=t).alias(c) for c, t in _HISTORY.items()]
    return dead_letters.select(*meta, "record_id", "status", "reasons", "payload", pl.lit(now).alias("recorded_at"), *history)

# How long a process waits for another's open of the state store (a sync's write takes milliseconds,
# a user's query in `replenit state` as long as its SQL) before it says which file is busy.
LOCK_WAIT_S = 300.0


class StateStoreBusy(ReplenitError):
    """The state store's lock was held by another process for longer than LOCK_WAIT_S."""


_DEAD_LETTER_INSERT = f"INSERT INTO dead_letters ({', '.join(DEAD_LETTER_COLUMNS)}) SELECT * FROM d"  # noqa: S608 - fixed names


class StateStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.path) + ".lock", timeout=LOCK_WAIT_S)
        with self._locked(), duckdb.connect(str(self.path)) as con:
            con.execute(SCHEMA)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The file lock (re-entrant within this store); a clear error after LOCK_WAIT_S."""
        try:
            self._lock.acquire()
        except Timeout:
            raise StateStoreBusy(f"the state store {self.path} stayed locked by another process for {LOCK_WAIT_S:.0f} s "
                                 f"({self._lock.lock_file}): a long query in `replenit state`, or a process hung while "
                                 "writing it; retry when it is done") from None
        try:
            yield
        finally:
            self._lock.release()

    def record(self, run_id: str, partition_key: str, entity: str, quarantine: pl.DataFrame,
               dead_letters: pl.DataFrame, run_row: dict) -> None:
        """One run's quarantine, dead letters and counts, in one transaction. A re-run of the same
        run id and partition replaces what the earlier attempt wrote."""
        now = datetime.now(UTC)
        q = quarantine.select(
            pl.lit(run_id).alias("run_id"), pl.lit(partition_key).alias("partition_key"), pl.lit(entity).alias("entity"),
            "record_id", "source_row", "rule", "field", "value", pl.lit(now).alias("recorded_at"))
        d = _dead_letter_rows(dead_letters, [pl.lit(run_id).alias("run_id"), pl.lit(partition_key).alias("partition_key"),
                                             pl.lit(entity).alias("entity")], now)
        key = [run_id, partition_key, entity]
        with self._locked(), duckdb.connect(str(self.path)) as con:
            con.execute("BEGIN")
            for table in ("quarantine", "dead_letters", "sync_runs"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ? AND partition_key = ? AND entity = ?", key)  # noqa: S608 - fixed names
            con.register("q", q.to_arrow())
            con.execute("INSERT INTO quarantine SELECT * FROM q")
            con.register("d", d.to_arrow())
            con.execute(_DEAD_LETTER_INSERT)
            cols = ["run_id", "partition_key", "entity", "window_start", "window_end", "outcome", "rows_read",
                    "rows_delivered", "rows_quarantined", "rows_superseded", "rows_unchanged", "rows_dead_lettered",
                    "rows_held_back", "requests"]
            values = [run_row.get(c) for c in cols]
            con.execute(
                f"INSERT INTO sync_runs ({', '.join(cols)}, finished_at) VALUES ({', '.join('?' * len(cols))}, ?)",  # noqa: S608
                [*values, now],
            )
            con.execute("COMMIT")

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with self._locked(), duckdb.connect(str(self.path), read_only=True) as con:
            return con.sql(sql, params=params).pl()

    def recent_runs(self, entity: str, limit: int, exclude_partition: str | None = None) -> list[RecentRun]:
        """The entity's latest runs that were not held back, newest first: the quarantine gate's
        baseline. Runs of `exclude_partition` (the window being judged) are left out."""
        rows = self.query(
            "SELECT rows_read, rows_superseded, rows_quarantined FROM sync_runs "
            "WHERE entity = ? AND outcome <> 'held_back' AND partition_key IS DISTINCT FROM ? "
            "ORDER BY finished_at DESC LIMIT ?",
            [entity, exclude_partition, limit],
        )
        return [RecentRun(*(int(v or 0) for v in row)) for row in rows.iter_rows()]

    def append_push(self, run_id: str, source: str, entity: str, quarantine: pl.DataFrame,
                    dead_letters: pl.DataFrame) -> None:
        """Append what a `replenit push` refused (to quarantine: record_id, source_row = the record's
        index in the file, rule, field, value) and what the API rejected or retries could not
        deliver (to dead_letters: record_id, status, reasons, payload). `partition_key` holds the
        file pushed; a push writes several chunks under one run id, so nothing is replaced."""
        now = datetime.now(UTC)
        meta = [pl.lit(run_id).alias("run_id"), pl.lit(source).alias("partition_key"), pl.lit(entity).alias("entity")]
        q = quarantine.select(*meta, "record_id", "source_row", "rule", "field", "value", pl.lit(now).alias("recorded_at"))
        d = _dead_letter_rows(dead_letters, meta, now)
        with self._locked(), duckdb.connect(str(self.path)) as con:
            con.execute("BEGIN")
            con.register("q", q.to_arrow())
            con.execute("INSERT INTO quarantine SELECT * FROM q")
            con.register("d", d.to_arrow())
            con.execute(_DEAD_LETTER_INSERT)
            con.execute("COMMIT")

    def requests_since(self, since: datetime) -> pl.DataFrame:
        """Each run finished since `since`, oldest first: entity, partition_key, outcome, requests
        (this window's and the retries', as the run recorded them) and finished_at. The quota view
        and the plans' expected load (lib/plan/) read it."""
        return self.query(
            "SELECT entity, partition_key, outcome, coalesce(requests, 0)::BIGINT AS requests, finished_at "
            "FROM sync_runs WHERE finished_at >= ? ORDER BY finished_at",
            [since],
        )


def open_state_store(path: str | Path, state_url: "StateUrl | str | None | object" = FROM_ENV) -> StateStore:
    """The state store: in Postgres when a state URL is given (by default REPLENIT_STATE_URL),
    else the DuckDB file at `path`. The one place its backend is chosen."""
    url = state_url_from_env() if state_url is FROM_ENV else resolve(state_url)  # type: ignore[arg-type]
    if url is None:
        return StateStore(path)
    from replenit_pipelines.lib.state.postgres import PostgresStateStore

    return PostgresStateStore(url)
