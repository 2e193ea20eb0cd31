"""What happened to each record of a delivery, and what it cost."""

import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from dataclasses import dataclass, field


@dataclass
class DeliveryCounters:
    requests: int = 0
    rate_limited: int = 0  # 429 answers
    retries: int = 0  # requests re-sent after a 5xx, a timeout or a dropped connection
    server_errors: int = 0  # 5xx answers (each retried, or the last attempt of a request)
    rejected_requests: int = 0  # 400 answers
    bytes_sent: int = 0
    quota_wait_s: float = 0.0  # wall-clock seconds in which some request waited for quota
    backoff_wait_s: float = 0.0
    wall_s: float = 0.0
    batches: int = 0  # bodies planned before any 400 split them
    full_batches: int = 0

    def add(self, other: "DeliveryCounters") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class DeliveryReport:
    entity: str
    records: int
    accepted: list[int] = field(default_factory=list)  # indices into the input, in no order
    rejected: dict[int, list[str]] = field(default_factory=dict)  # index -> the API's messages
    failed: dict[int, str] = field(default_factory=dict)  # index -> why retries ran out
    # Of `failed`: never sent, because the delivery stopped first (401/403/404, an unreachable API):
    # not attempted, so the sync holds them back and queues them, and dead-letters none of them.
    not_sent: set[int] = field(default_factory=set)
    counters: DeliveryCounters = field(default_factory=DeliveryCounters)
    # index -> why it was not sent: the send-time check (`before_send`) found the tenant holds it
    # already or holds a version read later (the caller's reason codes). Settled, never attempted.
    skipped: dict[int, str] = field(default_factory=dict)

    @property
    def records_per_request(self) -> float:
        return len(self.accepted) / self.counters.requests if self.counters.requests else 0.0

    def summary(self) -> dict:
        c = self.counters
        return {
            "entity": self.entity,
            "records": self.records,
            "accepted": len(self.accepted),
            "rejected": len(self.rejected),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "requests": c.requests,
            "rate_limited": c.rate_limited,
            "retries": c.retries,
            "rejected_requests": c.rejected_requests,
            "bytes_sent": c.bytes_sent,
            "batches": c.batches,
            "full_batches": c.full_batches,
            "quota_wait_s": round(c.quota_wait_s, 3),
            "backoff_wait_s": round(c.backoff_wait_s, 3),
            "wall_s": round(c.wall_s, 3),
            "records_per_request": round(self.records_per_request, 1),
        }


@dataclass
class DeleteReport:
    """What happened to each delete of `delete_records` (indices into its api_ids)."""

    entity: str
    records: int
    deleted: list[int] = field(default_factory=list)  # 200
    already_gone: list[int] = field(default_factory=list)  # 404 of the record: done
    failed: dict[int, str] = field(default_factory=dict)  # retries ran out, or an unexpected answer
    counters: DeliveryCounters = field(default_factory=DeliveryCounters)


@dataclass(frozen=True)
class BatchProgress:
    entity: str
    records_done: int
    records_total: int
    batches_done: int
    batches_total: int
    accepted: int
    rejected: int
    failed: int
    eta_s: float  # from the quota, for the batches left
    # Requests so far (in-flight batches' included), 429 answers, and re-sent requests after a
    # 5xx (server_errors), a timeout or a dropped connection: the operator's "is it stuck?".
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    server_errors: int = 0
    final: bool = False  # the delivery's last event: every batch done (or the delivery stopped)
    stopped: str | None = None  # why the delivery stopped before every batch was sent (the final event only)
    not_sent: int = 0  # of `failed`: records never sent because the delivery stopped first


def union_length(intervals: list[tuple[float, float]]) -> float:
    """The time covered by intervals that may overlap (quota waits of concurrent batches)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def live_counters(done: DeliveryCounters, in_flight: Iterable[DeliveryCounters]) -> DeliveryCounters:
    """The counters of finished batches plus those of the batches still being sent."""
    total = DeliveryCounters()
    total.add(done)
    for c in in_flight:
        total.add(c)
    return total


def wait_reporting(pending: set[Future], notify: Callable[[], None], every_s: float, last_notified: float | None = None) -> None:
    """Wait until every batch in flight is done, raising the first one's error, and call
    `notify()` at least every `every_s` meanwhile: on a timer, so a delivery whose batches
    wait for quota still reports (waiting for all of them at once left it silent)."""
    next_due = (time.monotonic() if last_notified is None else last_notified) + every_s
    while pending:
        finished, pending = wait(pending, timeout=max(0.0, next_due - time.monotonic()), return_when=FIRST_EXCEPTION)
        for f in finished:
            f.result()
        if pending and time.monotonic() >= next_due:
            notify()
            next_due = time.monotonic() + every_s


def fail_unsettled(failed: dict[int, str], settled: set[int], items: Iterable[int], stop: Exception,
                   not_sent: set[int] | None = None) -> None:
    """Every item of a stopped delivery (`items`: their indices) that was not settled fails as never
    sent; `not_sent` collects them (never attempted: held back and queued, not dead-lettered)."""
    for i in items:
        if i not in settled:
            failed[i] = f"not sent: {stop}"
            if not_sent is not None:
                not_sent.add(i)


def plural(n: float, noun: str, plural_noun: str | None = None) -> str:
    """`1 request`, `2 requests`, `1,500 records`: the one helper for a count and its noun (a count kept as
    a float, 3.0, is written 3)."""
    n = int(n)
    return f"{n:,} {noun if n == 1 else plural_noun or noun + 's'}"


def progress_line(what: str, p: BatchProgress) -> str:
    """One progress event as the line an operator reads in the run's log. The last one says what
    happened: `delivered` when every record was accepted, `finished` when some were not, `stopped`
    (and why) when the delivery stopped before sending them all."""
    waits = f"{plural(p.rate_limited, 'answer', 'answers')} 429 (rate limited), {plural(p.retries, 'retry', 'retries')}"
    cost = f"{plural(p.requests, 'request')}, {waits}"
    if p.stopped is not None:
        return (f"{what} stopped after {plural(p.requests, 'request')}: {p.accepted:,} of {plural(p.records_total, 'record')} "
                f"accepted, {p.rejected:,} rejected, {p.failed - p.not_sent:,} failed, {p.not_sent:,} not sent; {waits}. "
                f"Why: {p.stopped}")
    left = f"{p.records_done:,}/{plural(p.records_total, 'record')} done"
    if p.final:
        head = "delivered" if p.accepted == p.records_total else "finished"
        return (f"{what} {head}: {left} (batch {p.batches_done}/{p.batches_total}); accepted {p.accepted:,}, "
                f"rejected {p.rejected:,}, failed {p.failed:,}; {cost}")
    return (
        f"{what} sending: {left} ({p.records_total - p.records_done:,} left, batch {p.batches_done}/{p.batches_total}); "
        f"accepted {p.accepted:,}, rejected {p.rejected:,}, failed {p.failed:,}; {cost}; ETA {p.eta_s:.0f}s by quota"
    )
