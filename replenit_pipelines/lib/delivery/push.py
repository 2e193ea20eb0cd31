"""`replenit push`: send a file of payload records, streamed, de-duplicated, checked before sending.

Two passes over the file, so that memory does not grow with it (pass 1: push_scan.py; the checks
of pass 2: push_checks.py):

1. **Scan**: parse every record (a file that is not a list of JSON objects stops here, before
   anything is sent, with the file and line named) and keep a 12-byte digest of each record's
   identity, the one the tenant matches it by (`contract/identity.py`). From the digests, the
   last version of each identity is known: only that one is sent, since batches in flight land
   in any order and an older version could otherwise win. The others are counted as superseded.
2. **Send**: parse again, record by record; refuse locally what the API would refuse (the
   contract's `validate_record`, plus NaN and Infinity anywhere, which JSON serializers turn into
   null) and what it would store wrong (an order without `TotalRevenue`, stored as revenue 1);
   serialize the rest and hand them to the client's streaming delivery, a few batches at
   a time.

Every record ends accepted, superseded, refused (locally), rejected (by the API), failed (retries
ran out) or not sent (the delivery stopped on a 401/403/404): records read is their sum.
"""

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replenit_pipelines.lib.contract.entities import entity as entity_spec
from replenit_pipelines.lib.contract.payload import serialize_record
from replenit_pipelines.lib.delivery.client import ReplenitClient, StreamReport
from replenit_pipelines.lib.delivery.errors import ReplenitStopError
from replenit_pipelines.lib.delivery.push_checks import non_finite_fields, problems, unserializable
from replenit_pipelines.lib.delivery.push_scan import Scan, scan
from replenit_pipelines.lib.delivery.record_files import PushFileError, SourceRecord, check_is_file, read_records
from replenit_pipelines.lib.delivery.report import DeliveryReport

_STORE_EVERY = 5_000  # refused and dead-lettered records are written to the state store in chunks

# The exit codes of `replenit push` (documented in its --help and docs/delivery.md).
EXIT_OK = 0  # every record read was accepted (or superseded by a later version that was)
EXIT_NOT_ACCEPTED = 1  # some record was refused locally, rejected by the API, or failed
EXIT_USAGE = 2  # the file, a setting or an argument is wrong: nothing was sent
EXIT_STOPPED = 3  # the API refused the key or tenant (401/403/404): the rest was not sent


def _record_id(entity: str, value: Any) -> str | None:
    if type(value) is not dict:
        return None
    key = value.get(entity_spec(entity).key_field or "CustomerId")
    if key is None and entity == "customers":
        key = value.get("Email")
    return None if key is None else str(key)


@dataclass
class NotAccepted:
    index: int
    line: int | None
    record_id: str | None
    status: str  # "refused" (before sending), "rejected" (by the API), "failed" (retries ran out)
    reasons: list[str]

    def as_dict(self) -> dict:
        d = {"index": self.index, "line": self.line, "id": self.record_id, "status": self.status, "reasons": self.reasons}
        return {k: v for k, v in d.items() if v is not None}

    def text(self) -> str:
        where = f"record {self.index}" + (f" (line {self.line})" if self.line is not None else "")
        return f"{self.status} {where} id {self.record_id!s}: {'; '.join(self.reasons)}"


@dataclass
class PushOutcome:
    entity: str
    file: str
    run_id: str
    records_read: int = 0
    superseded: int = 0
    refused: int = 0
    report: StreamReport | None = None
    not_accepted: list[NotAccepted] = field(default_factory=list)
    stopped: str | None = None  # why the delivery stopped early (401/403/404)

    @property
    def failed(self) -> int:
        """Records sent whose retries ran out (not those the delivery stopped before sending)."""
        return len(self.report.failed) - len(self.report.not_sent) if self.report is not None else 0

    @property
    def not_sent(self) -> int:
        done = self.superseded + self.refused + self.failed
        if self.report is not None:
            done += self.report.accepted_count + len(self.report.rejected)
        return self.records_read - done

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_STOPPED
        return EXIT_NOT_ACCEPTED if self.not_accepted or self.not_sent else EXIT_OK

    def summary(self) -> dict:
        head = {"entity": self.entity, "file": self.file, "run_id": self.run_id, "records_read": self.records_read,
                "superseded": self.superseded, "refused": self.refused}
        delivery = self.report.summary() if self.report is not None else {"accepted": 0, "rejected": 0, "failed": 0}
        delivery.pop("entity", None)
        delivery["sent"] = delivery.pop("records", 0)
        delivery["failed"] = self.failed
        return {**head, **delivery, "not_sent": self.not_sent}


class _StateWriter:
    """Refused records to the quarantine table, rejected and failed ones to dead_letters, in chunks."""

    def __init__(self, open_store: Callable[[], Any] | None, run_id: str, source: str, entity: str):
        self.open_store = open_store
        self.store: Any = None  # opened at the first write: a clean push never loads it
        self.run_id, self.source, self.entity = run_id, source, entity
        self.quarantine: list[tuple] = []
        self.dead: list[tuple] = []

    def refused(self, rec: SourceRecord, record_id: str | None, errors: list[tuple[str, str, str]]) -> None:
        for rule, fld, value in errors:
            self.quarantine.append((record_id, rec.index, rule, fld, value))
        self._maybe_flush()

    def dead_letter(self, record_id: str | None, status: str, reasons: list[str], payload: bytes) -> None:
        self.dead.append((record_id, status, reasons, payload.decode()))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self.quarantine) + len(self.dead) >= _STORE_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.open_store is None or not (self.quarantine or self.dead):
            self.quarantine.clear()
            self.dead.clear()
            return
        import polars as pl  # here, not at the top: Polars and DuckDB cost 60 MB that a clean push never needs

        if self.store is None:
            assert self.open_store is not None, "records to write, and no state store to write them to"
            self.store = self.open_store()
        store = self.store
        q = pl.DataFrame(self.quarantine, orient="row", schema={
            "record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String, "field": pl.String, "value": pl.String})
        d = pl.DataFrame(self.dead, orient="row", schema={
            "record_id": pl.String, "status": pl.String, "reasons": pl.List(pl.String), "payload": pl.String})
        store.append_push(self.run_id, self.source, self.entity, q, d)
        self.quarantine.clear()
        self.dead.clear()


def push_file(
    client: ReplenitClient,
    entity: str,
    path: Path,
    customer_priority: str,
    open_store: Callable[[], Any] | None = None,
    progress: Callable[[Any], None] | None = None,
    on_scanned: Callable[[Scan], None] | None = None,
) -> PushOutcome:
    """Send a file's records (JSON array, NDJSON or Parquet) as described in the module docstring.
    `open_store()` (a StateStore), called at the first record to write, receives the refused,
    rejected and failed records. A ReplenitStopError
    (401/403/404) ends the push early; the outcome says so in `stopped`."""
    spec = entity_spec(entity)
    check_is_file(path)  # before its stamp: a missing file is bad input (exit 2), not a traceback
    scanned_stamp = _file_stamp(path)
    found = scan(path, entity, customer_priority)
    _check_unchanged(path, scanned_stamp, "while it was scanned")
    if on_scanned is not None:
        on_scanned(found)
    outcome = PushOutcome(entity, str(path), f"push-{uuid.uuid4().hex[:12]}", found.records, found.superseded)
    writer = _StateWriter(open_store, outcome.run_id, str(path), entity)
    guard = threading.Lock()  # batches finish in worker threads while the reader refuses records
    where: dict[int, tuple[int | None, str | None]] = {}  # index -> (line, id), for records in flight only

    def to_send() -> Iterator[tuple[int, bytes]]:
        # The scan's flags (which record is the last version) hold only for the file it read.
        _check_unchanged(path, scanned_stamp, "between the scan and the send")
        yield from records_to_send()
        _check_unchanged(path, scanned_stamp, "while it was sent")

    def records_to_send() -> Iterator[tuple[int, bytes]]:
        for rec in read_records(path):
            if rec.index >= found.records:
                raise PushFileError(f"{path}: the file grew while it was pushed; push a file that is not being written")
            if not found.last_version[rec.index]:
                continue
            value = rec.value
            record_id = _record_id(entity, value)
            found_problems = problems(spec, value, rec.index)
            if found_problems:
                with guard:
                    outcome.refused += 1
                    outcome.not_accepted.append(NotAccepted(rec.index, rec.line, record_id, "refused",
                                                            [f"{fld or '(record)'}: {reason}" for _, fld, _, reason in found_problems]))
                    writer.refused(rec, record_id, [(rule, fld, raw) for rule, fld, raw, _ in found_problems])
                continue
            try:
                part = serialize_record(value)
            except TypeError as exc:  # orjson.JSONEncodeError: an integer beyond 64 bits, say
                with guard:
                    outcome.refused += 1
                    reasons = unserializable(value, exc)
                    outcome.not_accepted.append(NotAccepted(rec.index, rec.line, record_id, "refused",
                                                            [f"{fld}: {reason}" for fld, _, reason in reasons]))
                    writer.refused(rec, record_id, [("serialize", fld, raw) for fld, raw, _ in reasons])
                continue
            where[rec.index] = (rec.line, record_id)
            yield rec.index, part

    def on_batch(batch: dict[int, bytes], result: DeliveryReport) -> None:
        with guard:
            _settle(batch, result)

    def _settle(batch: dict[int, bytes], result: DeliveryReport) -> None:
        for i, reasons in sorted(result.rejected.items()):
            line, rid = where.get(i, (None, None))
            outcome.not_accepted.append(NotAccepted(i, line, rid, "rejected", reasons))
            writer.dead_letter(rid, "rejected", reasons, batch[i])
        for i, reason in _failed_after_sending(result):
            line, rid = where.get(i, (None, None))
            outcome.not_accepted.append(NotAccepted(i, line, rid, "failed", [reason]))
            writer.dead_letter(rid, "failed", [reason], batch[i])
        for i in batch:
            where.pop(i, None)

    try:
        outcome.report = client.deliver_stream(entity, to_send(), progress, on_batch,
                                               records_total=found.records - found.superseded)
    except ReplenitStopError as exc:
        outcome.report = exc.report if isinstance(exc.report, StreamReport) else None
        outcome.stopped = str(exc)
    finally:
        writer.flush()
    outcome.not_accepted.sort(key=lambda r: r.index)
    return outcome


def _failed_after_sending(result: DeliveryReport) -> list[tuple[int, str]]:
    """The failed records that were sent, by index. Those never sent (the delivery stopped first)
    count in PushOutcome.not_sent, and are not dead-lettered: pushing the file again sends them."""
    return sorted((i, reason) for i, reason in result.failed.items() if i not in result.not_sent)


def _file_stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _check_unchanged(path: Path, stamp: tuple[int, int, int], when: str) -> None:
    if _file_stamp(path) != stamp:
        raise PushFileError(f"{path}: the file changed {when} (size, modification time or inode); push a file "
                            "that is not being written or replaced")


__all__ = ["EXIT_NOT_ACCEPTED", "EXIT_OK", "EXIT_STOPPED", "EXIT_USAGE", "PushFileError", "PushOutcome",
           "non_finite_fields", "push_file", "read_records", "scan"]
