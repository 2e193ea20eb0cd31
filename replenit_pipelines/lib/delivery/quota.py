"""One quota per API key, held across threads and processes on this machine.

Replenit counts every request of a key in fixed, clock-aligned windows (100 a minute and
5,000 an hour). The limiter keeps the same counts in a small JSON ledger under a file lock, so
every client of the key on this machine (threads, Dagster runs, `replenit push`) spends from one
budget, and quota spent before a run started still counts. The server's X-RateLimit-* headers
and 429s correct the ledger for clients elsewhere.

With REPLENIT_STATE_URL set, the same counts live in Postgres instead (lib/delivery/quota_postgres.py):
one row per key and window, read and written in one transaction under the key's row lock, so run
workers on different machines spend from one budget too. The limiter's logic is the same for both.
"""

import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from replenit_pipelines.lib.contract.api import Window
from replenit_pipelines.lib.delivery.quota_postgres import PostgresQuotaStore
from replenit_pipelines.lib.postgres import FROM_ENV, StateUrlArg, resolve
from replenit_pipelines.lib.settings import Settings

# The edge guard follows the latency this client sees: a high percentile of its recent
# send-to-response times (an upper bound of send-to-arrival), with a margin for the next one.
LATENCY_SAMPLES = 200
MIN_LATENCY_SAMPLES = 10  # fewer than this: the cap, until the latency is known
GUARD_QUANTILE = 0.99
GUARD_MARGIN = 1.5

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def default_quota_dir() -> Path:
    """$REPLENIT_STATE_DIR/quota, the same folder the Dagster resource uses (lib/settings.py)."""
    return Settings.from_env().quota_dir


def ledger_name(base_url: str, api_key: str) -> str:
    """A file name for the key's ledger: a digest, never the key."""
    return hashlib.sha256(f"{base_url}\0{api_key}".encode()).hexdigest()[:24] + ".json"


class FileQuotaStore:
    """The key's counts as a JSON file under a file lock: every process on this machine."""

    def __init__(self, ledger: Path):
        self.ledger = ledger
        ledger.parent.mkdir(parents=True, exist_ok=True)
        self._file_lock = FileLock(str(ledger) + ".lock")

    @contextmanager
    def state(self, write: bool = True) -> Iterator[dict]:
        with self._file_lock:
            try:
                state = json.loads(self.ledger.read_text())
            except (FileNotFoundError, ValueError):
                state = {}
            yield state
            if not write:
                return
            tmp = self.ledger.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            tmp.replace(self.ledger)


class QuotaLimiter:
    def __init__(
        self,
        windows: list[Window] | tuple[Window, ...],
        ledger: Path,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        state_url: StateUrlArg = FROM_ENV,
    ):
        """`ledger` is the key's file (named by `ledger_name`, a digest of the key); with a state
        URL (by default REPLENIT_STATE_URL) its name keys the key's rows in Postgres instead."""
        self.windows = [(int(n), float(s)) for n, s in windows]
        self.ledger = ledger
        self._clock = clock
        self._sleep = sleep
        # A request sent this close to a window's end may arrive in the next one: count it in both.
        # How close is "this close" is sized from the observed latency (see boundary_guard), between
        # a floor of 1% of the shortest window (at most 0.5 s) and a cap of half of it (at most 10 s):
        # a request counted twice costs one request of the next window, a 429 costs more.
        shortest = min((s for _, s in self.windows), default=60.0)
        self.guard_floor = min(0.5, shortest * 0.01)
        self.guard_cap = min(10.0, shortest * 0.5)
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._decided = threading.local()  # per worker thread: when acquire() counted its request
        url = resolve(state_url)
        self._store: FileQuotaStore | PostgresQuotaStore
        if url is None:
            self._store = FileQuotaStore(ledger)
            lock_name = str(ledger)
        else:
            self._store = PostgresQuotaStore(url, Path(ledger).stem)
            lock_name = "postgres:" + Path(ledger).stem
        with _THREAD_LOCKS_GUARD:
            self._thread_lock = _THREAD_LOCKS.setdefault(lock_name, threading.Lock())

    def record_latency(self, seconds: float) -> None:
        """One request's time from acquire() to its answer, as the client measured it."""
        if seconds >= 0 and math.isfinite(seconds):
            self._latencies.append(seconds)  # deque.append is atomic: no lock for the workers

    def answered(self) -> None:
        """The request this thread last acquired was answered: record its latency from the decision."""
        decided_at = getattr(self._decided, "at", None)
        if decided_at is not None:
            self.record_latency(time.monotonic() - decided_at)
            self._decided.at = None

    @property
    def boundary_guard(self) -> float:
        """Seconds before a window's end within which a request is counted in the next window too."""
        samples = sorted(self._latencies)
        if len(samples) < MIN_LATENCY_SAMPLES:
            return self.guard_cap
        high = samples[min(len(samples) - 1, math.ceil(GUARD_QUANTILE * len(samples)) - 1)]
        return min(self.guard_cap, max(self.guard_floor, high * GUARD_MARGIN))

    @contextmanager
    def _state(self, write: bool = True) -> Iterator[dict]:
        with self._thread_lock, self._store.state(write) as state:
            state.setdefault("counts", {})
            state.setdefault("blocked_until", 0.0)
            yield state

    @staticmethod
    def _counts(state: dict, seconds: float) -> dict[str, int]:
        return state["counts"].setdefault(repr(seconds), {})

    def _wait_needed(self, state: dict, now: float) -> float:
        wait = max(0.0, state["blocked_until"] - now)
        for limit, seconds in self.windows:
            idx = math.floor(now / seconds)
            counts = self._counts(state, seconds)
            for old in [k for k in counts if int(k) < idx]:
                del counts[old]
            if counts.get(str(idx), 0) >= limit:
                wait = max(wait, (idx + 1) * seconds - now)
        return wait

    def acquire(self) -> float:
        """Block until one request may be sent, and count it. Returns the seconds waited."""
        waited = 0.0
        while True:
            guard = self.boundary_guard
            with self._state() as state:
                now = self._clock()  # after the lock: time spent waiting for it is not sending time
                wait = self._wait_needed(state, now)
                if wait <= 0:
                    for _, seconds in self.windows:
                        idx = math.floor(now / seconds)
                        counts = self._counts(state, seconds)
                        counts[str(idx)] = counts.get(str(idx), 0) + 1
                        if (idx + 1) * seconds - now < guard:
                            counts[str(idx + 1)] = counts.get(str(idx + 1), 0) + 1
                    self._decided.at = time.monotonic()
                    return waited
            # Sleep a hair past the boundary: the server's clock decides which window counts.
            pause = wait + 0.001
            self._sleep(pause)
            waited += pause

    def observe(self, limit: int, remaining: int, reset: float) -> None:
        """Take the server's count for the window it reported, when it is higher than ours."""
        with self._state() as state:
            for n, seconds in self.windows:
                if n != limit:
                    continue
                idx = round(reset / seconds) - 1
                if abs((idx + 1) * seconds - reset) > max(1.0, seconds * 0.01):
                    continue
                counts = self._counts(state, seconds)
                counts[str(idx)] = max(counts.get(str(idx), 0), limit - remaining)

    def block_for(self, seconds: float) -> None:
        """After a 429: nothing is sent on this key until Retry-After has passed."""
        with self._state() as state:
            state["blocked_until"] = max(state["blocked_until"], self._clock() + seconds)

    def eta_seconds(self, requests: int) -> float:
        """The least time in which `requests` more requests fit the windows, from now."""
        if requests <= 0 or not self.windows:
            return 0.0
        now = self._clock()
        with self._state(write=False) as state:
            eta = max(0.0, state["blocked_until"] - now)
            for limit, seconds in self.windows:
                idx = math.floor(now / seconds)
                free_now = max(0, limit - self._counts(state, seconds).get(str(idx), 0))
                if requests <= free_now:
                    continue
                later_windows = math.ceil((requests - free_now) / limit)
                eta = max(eta, (idx + 1) * seconds - now + (later_windows - 1) * seconds)
            return eta

    def used(self) -> dict[float, int]:
        """Requests counted in each window now, by window length."""
        now = self._clock()
        with self._state(write=False) as state:
            return {
                s: self._counts(state, s).get(str(math.floor(now / s)), 0) for _, s in self.windows
            }

    def counted(self) -> tuple[float, dict[float, dict[int, int]], float]:
        """Read-only, for plans and the quota view (lib/plan/): (now, {window length: {window index:
        requests counted}} for the current window and later ones, blocked_until). Later windows
        can hold requests already: those sent near a window's end count in the next one too."""
        now = self._clock()
        with self._state(write=False) as state:
            counts = {s: {int(k): int(v) for k, v in state["counts"].get(repr(s), {}).items() if int(k) >= math.floor(now / s)}
                      for _, s in self.windows}
            return now, counts, float(state["blocked_until"])

    def guard_outlook(self) -> tuple[float, int, float]:
        """Read-only, for plans: (the edge guard now, requests until the latency is known, the guard
        after that: the one now if known, else the floor)."""
        cold = max(0, MIN_LATENCY_SAMPLES - len(self._latencies))
        return self.boundary_guard, cold, self.boundary_guard if not cold else self.guard_floor
