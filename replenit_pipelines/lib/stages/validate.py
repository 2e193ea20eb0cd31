"""The validate stage: mapped rows -> valid records and quarantined rows with reasons, and the
quarantine gate's decision (may the valid ones go?). The checks live in lib/validation/ (pandera
schemas built from the contract), the gate in lib/validation/gate.py."""

from collections.abc import Sequence

import polars as pl

from replenit_pipelines.lib.validation.gate import GateDecision, GatePolicy, RecentRun, decide
from replenit_pipelines.lib.validation.prepare import Prepared, prepare
from replenit_pipelines.lib.warehouse import EntityMapping


def validate(mapping: EntityMapping, rows: pl.DataFrame, customer_priority: str) -> Prepared:
    """Map (lib/stages/map.py) and validate one window's rows: a record is valid only whole."""
    return prepare(mapping, rows, customer_priority=customer_priority)


def gate(policy: GatePolicy, prepared: Prepared, history: Sequence[RecentRun]) -> GateDecision:
    """Hold the window's valid records back when its quarantined share is abnormal."""
    return decide(policy, prepared.rows_read, prepared.rows_superseded, prepared.rows_quarantined, list(history))
