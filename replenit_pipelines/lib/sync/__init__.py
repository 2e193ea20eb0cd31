"""Sync state and the per-window sync (no Dagster)."""

from replenit_pipelines.lib.sync.run import SyncResult, sync_window
from replenit_pipelines.lib.sync.state import StateStore

__all__ = ["StateStore", "SyncResult", "sync_window"]
