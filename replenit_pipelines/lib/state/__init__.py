"""The state store: each run's counts, the quarantine and the dead letters (DuckDB, or Postgres
with REPLENIT_STATE_URL). Below the stages: the report stage writes a run's row here."""

from replenit_pipelines.lib.state.store import StateStore, open_state_store

__all__ = ["StateStore", "open_state_store"]
