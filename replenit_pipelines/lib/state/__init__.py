"""The state store: each run's counts, the quarantine and the dead letters (DuckDB, or Postgres
with REPLENIT_STATE_URL). Below the stages: the report stage writes a run's row here."""

from pathlib import Path

from replenit_pipelines.lib.postgres import FROM_ENV, StateUrlArg, resolve
from replenit_pipelines.lib.state.postgres import PostgresStateStore
from replenit_pipelines.lib.state.store import DuckDBStateStore, StateStore

__all__ = ["DuckDBStateStore", "PostgresStateStore", "StateStore", "open_state_store"]


def open_state_store(path: str | Path, state_url: StateUrlArg = FROM_ENV, namespace: str | None = None) -> StateStore:
    """The state store: in Postgres when a state URL is given (by default REPLENIT_STATE_URL), its
    tables in the schema `namespace` when one is given, else the DuckDB file at `path`. The one
    place its backend is chosen."""
    url = resolve(state_url)
    if url is None:
        return DuckDBStateStore(path)
    return PostgresStateStore(url, namespace)
