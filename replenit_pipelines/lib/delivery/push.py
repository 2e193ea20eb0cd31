"""`replenit push`: send a file of payload records, streamed, de-duplicated, checked before sending.

Two passes over the file, so that memory does not grow with it:

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

import difflib
import hashlib
import json
import math
import threading
import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from replenit_pipelines.lib.contract.entities import entity as entity_spec
from replenit_pipelines.lib.contract.identity import identity_fields, record_identity
from replenit_pipelines.lib.contract.payload import serialize_record
from replenit_pipelines.lib.contract.records import has_value, validate_record
from replenit_pipelines.lib.delivery.client import ReplenitClient, StreamReport
from replenit_pipelines.lib.delivery.errors import ReplenitStopError
from replenit_pipelines.lib.delivery.report import DeliveryReport
from replenit_pipelines.lib.delivery.record_files import PushFileError, SourceRecord, read_records, where_in_file

_SORT_CHUNK = 1 << 20
_STORE_EVERY = 5_000  # refused and dead-lettered records are written to the state store in chunks

# The exit codes of `replenit push` (documented in its --help and docs/delivery.md).
EXIT_OK = 0  # every record read was accepted (or superseded by a later version that was)
EXIT_NOT_ACCEPTED = 1  # some record was refused locally, rejected by the API, or failed
EXIT_USAGE = 2  # the file, a setting or an argument is wrong: nothing was sent
EXIT_STOPPED = 3  # the API refused the key or tenant (401/403/404): the rest was not sent


# --- pass 1: which record is the last version of its identity --------------------------------------

def _identity(entity: str, value: dict, customer_priority: str) -> str | None:
    try:
        return record_identity(entity, value, customer_priority)
    except (AttributeError, TypeError):
        return None  # an identifier of the wrong type: validation refuses the record


def _type_name(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


@dataclass
class Scan:
    records: int
    last_version: np.ndarray  # bool per record: True for the last version of its identity
    superseded: int


def scan(path: Path, entity: str, customer_priority: str) -> Scan:
    """Pass 1: check the file is a list of objects and find the last version of each identity.

    Memory: 12 bytes per record (a 64-bit and a 32-bit digest of the identity), 20 at the peak
    of the sort, and the 10M-record file stays under 300 MB (bench/push_memory.py). 96 bits make a
    false match between two identities about as likely as 1 in 10^14 in a file of 10 million."""
    high, low = array("Q"), array("I")  # 8 and 4 bytes
    for rec in read_records(path, identity_fields(entity)):
        if type(rec.value) is not dict:
            raise PushFileError(
                f"{where_in_file(path, rec.index, rec.line)} is {_type_name(rec.value)}, not an object: a push file "
                f"holds {entity} payload records, each a JSON object such as {_example(entity)}")
        ident = _identity(entity, rec.value, customer_priority)
        key = (ident if ident is not None else f"\0no identity\0{rec.index}").encode()
        digest = hashlib.blake2b(key, digest_size=12).digest()
        high.append(int.from_bytes(digest[:8], "little"))
        low.append(int.from_bytes(digest[8:], "little"))
    assert high.itemsize == 8 and low.itemsize == 4
    n = len(high)
    if not n:
        return Scan(0, np.zeros(0, dtype=bool), 0)
    last = last_of_each(np.frombuffer(high, dtype=np.uint64), np.frombuffer(low, dtype=np.uint32))
    return Scan(n, last, int(n - last.sum()))


def last_of_each(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """True at the last position of each (hi, lo) pair. A sorted copy of hi shows which 64-bit
    digests repeat; only the records carrying one (versions of one identity, or in the rarest
    case two identities sharing 64 bits) are sorted again, by hi, lo and position, to find each
    pair's last position. numpy, not a Polars hash table: the peak is the digests and one sorted
    copy of hi (20 bytes per record), plus about 30 bytes per record that has other versions."""
    n = hi.size
    ordered = np.sort(hi)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    last = np.ones(n, dtype=bool)
    if not repeated.size:
        return last
    found = []
    for start in range(0, n, _SORT_CHUNK):  # a chunk at a time: no array of positions for every record
        chunk = hi[start:start + _SORT_CHUNK]
        at = np.searchsorted(repeated, chunk).clip(max=repeated.size - 1)
        found.append(np.flatnonzero(repeated[at] == chunk) + start)
    members = np.concatenate(found)  # records whose hi repeats, in file order
    sub = np.lexsort((members, lo[members], hi[members]))  # by hi, then lo, then position in the file
    key_hi, key_lo = hi[members][sub], lo[members][sub]
    sub_last = np.ones(sub.size, dtype=bool)
    sub_last[:-1] = (key_hi[1:] != key_hi[:-1]) | (key_lo[1:] != key_lo[:-1])
    last[members] = False
    last[members[sub[sub_last]]] = True
    return last


def _example(entity: str) -> str:
    return {"customers": '{"CustomerId": "c1", "Email": "ada@example.com"}',
            "orders": '{"OrderId": "o1", "CustomerId": "c1", ...}',
            "products": '{"ProductId": "p1", "ProductName": "Mug", ...}'}[entity]


# --- pass 2: check, serialize, send ----------------------------------------------------------------

def non_finite_fields(value: Any, path: str = "") -> list[str]:
    """Paths of NaN, Infinity and -Infinity anywhere in a record (JSON serializers send them as null)."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path or "(record)"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite_fields(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in non_finite_fields(v, f"{path}[{i}]")]
    return []


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
    def not_sent(self) -> int:
        done = self.superseded + self.refused
        if self.report is not None:
            done += self.report.accepted_count + len(self.report.rejected) + len(self.report.failed)
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


def _field_of(error_path: str) -> str:
    """`[3].OrderItems[1].Price` -> `OrderItems[1].Price`; `[3]` -> ``."""
    return error_path.split("]", 1)[1].lstrip(".") if "]" in error_path else error_path


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
            problems = _problems(spec, value, rec.index)
            if problems:
                with guard:
                    outcome.refused += 1
                    outcome.not_accepted.append(NotAccepted(rec.index, rec.line, record_id, "refused",
                                                            [f"{fld or '(record)'}: {reason}" for _, fld, _, reason in problems]))
                    writer.refused(rec, record_id, [(rule, fld, raw) for rule, fld, raw, _ in problems])
                continue
            try:
                part = serialize_record(value)
            except TypeError as exc:  # orjson.JSONEncodeError: an integer beyond 64 bits, say
                with guard:
                    outcome.refused += 1
                    reasons = _unserializable(value, exc)
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
        for i, reason in sorted(result.failed.items()):
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


def _file_stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _check_unchanged(path: Path, stamp: tuple[int, int, int], when: str) -> None:
    if _file_stamp(path) != stamp:
        raise PushFileError(f"{path}: the file changed {when} (size, modification time or inode); push a file "
                            "that is not being written or replaced")


FINITE_REASON = "not a finite number (NaN or Infinity): write a number, or leave the field out"
# Fields the API fills with a wrong value when they are missing: a reason never suggests leaving them out.
_ALWAYS_SENT = {"orders": {"TotalRevenue"}}
FINITE_REASON_ALWAYS_SENT = ("not a finite number (NaN or Infinity): write a number (the API stores an order "
                             "without TotalRevenue as revenue 1)")
MISSING_REVENUE_REASON = ("missing: the API stores an order without TotalRevenue as revenue 1; send the "
                          "order's revenue (0 for none)")


def _problems(spec: Any, value: Any, index: int) -> list[tuple[str, str, str, str]]:
    """(rule, field, raw value, reason) for each reason the record cannot be sent; [] when it can."""
    always_sent = _ALWAYS_SENT.get(spec.name, set())
    problems = [("finite", p, str(_get(value, p)), FINITE_REASON_ALWAYS_SENT if p in always_sent else FINITE_REASON)
                for p in non_finite_fields(value)]
    seen = {p for _, p, _, _ in problems}
    for e in validate_record(spec, value, index):
        fld = _field_of(e.path)
        if e.code == "finite" and fld in seen:
            continue  # already named as NaN/Infinity
        problems.append((e.code, fld, _short(_get(value, fld)), e.message))
    problems.extend(_unknown_fields(spec, value))
    if type(value) is dict:
        for name in sorted(always_sent):
            if not has_value(value.get(name)) and name not in {p for _, p, _, _ in problems}:
                problems.append(("required", name, _short(value.get(name)), MISSING_REVENUE_REASON))
    return problems


def _unknown_fields(spec: Any, value: Any) -> list[tuple[str, str, str, str]]:
    """Properties the contract does not have, in the record and in its children: JSON names are
    case-sensitive at the API, so `email` for `Email` would be dropped and the record stored
    without it."""
    if type(value) is not dict:
        return []
    found = [(name, name) for name in value if name not in _field_names(spec)]
    children = spec.children_field
    if children is not None and type(value.get(children.name)) is list:
        child_names = _field_names(children.children)
        for i, item in enumerate(value[children.name]):
            if type(item) is dict:
                found += [(f"{children.name}[{i}].{name}", name) for name in item if name not in child_names]
    problems = []
    for path, name in found:
        known = children.children if children is not None and "[" in path else spec
        problems.append(("unknown_field", path, _short(_get(value, path)),
                         f"not a field of {known.singular or known.name + ' items'}{_did_you_mean(name, known)}: the API "
                         f"matches property names case-sensitively and would drop it"))
    return problems


def _field_names(spec: Any) -> frozenset[str]:
    return frozenset(f.name for f in spec.fields)


def _did_you_mean(name: str, spec: Any) -> str:
    names = sorted(_field_names(spec))
    by_lower = {n.lower(): n for n in names}
    close = [by_lower[name.lower()]] if name.lower() in by_lower else difflib.get_close_matches(
        name.lower(), list(by_lower), n=1, cutoff=0.75)
    if close:
        return f" (did you mean {by_lower.get(close[0], close[0])}?)"
    return f" (its fields: {', '.join(names)})"


_INT_RANGE = (-(1 << 63), (1 << 64) - 1)  # what a JSON serializer (orjson) writes as an integer


def _unserializable(value: Any, exc: Exception, path: str = "") -> list[tuple[str, str, str]]:
    """(field, raw value, reason) for what the serializer cannot write: integers beyond 64 bits by
    field; anything else as the serializer's own message for the record."""
    found: list[tuple[str, str, str]] = []

    def walk(v: Any, at: str) -> None:
        if type(v) is int and not _INT_RANGE[0] <= v <= _INT_RANGE[1]:
            found.append((at or "(record)", _short(v),
                          "an integer beyond 64 bits, which cannot be written as JSON: write the real value"))
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(item, f"{at}.{k}" if at else str(k))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                walk(item, f"{at}[{i}]")

    walk(value, path)
    return found or [("(record)", "", f"cannot be written as JSON ({exc})")]


def _get(value: Any, dotted: str) -> Any:
    """The value at `OrderItems[1].Price` in a record (None when absent)."""
    cur = value
    for part in dotted.replace("[", ".[").split("."):
        if not part:
            continue
        try:
            cur = cur[int(part[1:-1])] if part.startswith("[") else cur.get(part)
        except (AttributeError, IndexError, TypeError, ValueError):
            return None
    return cur


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


__all__ = ["EXIT_NOT_ACCEPTED", "EXIT_OK", "EXIT_STOPPED", "EXIT_USAGE", "PushFileError", "PushOutcome",
           "non_finite_fields", "push_file", "read_records", "scan"]
