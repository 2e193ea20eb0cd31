"""The acknowledge stage: what the API's answers mean for the window's records and rows.

Accepted records' rows count as delivered; rejected and failed ones become dead letters (with
their payload and reasons). Today the outcome is recorded once, with the run (lib/stages/report.py);
issue 11 makes this stage advance the acknowledged-state ledger after each accepted batch.
"""

from dataclasses import dataclass

import polars as pl

from replenit_pipelines.lib.delivery import DeliveryReport
from replenit_pipelines.lib.stages.diff import Diff
from replenit_pipelines.lib.stages.plan import Plan
from replenit_pipelines.lib.validation.prepare import Prepared

DEAD_LETTER_SCHEMA = pl.Schema({"record_id": pl.String(), "status": pl.String(), "reasons": pl.List(pl.String), "payload": pl.String()})


@dataclass(frozen=True)
class Acknowledged:
    rows_delivered: int
    rows_dead_lettered: int
    dead_letters: pl.DataFrame  # DEAD_LETTER_SCHEMA: one row per rejected or failed record


def acknowledge(prepared: Prepared, changes: Diff, planned: Plan, report: DeliveryReport | None) -> Acknowledged:
    if report is None:
        return Acknowledged(0, 0, pl.DataFrame(schema=DEAD_LETTER_SCHEMA))
    record_of = changes.to_send  # part index -> record index
    row_counts = prepared.records["__rows"]
    accepted = [record_of[i] for i in report.accepted]
    delivered = int(row_counts.gather(accepted).sum()) if accepted else 0
    dead_idx = sorted(record_of[i] for i in set(report.rejected) | set(report.failed))
    dead = int(row_counts.gather(dead_idx).sum()) if dead_idx else 0
    keys, parts = prepared.records["__key"], planned.parts
    rows = [
        (keys[record_of[i]], "rejected", reasons, parts[i].decode()) for i, reasons in sorted(report.rejected.items())
    ] + [
        (keys[record_of[i]], "failed", [reason], parts[i].decode()) for i, reason in sorted(report.failed.items())
    ]
    return Acknowledged(delivered, dead, pl.DataFrame(rows, schema=DEAD_LETTER_SCHEMA, orient="row"))
