"""The per-window sync and reconciliation (no Dagster): the top of lib/, calling the stages."""

from replenit_pipelines.lib.state import StateStore, open_state_store
from replenit_pipelines.lib.sync.run import SyncRequest, SyncResult, sync_window
from replenit_pipelines.lib.validation.gate import GateDecision, GatePolicy, RecentRun, decide

__all__ = ["GateDecision", "GatePolicy", "RecentRun", "StateStore", "SyncRequest", "SyncResult", "decide", "open_state_store", "sync_window"]
