"""The diff stage: which valid records Replenit does not hold yet.

Today there is no acknowledged-state ledger, so every valid record is new and none is unchanged
(issue 11 fills this stage: new / changed / unchanged against the ledger, `full_refresh`).
"""

from dataclasses import dataclass

from replenit_pipelines.lib.validation.prepare import Prepared


@dataclass(frozen=True)
class Diff:
    to_send: list[int]  # indices into prepared.records, in order
    rows_unchanged: int = 0  # rows of records Replenit already holds as they are

    @property
    def records_new(self) -> int:
        return len(self.to_send)


def diff(prepared: Prepared) -> Diff:
    return Diff(to_send=list(range(prepared.records_valid)))
