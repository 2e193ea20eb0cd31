"""The sandbox's quota: fixed windows aligned to the clock, every request of a key counted."""

import math
import threading
from dataclasses import dataclass

Window = tuple[int, float]  # (requests, seconds)


def parse_limits(text: str) -> list[Window]:
    """`100/60,5000/3600` -> [(100, 60.0), (5000, 3600.0)]; `off` or `` -> []."""
    text = text.strip()
    if text.lower() in ("", "off", "none"):
        return []
    windows: list[Window] = []
    for part in text.split(","):
        try:
            count, seconds = part.split("/")
            window = (int(count), float(seconds))
        except ValueError:
            raise ValueError(
                f"bad rate-limit window {part!r}: write REQUESTS/SECONDS, e.g. 100/60,5000/3600"
            ) from None
        if window[0] < 1 or window[1] <= 0:
            raise ValueError(f"bad rate-limit window {part!r}: both numbers must be positive")
        windows.append(window)
    return windows


def format_seconds(value: float) -> str:
    """Whole seconds as integers (real windows); fractions kept for time-scaled windows."""
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
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
