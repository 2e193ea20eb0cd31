"""Sync state and the per-window sync (no Dagster)."""

from replenit_pipelines.lib.sync.gate import GateDecision, GatePolicy, RecentRun, decide
from replenit_pipelines.lib.sync.run import SyncRequest, SyncResult, sync_window
from replenit_pipelines.lib.sync.state import StateStore, open_state_store

__all__ = ["GateDecision", "GatePolicy", "RecentRun", "StateStore", "SyncRequest", "SyncResult", "decide", "open_state_store", "sync_window"]
