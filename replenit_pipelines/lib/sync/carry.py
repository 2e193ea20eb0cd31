"""Full requests across a reconciliation's chunks (issue 28 item 3): a chunk's partial last batch
is not sent alone; it waits for the next chunk's plan and goes out filled with that chunk's first
records, in one request. Only the last chunk (or one whose next sends nothing) sends a short batch.

Each record stays its own chunk's: the shared request's answer is split by record, the chunk that
owns the partial batch counts the request and its own records' outcomes, the next chunk counts its
borrowed records as already sent (accepted, rejected or failed) and sends the rest of its plan.
Each side's records are checked (the send-time check, with its own chunk's read time) by its own
chunk's `before_send` right before the request, and acknowledged in the ledger by its own chunk's
callback right after the 200, as any batch's are, so a kill still loses at most the
acknowledgements of the requests in flight, and every chunk's accounting closes as before.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from replenit_pipelines.lib.delivery import BatchProgress, DeliveryReport, ReplenitClient, ReplenitStopError
from replenit_pipelines.lib.delivery.upserts import BeforeSend
from replenit_pipelines.lib.stages.plan import Plan

Acked = Callable[[list[int]], None] | None
Check = BeforeSend | None


@dataclass(frozen=True)
class NextPlan:
    """The next chunk's plan and its ledger callbacks, as its local stages left them."""

    planned: Plan
    acked: Acked
    check: Check = None


@dataclass
class _Borrowed:
    count: int  # the chunk's first `count` parts went out in the previous chunk's last request
    report: DeliveryReport  # their outcomes, by index into the chunk's parts


def _settle(into: DeliveryReport, sub: DeliveryReport, index: Callable[[int], int | None]) -> None:
    """`sub`'s outcomes added to `into`, its indices mapped by `index` (None: not `into`'s record)."""
    for i in sub.accepted:
        if (j := index(i)) is not None:
            into.accepted.append(j)
    for i, reasons in sub.rejected.items():
        if (j := index(i)) is not None:
            into.rejected[j] = reasons
    for i, reason in sub.failed.items():
        if (j := index(i)) is not None:
            into.failed[j] = reason
            if i in sub.not_sent:
                into.not_sent.add(j)
    for i, why in sub.skipped.items():
        if (j := index(i)) is not None:
            into.skipped[j] = why


def _deliver(client: ReplenitClient, entity: str, parts: Sequence[bytes], batches: list[list[int]],
             progress: Callable[[BatchProgress], None] | None, acked: Acked, check: Check
             ) -> tuple[DeliveryReport, ReplenitStopError | None]:
    try:
        return client.deliver_planned(entity, parts, batches, progress, acked, check), None
    except ReplenitStopError as exc:
        report = exc.report if isinstance(exc.report, DeliveryReport) else DeliveryReport(entity=entity, records=len(parts))
        return report, exc


class CarryOver:
    """The send of each chunk of one reconciliation, in order (`send` once per chunk)."""

    def __init__(self, client: ReplenitClient, entity: str, progress: Callable[[BatchProgress], None] | None = None):
        self.client, self.entity, self.progress = client, entity, progress
        self.max_records = client.config.batch_sizes[entity]
        self.max_bytes = client.config.max_body_bytes
        self._borrowed: _Borrowed | None = None  # of the chunk sent next
        self.shared_requests = 0  # requests that carried two chunks' records

    def send(self, planned: Plan, acked: Acked, check: Check, following: Callable[[], NextPlan | None]
             ) -> tuple[DeliveryReport | None, ReplenitStopError | None]:
        """This chunk's plan, its first parts skipped when the previous chunk sent them. A partial
        last batch asks `following()` for the next chunk's plan (None: there is none, or it sends
        nothing) and is filled from it."""
        borrowed, self._borrowed = self._borrowed, None
        parts = planned.parts
        if not parts:
            return None, None
        head = borrowed.count if borrowed is not None else 0
        report = DeliveryReport(entity=self.entity, records=len(parts))
        if borrowed is not None:
            _settle(report, borrowed.report, lambda i: i)
        own = parts[head:]
        batches = self.client.plan(self.entity, own)
        tail = batches.pop() if batches and len(batches[-1]) < self.max_records else []
        stop: ReplenitStopError | None = None
        if batches:
            sent, stop = _deliver(self.client, self.entity, own, batches, self.progress, _shifted(acked, head),
                                  _shifted_check(check, head))
            _settle(report, sent, lambda i: i + head)  # on a stop, the unsent tail is settled here as not sent
            report.counters.add(sent.counters)
        if tail and stop is None:
            stop = self._send_tail(report, parts, [head + i for i in tail], acked, check, following)
        return report, stop

    def count(self, planned: Plan, following: Callable[[], NextPlan | None]) -> int:
        """A dry run's requests for this chunk, cut as `send` would cut them (nothing sent): its
        first parts skipped when the previous chunk's last request takes them, and its partial
        last batch filled from the next chunk's plan."""
        borrowed, self._borrowed = self._borrowed, None
        parts = planned.parts
        if not parts:
            return 0
        head = borrowed.count if borrowed is not None else 0
        batches = self.client.plan(self.entity, parts[head:])
        if batches and len(batches[-1]) < self.max_records:
            upcoming = following()
            tail = [head + i for i in batches[-1]]
            take = self._fill(parts, tail, upcoming.planned.parts) if upcoming is not None else 0
            if take:
                self._borrowed = _Borrowed(take, DeliveryReport(entity=self.entity, records=take))
        return len(batches)

    def _send_tail(self, report: DeliveryReport, parts: Sequence[bytes], tail: list[int], acked: Acked, check: Check,
                   following: Callable[[], NextPlan | None]) -> ReplenitStopError | None:
        upcoming = following()
        take = self._fill(parts, tail, upcoming.planned.parts) if upcoming is not None else 0
        body = [parts[i] for i in tail] + (list(upcoming.planned.parts[:take]) if upcoming is not None else [])
        n = len(tail)
        next_acked = upcoming.acked if upcoming is not None else None
        next_check = upcoming.check if upcoming is not None else None

        def acked_both(batch: list[int]) -> None:
            mine = [tail[j] for j in batch if j < n]
            theirs = [j - n for j in batch if j >= n]
            if mine and acked is not None:
                acked(mine)
            if theirs and next_acked is not None:
                next_acked(theirs)

        def check_both(batch: list[int]) -> dict[int, str]:
            # Each side by its own chunk's check: its own read time, its own run's records.
            dropped: dict[int, str] = {}
            mine = [tail[j] for j in batch if j < n]
            theirs = [j - n for j in batch if j >= n]
            if mine and check is not None:
                at = {tail[j]: j for j in range(n)}
                dropped |= {at[i]: why for i, why in check(mine).items()}
            if theirs and next_check is not None:
                dropped |= {j + n: why for j, why in next_check(theirs).items()}
            return dropped

        sent, stop = _deliver(self.client, self.entity, body, [list(range(len(body)))], self.progress, acked_both,
                              check_both if check is not None or next_check is not None else None)
        _settle(report, sent, lambda j: tail[j] if j < n else None)
        report.counters.add(sent.counters)
        if take and stop is None:
            self.shared_requests += 1
            lent = DeliveryReport(entity=self.entity, records=take)
            _settle(lent, sent, lambda j: j - n if j >= n else None)
            self._borrowed = _Borrowed(take, lent)
        return stop

    def _fill(self, parts: Sequence[bytes], tail: list[int], upcoming: Sequence[bytes]) -> int:
        """How many of the next chunk's first parts fit in the tail's body, by count and by bytes."""
        size = 2 + sum(len(parts[i]) for i in tail) + len(tail) - 1
        take = 0
        for part in upcoming[:self.max_records - len(tail)]:
            if size + 1 + len(part) > self.max_bytes:
                break
            size += 1 + len(part)
            take += 1
        return take


def _shifted_check(check: Check, by: int) -> Check:
    """The chunk's check for batches numbered from its `by`-th part (and its answer numbered back)."""
    if check is None or by == 0:
        return check
    return lambda batch: {i - by: why for i, why in check([i + by for i in batch]).items()}


def _shifted(acked: Acked, by: int) -> Acked:
    """The chunk's callback for batches numbered from its `by`-th part."""
    if acked is None or by == 0:
        return acked
    return lambda batch: acked([i + by for i in batch])
