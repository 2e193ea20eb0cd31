"""The acknowledge stage: what the API's answers mean for the window's records and rows, and the
acknowledged-state ledger advanced as they come.

During delivery, `on_accepted` (called by the client on its worker thread right after each 200)
records the batch's identities and content hashes in the ledger, one transaction per batch
(fsync'd on SQLite; on Postgres not waiting for the flush, which the run's end does:
lib/ledger/postgres.py): a kill -9 loses at most the acknowledgements of the requests in flight. After delivery,
`acknowledge` counts accepted records' rows as delivered, rejected, failed and held ones as
dead-lettered, and those the send-time check took out (`send_check`) as superseded or unchanged;
it queues the rejected and failed records for later runs (lib/ledger/retries.py), gives each dead
letter its attempts, first and last failure and last reason, restamps exact hashes and compacts
the ledger.

The send-time check (`send_check`, run by the client right before each request, after its quota
wait): the newest READ wins, whatever order requests land in. A run's records carry the moment
its warehouse read began (`read_at`); the ledger records it with each acknowledgement. A record
whose identity another run acknowledged since, with a version read later than this run's, is not
sent (NEWER_ELSEWHERE: counted as superseded), nor one whose acknowledged content is the very
same (STORED_ELSEWHERE: counted as unchanged; a request saved). docs/ledger.md says more.
"""

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from replenit_pipelines.lib.delivery import DeliveryReport
from replenit_pipelines.lib.delivery.upserts import BeforeSend
from replenit_pipelines.lib.ledger import Ledger, failures_to_queue
from replenit_pipelines.lib.stages.diff import Diff
from replenit_pipelines.lib.stages.plan import Plan
from replenit_pipelines.lib.validation.prepare import Prepared

DEAD_LETTER_SCHEMA = pl.Schema({"record_id": pl.String(), "status": pl.String(), "reasons": pl.List(pl.String), "payload": pl.String()})
# What the retry queue adds to a run's dead letters (null without a ledger).
DEAD_LETTER_HISTORY = pl.Schema({"attempts": pl.Int64(), "first_failure": pl.Datetime("ms", "UTC"),
                                 "last_failure": pl.Datetime("ms", "UTC"), "last_reason": pl.String()})
# Why the send-time check took a record out of a request (DeliveryReport.skipped).
NEWER_ELSEWHERE = "newer_elsewhere"  # another run stored a version read after this one: superseded
STORED_ELSEWHERE = "stored_elsewhere"  # the tenant holds this very content already: unchanged
HELD_REASON = ("held: the API rejected this same content before (see `replenit state --retries ENTITY`); "
               "it is sent again when it changes, or by `replenit replay ENTITY` after a fix")


@dataclass(frozen=True)
class Acknowledged:
    rows_delivered: int
    rows_dead_lettered: int  # rejected, failed and held records' rows
    dead_letters: pl.DataFrame  # DEAD_LETTER_SCHEMA (+ DEAD_LETTER_HISTORY): one row per rejected, failed or held record
    # Rows of records never sent because the delivery stopped first (the report holds them back;
    # they are queued for the next run of the entity, not dead-lettered).
    rows_not_attempted: int = 0
    records_not_attempted: int = 0
    # Taken out by the send-time check: another run stored a version read later (superseded), or
    # the very same content (unchanged).
    rows_newer_elsewhere: int = 0
    records_newer_elsewhere: int = 0
    rows_stored_elsewhere: int = 0
    records_stored_elsewhere: int = 0


def send_check(ledger: Ledger | None, keys: list[str | None], hashes: list[bytes | None], run_id: str,
               read_at: int | list[int | None] | None, full_refresh: bool = False) -> BeforeSend | None:
    """The client's `before_send`: part indices of one request -> those not to send, with why
    (NEWER_ELSEWHERE, STORED_ELSEWHERE), from one ledger lookup of their identities. `keys` and
    `hashes`: each part's identity and content hash. `read_at`: when this run's warehouse read
    began (one for the unit, or one per part; None, for the unit or a part: not known, only the
    same-content test applies). A full refresh re-sends what the tenant holds: no same-content test, but never over
    a newer read."""
    if ledger is None:
        return None

    def check(batch: list[int]) -> dict[int, str]:
        found = ledger.current_reads([k for i in batch if (k := keys[i]) is not None], run_id)
        out: dict[int, str] = {}
        for i in batch:
            key = keys[i]
            entry = found.get(key) if key is not None else None
            if entry is None:
                continue
            mine = read_at[i] if isinstance(read_at, list) else read_at
            if not full_refresh and entry.hash == hashes[i]:
                out[i] = STORED_ELSEWHERE
            elif mine is not None and entry.run_id != run_id and entry.read_at > mine:
                out[i] = NEWER_ELSEWHERE
        return out

    return check


def on_accepted(ledger: Ledger | None, changes: Diff, run_id: str,
                api_ids: list[str | None] | None = None, read_at: int | None = None) -> Callable[[list[int]], None] | None:
    """The client's callback: part indices of one accepted batch -> one ledger acknowledgement.
    `api_ids` (aligned with the parts): the id each record's DELETE takes, kept in the ledger;
    `read_at`: when the unit's warehouse read began, kept with it (the send-time check's order)."""
    if ledger is None:
        return None
    keys, hashes, exact = changes.keys, changes.hashes, changes.exact
    keep = getattr(ledger, "keep_payloads", False)  # REPLENIT_LEDGER_KEEP_PAYLOADS: the payloads go with their acknowledgement

    def record(batch: list[int]) -> None:
        # A record without identity is never acknowledged; with a ledger, every sent record has its hashes.
        acked = [(key, hashes[i], exact[i], i) for i in batch if (key := keys[i]) is not None]
        ledger.acknowledge([k for k, _, _, _ in acked], [h for _, h, _, _ in acked if h is not None], run_id,
                           [e for _, _, e, _ in acked if e is not None],
                           [api_ids[i] for _, _, _, i in acked] if api_ids is not None else None, read_at,
                           payloads=[changes.parts[i] for _, _, _, i in acked] if keep else None)

    return record


def acknowledge(prepared: Prepared, changes: Diff, planned: Plan, report: DeliveryReport | None,
                ledger: Ledger | None = None, run_id: str = "", read_at: int | None = None) -> Acknowledged:
    row_counts = prepared.records["__rows"]
    record_of = changes.to_send  # part index -> record index
    keys, parts = changes.keys, planned.parts
    rows: list[tuple] = []
    delivered = dead = not_attempted = newer = newer_rows = stored = stored_rows = 0
    if report is not None:
        accepted = [record_of[i] for i in report.accepted]
        delivered = int(row_counts.gather(accepted).sum()) if accepted else 0
        dead_idx = sorted(record_of[i] for i in (set(report.rejected) | set(report.failed)) - report.not_sent)
        dead = int(row_counts.gather(dead_idx).sum()) if dead_idx else 0
        unsent = sorted(record_of[i] for i in report.not_sent)
        not_attempted = int(row_counts.gather(unsent).sum()) if unsent else 0
        for why in (NEWER_ELSEWHERE, STORED_ELSEWHERE):
            skipped = sorted(record_of[i] for i, w in report.skipped.items() if w == why)
            skipped_rows = int(row_counts.gather(skipped).sum()) if skipped else 0
            if why == NEWER_ELSEWHERE:
                newer, newer_rows = len(skipped), skipped_rows
            else:
                stored, stored_rows = len(skipped), skipped_rows
        rows = [(keys[i], "rejected", reasons, parts[i].decode()) for i, reasons in sorted(report.rejected.items())] + [
            (keys[i], "failed", [reason], parts[i].decode()) for i, reason in sorted(report.failed.items())
            if i not in report.not_sent]
    held = changes.held
    if held.height:
        dead += changes.rows_held
        rows += [(k, "rejected", [HELD_REASON], p.decode()) for k, p in zip(held["__key"], changes.held_parts, strict=True)]
    letters = pl.DataFrame(rows, schema=DEAD_LETTER_SCHEMA, orient="row")
    if ledger is not None:
        if report is not None:
            queue_undelivered(ledger, changes, report, run_id, read_at)
        if changes.restamp is not None and changes.restamp.height:
            ledger.restamp(changes.restamp["identity"].to_list(), changes.restamp["exact"].to_list())
        ledger.compact()
        letters = with_history(letters, ledger)
    return Acknowledged(delivered, dead, letters, not_attempted, len(report.not_sent) if report is not None else 0,
                        newer_rows, newer, stored_rows, stored)


def planned_only(prepared: Prepared, changes: Diff) -> Acknowledged:
    """A dry run's outcome: nothing delivered; records held because the API rejected this same
    content count as dead-lettered, as they would in the real run (their dead letters are not
    written)."""
    return Acknowledged(0, changes.rows_held, pl.DataFrame(schema=DEAD_LETTER_SCHEMA))


def queue_undelivered(ledger: Ledger, changes: Diff, report: DeliveryReport, run_id: str, read_at: int | None = None) -> None:
    """Rejected and failed records into the retry queue (a record without identity cannot be
    matched later, and only stays a dead letter)."""
    outcome = [(i, "rejected", "; ".join(r)) for i, r in report.rejected.items()] + [
        (i, "failed", r) for i, r in report.failed.items()]
    queued = [(key, changes.parts[i], hash_, status, reason) for i, status, reason in outcome
              if (key := changes.keys[i]) is not None and (hash_ := changes.hashes[i]) is not None]
    if queued:
        ledger.queue_failures(failures_to_queue(
            [q[0] for q in queued], [q[1] for q in queued], [q[2] for q in queued], [q[3] for q in queued],
            [q[4] for q in queued], run_id, read_at))


def with_history(letters: pl.DataFrame, ledger: Ledger) -> pl.DataFrame:
    """Each dead letter with its retry-queue history: attempts, first and last failure, last reason."""
    queued = ledger.queued().select(
        pl.col("identity").alias("record_id"), "attempts",
        pl.from_epoch("first_failure", time_unit="ms").dt.replace_time_zone("UTC").alias("first_failure"),
        pl.from_epoch("last_failure", time_unit="ms").dt.replace_time_zone("UTC").alias("last_failure"),
        "last_reason")
    return letters.join(queued, on="record_id", how="left", maintain_order="left")
