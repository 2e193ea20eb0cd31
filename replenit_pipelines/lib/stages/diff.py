"""The diff stage: which valid records Replenit does not hold yet, against the acknowledged-state
ledger (lib/ledger/). Each valid record is new, changed or unchanged; unchanged ones cost nothing
and count as `rows_unchanged`. A record the API rejected (400) with this very content waits in the
retry queue and is held (its rows count as dead-lettered) until its content changes or a replay.
`full_refresh` sends everything anyway, and re-acknowledges it. Without a ledger (benches) every
valid record is new.

Each record is serialized once, here: the payload the diff hashes is the payload the plan sends.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from replenit_pipelines.lib.contract.payload import serialize_column
from replenit_pipelines.lib.ledger import diff as ledger_diff
from replenit_pipelines.lib.ledger import hold_unchanged_rejections
from replenit_pipelines.lib.validation.prepare import Prepared


class LedgerView(Protocol):
    """What the diff reads of a ledger (lib/ledger/store.py Ledger; a reconciliation's whole-ledger cache)."""

    def lookup_keys(self, identities: pl.Series | Sequence[str]) -> pl.DataFrame: ...
    def queued(self, statuses: Iterable[str] = ...) -> pl.DataFrame: ...


_SEND_SCHEMA = pl.Schema({"__pos": pl.UInt32, "__key": pl.String, "__rows": pl.Int64, "hash": pl.Binary, "exact": pl.Binary})


@dataclass(frozen=True)
class Diff:
    to_send: list[int]  # indices into prepared.records, in order
    parts: list[bytes] = field(default_factory=list)  # the payloads of to_send, aligned
    keys: list[str | None] = field(default_factory=list)  # the identities of to_send, aligned
    hashes: list[bytes | None] = field(default_factory=list)  # content hashes of to_send (None: no ledger)
    exact: list[bytes | None] = field(default_factory=list)  # exact-bytes hashes of to_send (None: no ledger)
    held: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_SEND_SCHEMA))  # rejected before, same content
    held_parts: list[bytes] = field(default_factory=list)  # the payloads of held, aligned
    restamp: pl.DataFrame | None = None  # identity, exact: unchanged content in new bytes
    records_new: int = 0
    records_changed: int = 0
    records_unchanged: int = 0  # not sent
    records_refreshed: int = 0  # unchanged, sent anyway (full_refresh)
    rows_unchanged: int = 0  # rows of the records not sent because Replenit holds them as they are
    full_refresh: bool = False

    @property
    def records_held(self) -> int:
        return self.held.height

    @property
    def rows_held(self) -> int:
        return int(self.held["__rows"].sum()) if self.held.height else 0


def nothing() -> Diff:
    """The diff of a window held back by the quarantine gate: nothing to send."""
    return Diff(to_send=[])


def diff(prepared: Prepared, ledger: LedgerView | None = None, full_refresh: bool = False) -> Diff:
    records = prepared.records
    # The window's payloads stay one Binary column; only those sent or held become bytes objects.
    parts = serialize_column(records)
    if ledger is None:
        return Diff(to_send=list(range(records.height)), parts=parts.to_list(), keys=records["__key"].to_list(),
                    hashes=[None] * len(parts), exact=[None] * len(parts), records_new=records.height)
    d = ledger_diff(records, parts, ledger.lookup_keys(records["__key"]), full_refresh)
    send, held = hold_unchanged_rejections(d.send, ledger.queued(("rejected", "needs_attention")))
    return Diff(
        to_send=send["__pos"].to_list(), parts=parts.gather(send["__pos"]).to_list(), keys=send["__key"].to_list(),
        hashes=send["hash"].to_list(), exact=send["exact"].to_list(), held=held.select(list(_SEND_SCHEMA)).cast(_SEND_SCHEMA),
        held_parts=parts.gather(held["__pos"]).to_list(), restamp=d.restamp, records_new=d.records_new, records_changed=d.records_changed,
        records_unchanged=d.records_unchanged, records_refreshed=d.records_refreshed, rows_unchanged=d.rows_unchanged,
        full_refresh=full_refresh,
    )
