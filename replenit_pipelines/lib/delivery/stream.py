"""Upserts from a stream (`replenit push`): batches cut as records arrive, never more than the
batches in flight held at once; the report counts accepted records instead of listing them."""

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from replenit_pipelines.lib.contract.entities import entity as entity_spec
from replenit_pipelines.lib.delivery.errors import ReplenitStopError
from replenit_pipelines.lib.delivery.report import (
    BatchProgress,
    DeliveryCounters,
    DeliveryReport,
    fail_unsettled,
    live_counters,
    wait_reporting,
)
from replenit_pipelines.lib.delivery.session import Session
from replenit_pipelines.lib.delivery.upserts import send_batch


@dataclass
class StreamReport(DeliveryReport):
    """A DeliveryReport for a stream: accepted records are counted, not listed (their indices
    would grow with the file); rejected and failed ones are kept, since each must be explained."""

    accepted_count: int = 0
    records_done: int = 0
    batches_done: int = 0

    @property
    def records_per_request(self) -> float:
        return self.accepted_count / self.counters.requests if self.counters.requests else 0.0

    def summary(self) -> dict:
        return {**super().summary(), "accepted": self.accepted_count,
                "records_per_request": round(self.records_per_request, 1)}


def stream_batches(parts: Iterable[tuple[int, bytes]], max_records: int, max_bytes: int) -> Iterator[dict[int, bytes]]:
    """batching.plan_batches over an iterator: consecutive records, full by count unless bytes cut
    them short; a record too large for any body gets a batch of its own."""
    batch: dict[int, bytes] = {}
    size = 2
    for index, part in parts:
        extra = len(part) + (1 if batch else 0)
        if batch and (len(batch) >= max_records or size + extra > max_bytes):
            yield batch
            batch, size, extra = {}, 2, len(part)
        batch[index] = part
        size += extra
    if batch:
        yield batch


def deliver_stream(
    session: Session,
    entity: str,
    parts: Iterable[tuple[int, bytes]],
    progress: Callable[[BatchProgress], None] | None = None,
    on_batch: Callable[[dict[int, bytes], DeliveryReport], None] | None = None,
    records_total: int | None = None,
) -> StreamReport:
    """Upsert records read from an iterator of (index, serialized record), never holding more
    than the batches in flight: batches are cut as records arrive, at most 2 x max_in_flight
    are planned or in flight, and the report counts accepted records instead of listing them.
    `on_batch(batch, outcome)` sees each finished batch (its records by index, and which were
    accepted, rejected or failed) while its bodies are still at hand. Records must not share
    an identity (de-duplicate first): batches in flight land in any order."""
    spec = entity_spec(entity)
    started = time.monotonic()
    session.reset()
    report = StreamReport(entity=entity, records=0)
    lock = threading.Lock()
    path = f"/{spec.path}/{session.config.tenant_id}"
    max_records = session.config.batch_sizes[entity]
    slots = threading.Semaphore(2 * session.config.max_in_flight)

    live: dict[int, DeliveryCounters] = {}  # the counters of batches being sent, for live progress

    def run(batch: dict[int, bytes]) -> None:
        counters = DeliveryCounters()
        with lock:
            live[id(counters)] = counters
        outcome = DeliveryReport(entity=entity, records=len(batch))
        try:
            send_batch(session, path, batch, list(batch), outcome, threading.Lock(), counters)
        except ReplenitStopError as exc:
            # The batch the stop met (a 401 answer, say): what it did not settle was not stored, so
            # it is not sent, as a planned delivery counts it, not left uncounted.
            fail_unsettled(outcome.failed, {*outcome.accepted, *outcome.rejected, *outcome.failed}, batch, exc, outcome.not_sent)
            raise
        finally:
            with lock:
                del live[id(counters)]
                report.counters.add(counters)
                report.accepted_count += len(outcome.accepted)
                report.rejected.update(outcome.rejected)
                report.failed.update(outcome.failed)
                report.not_sent.update(outcome.not_sent)
                report.batches_done += 1
                report.records_done += len(batch)
            try:
                if on_batch is not None:
                    on_batch(batch, outcome)
            finally:
                slots.release()

    last_event = [time.monotonic()]

    def notify(final: bool = False, stopped: str | None = None) -> None:
        last_event[0] = time.monotonic()
        if progress is None:
            return
        with lock:
            total = records_total if records_total is not None else report.records
            batches_total = max(report.counters.batches, math.ceil(total / max_records))
            c = live_counters(report.counters, live.values())
            # Stopped: the records never read from the stream are not sent too (BatchProgress counts
            # the not sent among the failed, as a planned delivery's report does).
            unread = total - report.records_done if stopped is not None else 0
            event = BatchProgress(
                entity, report.records_done, total, report.batches_done, batches_total,
                report.accepted_count, len(report.rejected), len(report.failed) + unread,
                session.quota.eta_seconds(batches_total - report.batches_done),
                c.requests, c.rate_limited, c.retries, c.server_errors, final, stopped,
                len(report.not_sent) + unread,
            )
        progress(event)

    every_s = session.config.progress_every_s

    def planned(batch: dict[int, bytes]) -> dict[int, bytes]:
        report.records += len(batch)
        report.counters.batches += 1
        report.counters.full_batches += len(batch) == max_records
        return batch

    batches = stream_batches(parts, max_records, session.config.max_body_bytes)
    try:
        first = next(batches, None)
        if first is not None:
            slots.acquire()
            run(planned(first))  # alone: a bad key or tenant costs one request, not one per worker
            notify()
        with ThreadPoolExecutor(max_workers=session.config.max_in_flight, thread_name_prefix="replenit") as pool:
            pending: set = set()
            try:
                for batch in batches:
                    # Reading waits while the planned and in-flight batches are all taken; progress
                    # is reported on a timer meanwhile, not only when a batch finishes.
                    while not slots.acquire(timeout=max(0.0, last_event[0] + every_s - time.monotonic())):
                        notify()
                    finished = {f for f in pending if f.done()}
                    for f in finished:
                        f.result()
                    pending -= finished
                    if time.monotonic() >= last_event[0] + every_s:
                        notify()
                    pending.add(pool.submit(run, planned(batch)))
                wait_reporting(pending, notify, every_s, last_event[0])
                notify(final=True)
            except BaseException:
                session.halt()  # what is still queued is not sent; in-flight requests end
                raise
    except ReplenitStopError as exc:
        session.halt()
        session.finish_report(report, started)
        notify(final=True, stopped=str(exc))  # the last line says the delivery stopped, and why
        exc.report = report
        raise
    session.finish_report(report, started)
    return report
