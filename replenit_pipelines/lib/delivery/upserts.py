"""Upserts: planned request bodies sent on the session's workers. A 400 costs one request, not a
batch: the rejected records (named by the API's problem details) are set aside and the rest is
sent again, or the body is halved until the errors name records."""

import re
import threading
import time
from collections.abc import Callable, Sequence

from replenit_pipelines.lib.contract.entities import entity as entity_spec
from replenit_pipelines.lib.delivery import batching
from replenit_pipelines.lib.delivery.errors import AcknowledgementError, ReplenitStopError, SendCheckError, UnreachableError
from replenit_pipelines.lib.delivery.report import BatchProgress, DeliveryCounters, DeliveryReport, fail_unsettled, live_counters
from replenit_pipelines.lib.delivery.responses import api_message, problem_errors
from replenit_pipelines.lib.delivery.session import Exhausted, NothingToSend, Session

_INDEX_KEY = re.compile(r"^\[(\d+)\]")
# The send-time check: the indices of a body about to be sent -> those not to send, each with why.
BeforeSend = Callable[[list[int]], dict[int, str]]


def deliver_planned(session: Session, entity: str, parts: Sequence[bytes], batches: list[list[int]],
                    progress: Callable[[BatchProgress], None] | None = None,
                    on_accepted: Callable[[list[int]], None] | None = None,
                    before_send: BeforeSend | None = None) -> DeliveryReport:
    """Send planned batches. `on_accepted(indices)` runs on the worker thread right after each 200
    (sub-batches of a split 400 included), before the next request of that worker: the sync
    acknowledges the batch in its ledger there. If it raises, the delivery stops as a
    ReplenitStopError, so no request is spent that cannot be remembered. `before_send(indices)`
    runs after each request's quota wait, right before each attempt (a 400's re-sends and a 5xx's
    retries included): the records it names are not sent (`report.skipped`, with its reasons)."""
    started = time.monotonic()
    session.reset()
    report = DeliveryReport(entity=entity, records=len(parts))
    max_records = session.config.batch_sizes[entity]
    report.counters.batches = len(batches)
    report.counters.full_batches = sum(len(b) == max_records for b in batches)
    lock = threading.Lock()
    path = session.path(entity_spec(entity).path, session.config.tenant_id)
    done = {"batches": 0, "records": 0}
    live: dict[int, DeliveryCounters] = {}  # the counters of batches being sent, for live progress

    def run(index: int) -> None:
        batch = batches[index]
        counters = DeliveryCounters()
        with lock:
            live[id(counters)] = counters
        try:
            send_batch(session, path, parts, batch, report, lock, counters, on_accepted, before_send)
        finally:
            with lock:
                del live[id(counters)]
                report.counters.add(counters)
                done["batches"] += 1
                done["records"] += len(batch)

    def notify(final: bool = False, stopped: str | None = None) -> None:
        if progress is not None:
            with lock:
                c = live_counters(report.counters, live.values())
                event = BatchProgress(
                    entity, done["records"], len(parts), done["batches"], len(batches),
                    len(report.accepted), len(report.rejected), len(report.failed),
                    session.quota.eta_seconds(len(batches) - done["batches"]),
                    c.requests, c.rate_limited, c.retries, c.server_errors, final, stopped, len(report.not_sent),
                )
            progress(event)

    try:
        session.run_workers(len(batches), run, notify, "replenit")
    except ReplenitStopError as exc:
        with lock:
            fail_unsettled(report.failed, {*report.accepted, *report.rejected, *report.failed, *report.skipped}, range(len(parts)), exc,
                           report.not_sent)
        session.finish_report(report, started)
        notify(final=True, stopped=str(exc))
        exc.report = report
        raise
    session.finish_report(report, started)
    return report


def _gave_up(session: Session, exc: Exhausted, batch: list[int], report: DeliveryReport, lock: threading.Lock) -> None:
    """Retries ran out for one body: its records failed. Raises UnreachableError (the delivery
    stops) when nothing answers, or when batches in a row ended on 5xx answers (a storm)."""
    with lock:
        for i in batch:
            report.failed[i] = str(exc)
        if exc.not_sent:
            report.not_sent.update(batch)
        session.unreachable_streak = session.unreachable_streak + 1 if exc.unreachable else 0
        session.server_error_streak = session.server_error_streak + 1 if exc.server_errors else 0
        unreachable = exc.unreachable and (session.answers == 0
                                           or session.unreachable_streak >= session.config.max_unreachable_batches)
        storm = exc.server_errors and session.server_error_streak >= session.config.max_unreachable_batches
    if unreachable:
        session.stop.set()
        raise UnreachableError(
            f"cannot reach {session.config.base_url}: {exc}; check REPLENIT_BASE_URL and the network "
            "(nothing more is sent in this run; the records not accepted are retried by the next one)"
        ) from None
    if storm:
        session.stop.set()
        raise UnreachableError(
            f"cannot reach {session.config.base_url}: server errors on {session.server_error_streak} batches in a row "
            f"(last: {exc}); check REPLENIT_BASE_URL and the network, or Replenit's status "
            "(nothing more is sent in this run; the records not accepted are retried by the next one)"
        ) from None


class _CheckedBody:
    """A request's body, made right before each attempt from the records the send-time check
    (`before_send`) leaves; those it takes out are settled in `report.skipped`."""

    def __init__(self, session: Session, parts: batching.Parts, batch: list[int], report: DeliveryReport,
                 lock: threading.Lock, before_send: BeforeSend):
        self.session, self.parts, self.sending, self.report, self.lock = session, parts, batch, report, lock
        self.before_send = before_send

    def __call__(self) -> bytes | None:
        try:
            dropped = self.before_send(self.sending)
        except Exception as exc:  # the ledger cannot be asked: an unchecked send may overwrite newer data
            self.session.stop.set()
            raise SendCheckError(
                f"could not check {len(self.sending)} records against the ledger before sending them "
                f"({type(exc).__name__}: {exc}); delivery stopped: the next run sends them") from exc
        if dropped:
            sending = set(self.sending)
            with self.lock:
                self.report.skipped.update({i: why for i, why in dropped.items() if i in sending})
            self.sending = [i for i in self.sending if i not in dropped]
        return batching.join(self.parts, self.sending) if self.sending else None


def _too_large_alone(session: Session, parts: batching.Parts, batch: list[int], report: DeliveryReport,
                     lock: threading.Lock) -> bool:
    """A body of one record over the API's body limit: rejected with why, without a request (the
    API answers it 413, always). Larger bodies of several records are halved by the 413 path."""
    too_large = session.too_large(parts[batch[0]]) if len(batch) == 1 else None
    if too_large:
        with lock:
            report.rejected[batch[0]] = [too_large]
    return bool(too_large)


def send_batch(session: Session, path: str, parts: batching.Parts, batch: list[int], report: DeliveryReport,
           lock: threading.Lock, counters: DeliveryCounters,
           on_accepted: Callable[[list[int]], None] | None = None, before_send: BeforeSend | None = None) -> None:
    """Send one body; on 400 re-send it without the rejected records, or split it in halves.
    `before_send` (deliver_planned) may take records out of the body right before each attempt."""
    if _too_large_alone(session, parts, batch, report, lock):
        return
    body = _CheckedBody(session, parts, batch, report, lock, before_send) if before_send is not None else None
    try:
        resp = session.request("POST", path, counters, body=body if body is not None else batching.join(parts, batch))
    except NothingToSend:
        return
    except Exhausted as exc:
        _gave_up(session, exc, body.sending if body is not None else batch, report, lock)
        return
    if body is not None:
        batch = body.sending  # what this request carried: the 400's record indices are of it
    with lock:
        session.unreachable_streak = 0
        session.server_error_streak = 0
    if resp.status_code == 200:
        with lock:
            report.accepted.extend(batch)
        if on_accepted is not None:
            try:
                on_accepted(batch)
            except Exception as exc:  # e.g. the ledger's disk is full: sending more would spend unremembered requests
                session.stop.set()
                raise AcknowledgementError(
                    f"the API accepted {len(batch)} records but their acknowledgement could not be recorded "
                    f"({type(exc).__name__}: {exc}); delivery stopped: the next run re-sends at most this batch"
                ) from exc
        return
    session.raise_if_stop(resp)
    if resp.status_code not in (400, 413):
        # Not about the records (a wrong path or media type): halving would only multiply it.
        reason = f"HTTP {resp.status_code}: {api_message(resp) or resp.text[:200]}"
        with lock:
            for i in batch:
                report.rejected[i] = [reason]
        return
    counters.rejected_requests += 1
    errors = problem_errors(resp)
    by_record: dict[int, list[str]] = {}
    unmapped = resp.status_code == 413 or not errors
    for key, messages in errors.items():
        m = _INDEX_KEY.match(key)
        if m and int(m.group(1)) < len(batch):
            field = key[m.end():].lstrip(".")
            by_record.setdefault(batch[int(m.group(1))], []).extend(
                f"{field}: {msg}" if field else msg for msg in messages
            )
        else:
            unmapped = True
    if not unmapped:
        with lock:
            report.rejected.update(by_record)
        rest = [i for i in batch if i not in by_record]
        if rest:
            send_batch(session, path, parts, rest, report, lock, counters, on_accepted, before_send)
        return
    if len(batch) == 1:
        reasons = [f"{k or '(record)'}: {'; '.join(v)}" for k, v in errors.items()] or [f"HTTP {resp.status_code}: {api_message(resp) or resp.text[:200]}"]
        with lock:
            report.rejected[batch[0]] = reasons
        return
    mid = len(batch) // 2  # the errors do not name records: halve until they do
    send_batch(session, path, parts, batch[:mid], report, lock, counters, on_accepted, before_send)
    send_batch(session, path, parts, batch[mid:], report, lock, counters, on_accepted, before_send)
