"""The sandbox's quota: fixed windows aligned to the clock, every request of a key counted."""

import math
import threading
from dataclasses import dataclass
from email.utils import formatdate

from replenit_pipelines.lib.contract.api import Window, parse_limits

__all__ = ["KeyQuota", "Window", "parse_limits", "quota_headers", "retry_after_headers", "whole_seconds_up"]

# RFC 9110 allows Retry-After only as whole seconds (or an HTTP date), and X-RateLimit-Reset is a
# UNIX time in whole seconds: both are rounded up, never early. Time-scaled windows (anything but
# the documented quota) also carry the exact figures, which a 0.5 s window cannot do without.
RETRY_AFTER_EXACT = "X-Sandbox-Retry-After-Exact"
RESET_EXACT = "X-Sandbox-RateLimit-Reset-Exact"


def whole_seconds_up(value: float) -> int:
    """Seconds rounded up (a hair of float noise tolerated): 49.624 -> 50, 60.0 -> 60."""
    return max(0, math.ceil(value - 1e-6))


def exact_seconds(value: float) -> str:
    return f"{value:.3f}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # UNIX seconds when the reported window ends
    retry_after: float  # seconds, when not allowed


class KeyQuota:
    """Counts one key's requests in every window at once."""

    def __init__(self, windows: list[Window]):
        self.windows = windows
        self._index = [-1] * len(windows)
        self._count = [0] * len(windows)
        self._lock = threading.Lock()

    def hit(self, now: float) -> Decision | None:
        if not self.windows:
            return None
        with self._lock:
            blocked_until = 0.0
            for i, (limit, seconds) in enumerate(self.windows):
                idx = math.floor(now / seconds)
                if idx != self._index[i]:
                    self._index[i], self._count[i] = idx, 0
                if self._count[i] >= limit:
                    blocked_until = max(blocked_until, (idx + 1) * seconds)
                self._count[i] += 1  # a refused request is counted too
            # Report the tighter window: least remaining, then the later reset.
            reports = [
                (max(0, limit - self._count[i]), -(self._index[i] + 1) * seconds, limit)
                for i, (limit, seconds) in enumerate(self.windows)
            ]
            remaining, neg_reset, limit = min(reports)
            return Decision(
                allowed=blocked_until == 0.0,
                limit=limit,
                remaining=remaining,
                reset=-neg_reset,
                retry_after=max(0.0, blocked_until - now),
            )

    def reset(self) -> None:
        with self._lock:
            self._index = [-1] * len(self.windows)
            self._count = [0] * len(self.windows)


def quota_headers(decision: Decision, time_scaled: bool) -> dict[str, str]:
    """X-RateLimit-* for any answer, whole seconds; the exact reset too when windows are time-scaled."""
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(whole_seconds_up(decision.reset)),
    }
    if time_scaled:
        headers[RESET_EXACT] = exact_seconds(decision.reset)
    return headers


def retry_after_headers(seconds: float, time_scaled: bool, http_date_at: float | None = None) -> dict[str, str]:
    """Retry-After of a 429: at least 1 whole second; the exact figure too when windows are time-scaled.
    `http_date_at`: the server's clock now; the answer is then the HTTP date it may be retried at,
    rounded up to the second, and nothing exact (a real server's form)."""
    if http_date_at is not None:
        return {"Retry-After": formatdate(whole_seconds_up(http_date_at + max(seconds, 0.001)), usegmt=True)}
    headers = {"Retry-After": str(max(1, whole_seconds_up(seconds)))}
    if time_scaled:
        headers[RETRY_AFTER_EXACT] = exact_seconds(max(seconds, 0.001))
    return headers
