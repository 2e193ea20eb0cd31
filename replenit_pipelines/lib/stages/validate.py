"""The validate stage: mapped rows -> valid records and quarantined rows with reasons, and the
quarantine gate's decision (may the valid ones go?). The checks live in lib/validation/ (pandera
schemas built from the contract), the gate in lib/validation/gate.py, its history of runs in the
state store."""

from collections.abc import Sequence
from datetime import datetime

from replenit_pipelines.lib.state.store import StateStore
from replenit_pipelines.lib.validation.gate import GateDecision, GatePolicy, RecentRun, decide
from replenit_pipelines.lib.validation.prepare import Mapped, Prepared, validate_mapped
from replenit_pipelines.lib.warehouse import EntityMapping


def validate(mapping: EntityMapping, mapped: Mapped, lookback_before: datetime | None = None,
             partition_starts: Sequence[datetime] = (), window_end: datetime | None = None) -> Prepared:
    """Supersede duplicates, check every rule, nest the valid rows: a record is valid only whole.
    `lookback_before`: the partition's start, when the read began earlier (its lookback): the
    rows of records whose newest change before `window_end` is before it are counted apart.
    `partition_starts`: a run over several partitions counts each record's rows in the partition of
    its newest change."""
    return validate_mapped(mapping, mapped, lookback_before, partition_starts, window_end)


def gate_history(store: StateStore | None, entity: str, policy: GatePolicy, partition_key: str) -> list[RecentRun]:
    """The runs the gate compares with (its `baseline` mode): the entity's recent runs, but those
    of `partition_key` (the window, or a reconciliation's `all`, being judged)."""
    if store is None or policy.mode != "baseline":
        return []
    return store.recent_runs(entity, policy.baseline_runs, partition_key)


def gate(policy: GatePolicy, prepared: Prepared, history: Sequence[RecentRun]) -> GateDecision:
    """Hold the window's valid records back when its quarantined share is abnormal."""
    return decide(policy, prepared.rows_read, prepared.rows_superseded, prepared.rows_quarantined, list(history))
