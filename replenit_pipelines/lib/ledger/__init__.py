"""The acknowledged-state ledger (issue 11): payload hashes, the ledger store, the diff stage and
the retry queue. Plain Python over Polars, no Dagster."""

from pathlib import Path

from replenit_pipelines.lib.ledger.base import Ledger, LedgerScopeError, ledger_scope, scope_folder
from replenit_pipelines.lib.ledger.diff import CHANGED, NEW, UNCHANGED, Diff, diff
from replenit_pipelines.lib.ledger.hashing import CANONICAL_VERSION, canonical, content_hash, content_hashes, exact_hash, exact_hashes
from replenit_pipelines.lib.ledger.payloads import keep_payloads_from_env
from replenit_pipelines.lib.ledger.postgres import PostgresLedger
from replenit_pipelines.lib.ledger.retries import (
    DEFAULT_MAX_ATTEMPTS,
    RetryPlan,
    failures_to_queue,
    hold_unchanged_rejections,
    plan_retries,
)
from replenit_pipelines.lib.ledger.store import SqliteLedger
from replenit_pipelines.lib.postgres import FROM_ENV, StateUrlArg, resolve

__all__ = [
    "CANONICAL_VERSION", "CHANGED", "DEFAULT_MAX_ATTEMPTS", "NEW", "UNCHANGED", "Diff", "Ledger", "LedgerScopeError",
    "PostgresLedger", "RetryPlan", "SqliteLedger", "canonical", "content_hash", "content_hashes", "diff", "exact_hash", "exact_hashes",
    "failures_to_queue", "hold_unchanged_rejections", "ledger_scope", "open_ledger", "plan_retries", "scope_folder",
]


def open_ledger(state_dir: str | Path, base_url: str, tenant_id: str, entity: str,
                state_url: StateUrlArg = FROM_ENV, keep_payloads: bool | None = None) -> Ledger:
    """The ledger of one (API base URL + tenant, entity): the one place a backend is chosen.
    In Postgres when a state URL is given (by default REPLENIT_STATE_URL; lib/ledger/postgres.py),
    else SQLite files under the state folder. `keep_payloads` (default REPLENIT_LEDGER_KEEP_PAYLOADS):
    each acknowledgement also keeps its payloads, compressed (lib/ledger/payloads.py)."""
    url = resolve(state_url)
    keep = keep_payloads_from_env() if keep_payloads is None else keep_payloads
    if url is not None:
        return PostgresLedger.open(url, base_url, tenant_id, entity, keep)
    return SqliteLedger.open(state_dir, base_url, tenant_id, entity, keep)
