"""The state store on Postgres (REPLENIT_STATE_URL): the same tables, columns and methods as the
DuckDB file (lib/state/store.py), shared by every run worker of a deployment.

`PostgresStateStore` is a `StateStore`: only the writes, `query` and the lock differ, so a read
method added to `StateStore` (SQL through `self.query` with `?` placeholders, under `self._lock`)
works on both backends as long as its SQL is common to DuckDB and Postgres.
"""

import threading
from datetime import UTC, datetime
from typing import Any

import polars as pl

from replenit_pipelines.lib.postgres import Reconnecting, StateUrl, ensure_schema, qmarks_to_pyformat, scrub
from replenit_pipelines.lib.state.store import DEAD_LETTER_COLUMNS, StateStore, _dead_letter_rows

# The DuckDB store's tables (lib/state/store.py SCHEMA) in Postgres types: a column added there is added here.
SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    run_id TEXT, partition_key TEXT, entity TEXT, record_id TEXT, source_row BIGINT,
    rule TEXT, field TEXT, value TEXT, recorded_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS dead_letters (
    run_id TEXT, partition_key TEXT, entity TEXT, record_id TEXT, status TEXT,
    reasons TEXT[], payload TEXT, recorded_at TIMESTAMPTZ,
    attempts BIGINT, first_failure TIMESTAMPTZ, last_failure TIMESTAMPTZ, last_reason TEXT);
CREATE TABLE IF NOT EXISTS sync_runs (
    run_id TEXT, partition_key TEXT, entity TEXT, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ,
    outcome TEXT, rows_read BIGINT, rows_delivered BIGINT, rows_quarantined BIGINT, rows_superseded BIGINT,
    rows_unchanged BIGINT, rows_dead_lettered BIGINT, rows_held_back BIGINT, requests BIGINT, finished_at TIMESTAMPTZ);
CREATE INDEX IF NOT EXISTS quarantine_run ON quarantine (run_id, partition_key, entity);
CREATE INDEX IF NOT EXISTS dead_letters_run ON dead_letters (run_id, partition_key, entity);
CREATE INDEX IF NOT EXISTS sync_runs_run ON sync_runs (run_id, partition_key, entity);
CREATE INDEX IF NOT EXISTS sync_runs_entity ON sync_runs (entity, finished_at);
"""
QUARANTINE_COLUMNS = ("run_id", "partition_key", "entity", "record_id", "source_row", "rule", "field", "value", "recorded_at")
RUN_COLUMNS = ("run_id", "partition_key", "entity", "window_start", "window_end", "outcome", "rows_read",
               "rows_delivered", "rows_quarantined", "rows_superseded", "rows_unchanged", "rows_dead_lettered",
               "rows_held_back", "requests")


class PostgresStateStore(StateStore):
    """The state store in a Postgres database. One connection per store, used by one thread at a
    time; every write is one transaction, so concurrent run workers never see half a run."""

    def __init__(self, url: StateUrl):  # not StateStore.__init__: there is no DuckDB file
        self.url = url
        self.path = None  # type: ignore[assignment]  # no file: the rows live in the database
        self._lock = threading.RLock()  # type: ignore[assignment]  # recent_runs holds it around query()
        self._connection = Reconnecting(url, "state store", lambda con: ensure_schema(con, url, "state", SCHEMA))
        self._connection.get()  # connect now: a wrong URL fails when the store is opened, not mid-run

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.url.masked!r})"

    @property
    def _con(self) -> Any:
        return self._connection.get()

    def close(self) -> None:
        self._connection.close()

    def record(self, run_id: str, partition_key: str, entity: str, quarantine: pl.DataFrame,
               dead_letters: pl.DataFrame, run_row: dict) -> None:
        now = datetime.now(UTC)
        meta = [pl.lit(run_id).alias("run_id"), pl.lit(partition_key).alias("partition_key"), pl.lit(entity).alias("entity")]
        q = quarantine.select(*meta, "record_id", "source_row", "rule", "field", "value", pl.lit(now).alias("recorded_at"))
        d = _dead_letter_rows(dead_letters, meta, now)
        key = [run_id, partition_key, entity]

        def write(con: Any) -> None:
            with con.transaction():
                for table in ("quarantine", "dead_letters", "sync_runs"):
                    con.execute(f"DELETE FROM {table} WHERE run_id = %s AND partition_key = %s AND entity = %s", key)  # noqa: S608 - fixed names
                self._copy(con, q, d)
                con.execute(
                    f"INSERT INTO sync_runs ({', '.join(RUN_COLUMNS)}, finished_at) VALUES ({', '.join(['%s'] * len(RUN_COLUMNS))}, %s)",  # noqa: S608
                    [*(run_row.get(c) for c in RUN_COLUMNS), now],
                )

        with self._lock:  # a dropped connection: written again on a new one (it replaces, so twice is once)
            self._connection.run(write)

    def append_push(self, run_id: str, source: str, entity: str, quarantine: pl.DataFrame,
                    dead_letters: pl.DataFrame) -> None:
        now = datetime.now(UTC)
        meta = [pl.lit(run_id).alias("run_id"), pl.lit(source).alias("partition_key"), pl.lit(entity).alias("entity")]
        q = quarantine.select(*meta, "record_id", "source_row", "rule", "field", "value", pl.lit(now).alias("recorded_at"))
        d = _dead_letter_rows(dead_letters, meta, now)
        with self._lock, self._con.transaction():
            self._copy(self._con, q, d)

    @staticmethod
    def _copy(con: Any, quarantine: pl.DataFrame, dead_letters: pl.DataFrame) -> None:
        # COPY: one round trip per table whatever the number of rows.
        with con.cursor() as cur:
            for table, columns, frame in (("quarantine", QUARANTINE_COLUMNS, quarantine),
                                          ("dead_letters", DEAD_LETTER_COLUMNS, dead_letters)):
                if frame.height == 0:
                    continue
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # noqa: S608 - fixed names
                    for row in frame.select(columns).iter_rows():
                        copy.write_row(row)

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Run SQL written for either backend (`?` placeholders) and return the rows as a frame."""
        import psycopg

        def read(con: Any) -> tuple[list[str] | None, list[tuple[Any, ...]]]:
            with con.cursor() as cur:
                cur.execute(qmarks_to_pyformat(sql), params) if params else cur.execute(sql)
                if cur.description is None:
                    return None, []
                return [c.name for c in cur.description], cur.fetchall()

        with self._lock:
            try:
                names, rows = self._connection.run(read)
            except psycopg.Error as exc:
                raise ValueError(scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.url)) from None
        if names is None:
            return pl.DataFrame()
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
