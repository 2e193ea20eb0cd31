"""What happened to each record of a delivery, and what it cost."""

from dataclasses import dataclass, field


@dataclass
class DeliveryCounters:
    requests: int = 0
    rate_limited: int = 0  # 429 answers
    retries: int = 0  # requests re-sent after a 5xx, a timeout or a dropped connection
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
    counters: DeliveryCounters = field(default_factory=DeliveryCounters)

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


def union_length(intervals: list[tuple[float, float]]) -> float:
    """The time covered by intervals that may overlap (quota waits of concurrent batches)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total
