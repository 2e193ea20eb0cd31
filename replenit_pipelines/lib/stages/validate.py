"""The validate stage: mapped rows -> valid records and quarantined rows with reasons, and the
quarantine gate's decision (may the valid ones go?). The checks live in lib/validation/ (pandera
schemas built from the contract), the gate in lib/validation/gate.py."""

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from replenit_pipelines.lib.validation.gate import GateDecision, GatePolicy, RecentRun, decide
from replenit_pipelines.lib.validation.prepare import Prepared, prepare
from replenit_pipelines.lib.warehouse import EntityMapping


def validate(mapping: EntityMapping, rows: pl.DataFrame, customer_priority: str,
             lookback_before: datetime | None = None) -> Prepared:
    """Map (lib/stages/map.py) and validate one window's rows: a record is valid only whole.
    `lookback_before`: the partition's start, when the read began earlier (its lookback)."""
    return prepare(mapping, rows, customer_priority=customer_priority, lookback_before=lookback_before)


def gate(policy: GatePolicy, prepared: Prepared, history: Sequence[RecentRun]) -> GateDecision:
    """Hold the window's valid records back when its quarantined share is abnormal."""
    return decide(policy, prepared.rows_read, prepared.rows_superseded, prepared.rows_quarantined, list(history))
