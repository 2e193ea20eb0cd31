"""The acknowledged-state ledger (issue 11): payload hashes, the ledger store, the diff stage and
the retry queue. Plain Python over Polars, no Dagster."""

from replenit_pipelines.lib.ledger.diff import CHANGED, NEW, UNCHANGED, Diff, diff
from replenit_pipelines.lib.ledger.hashing import CANONICAL_VERSION, canonical, content_hash, content_hashes, exact_hash, exact_hashes
from replenit_pipelines.lib.ledger.retries import (
    DEFAULT_MAX_ATTEMPTS,
    RetryPlan,
    failures_to_queue,
    hold_unchanged_rejections,
    plan_retries,
)
from replenit_pipelines.lib.ledger.store import Ledger, LedgerScopeError, SqliteLedger, ledger_scope, open_ledger, scope_folder

__all__ = [
    "CANONICAL_VERSION", "CHANGED", "DEFAULT_MAX_ATTEMPTS", "NEW", "UNCHANGED", "Diff", "Ledger", "LedgerScopeError",
    "RetryPlan", "SqliteLedger", "canonical", "content_hash", "content_hashes", "diff", "exact_hash", "exact_hashes",
    "failures_to_queue", "hold_unchanged_rejections", "ledger_scope", "open_ledger", "plan_retries", "scope_folder",
]
