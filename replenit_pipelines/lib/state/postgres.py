"""The state store on Postgres (REPLENIT_STATE_URL): the same tables (one definition:
lib/state/store.py TABLES), columns and methods as the DuckDB file, shared by every run worker of
a deployment. Both backends implement the `StateStore` Protocol; the read methods are written once
(`StateReads`: SQL through `self.query` with `?` placeholders, under `self.lock`), so only the
writes, `query` and the lock are this module's.

A `namespace` keeps one store's tables in a Postgres schema of that name (created when missing), as
each component instance other than the default keeps its DuckDB file in a folder of its own: two
tenants on one database never mix their quarantine, dead letters or the run counts their gates read.
"""

import threading
from datetime import UTC, datetime
from typing import Any

import polars as pl

from replenit_pipelines.lib.postgres import Reconnecting, StateUrl, ensure_schema, qmarks_to_pyformat, scrub
from replenit_pipelines.lib.state.store import (
    DEAD_LETTER_COLUMNS,
    QUARANTINE_COLUMNS,
    RUN_COLUMNS,
    StateReads,
    create_tables,
    dead_letter_rows,
    quarantine_rows,
    run_meta,
)

# The tables (lib/state/store.py TABLES) in Postgres types, and the indexes a shared database needs.
SCHEMA = create_tables("postgres") + """
CREATE INDEX IF NOT EXISTS quarantine_run ON quarantine (run_id, partition_key, entity);
CREATE INDEX IF NOT EXISTS dead_letters_run ON dead_letters (run_id, partition_key, entity);
CREATE INDEX IF NOT EXISTS sync_runs_run ON sync_runs (run_id, partition_key, entity);
CREATE INDEX IF NOT EXISTS sync_runs_entity ON sync_runs (entity, finished_at);
"""


class PostgresStateStore(StateReads):
    """The state store in a Postgres database. One connection per store, used by one thread at a
    time; every write is one transaction, so concurrent run workers never see half a run."""

    def __init__(self, url: StateUrl, namespace: str | None = None):
        self.url, self.namespace = url, namespace
        self.lock = threading.RLock()  # recent_runs holds it around query()
        self._connection = Reconnecting(url, "state store", self._prepare)
        self._connection.get()  # connect now: a wrong URL fails when the store is opened, not mid-run

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.url.masked!r}" + (f", namespace={self.namespace!r})" if self.namespace else ")")

    def _prepare(self, con: Any) -> None:
        """Each new connection: its search path set to the namespace (every statement here names its
        tables unqualified), then the tables created once per process."""
        if not self.namespace:
            ensure_schema(con, self.url, "state", SCHEMA)
            return
        from psycopg import sql

        schema = sql.Identifier(self.namespace)
        con.execute(sql.SQL("SET search_path TO {}").format(schema))
        ddl = sql.SQL("CREATE SCHEMA IF NOT EXISTS {};\n").format(schema).as_string(con) + SCHEMA
        ensure_schema(con, self.url, f"state:{self.namespace}", ddl)

    @property
    def _con(self) -> Any:
        return self._connection.get()

    def close(self) -> None:
        self._connection.close()

    def record(self, run_id: str, partition_key: str, entity: str, quarantine: pl.DataFrame,
               dead_letters: pl.DataFrame, run_row: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        meta = run_meta(run_id, partition_key, entity)
        q, d = quarantine_rows(quarantine, meta, now), dead_letter_rows(dead_letters, meta, now)
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

        with self.lock:  # a dropped connection: written again on a new one (it replaces, so twice is once)
            self._connection.run(write)

    def append_push(self, run_id: str, source: str, entity: str, quarantine: pl.DataFrame,
                    dead_letters: pl.DataFrame) -> None:
        now = datetime.now(UTC)
        meta = run_meta(run_id, source, entity)
        q, d = quarantine_rows(quarantine, meta, now), dead_letter_rows(dead_letters, meta, now)
        with self.lock, self._con.transaction():
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

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run SQL written for either backend (`?` placeholders) and return the rows as a frame."""
        import psycopg

        def read(con: Any) -> tuple[list[str] | None, list[tuple[Any, ...]]]:
            with con.cursor() as cur:
                cur.execute(qmarks_to_pyformat(sql), params) if params else cur.execute(sql)
                if cur.description is None:
                    return None, []
                return [c.name for c in cur.description], cur.fetchall()

        with self.lock:
            try:
                names, rows = self._connection.run(read)
            except psycopg.Error as exc:
                raise ValueError(scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.url)) from None
        if names is None:
            return pl.DataFrame()
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
