"""One quota per API key, held across threads and processes on this machine.

Replenit counts every request of a key in fixed, clock-aligned windows (100 a minute and
5,000 an hour). The limiter keeps the same counts in a small JSON ledger under a file lock, so
every client of the key on this machine (threads, Dagster runs, `replenit push`) spends from one
budget, and quota spent before a run started still counts. The server's X-RateLimit-* headers
and 429s correct the ledger for clients elsewhere.

With REPLENIT_STATE_URL set, the same counts live in Postgres instead (lib/delivery/quota_postgres.py):
one row per key and window, read and written in one transaction under the key's row lock, so run
workers on different machines spend from one budget too. The limiter's logic is the same for both.

Lanes (docs/delivery.md, "Lanes"): every request is reserved in a lane. `fresh` (the partitioned
syncs, intraday customers, sensors) goes first; `bulk` (reconciliation, backfills, replay, deletes,
push) takes what fresh leaves. Two rules make that hold across processes and machines, in the same
ledger: (1) a fresh request that has to wait registers itself as a waiter, and no bulk request is
reserved while a live fresh waiter exists, so bulk yields within the one request it is sending;
(2) bulk leaves a small share of each window (`fresh_share`, 3%) to fresh until the window's last
24 s (0.4 of the shortest window), so a fresh request never waits behind a window bulk filled
for more than that. A waiter entry expires shortly after the wait it announced: a fresh process
that died blocks bulk for at most its wait plus `waiter_grace`.

Tenants (docs/delivery.md, "Tenants on one key"): every request is also counted per tenant, and a
waiter entry names its lane and tenant. Within a lane, three rules share the key fairly between
tenants, and none sends over a window or leaves a slot unused that anyone could take:
(F) the next free slot of a lane goes to the waiting tenant with the fewest grants of that lane in
the current shortest window (a tenant with more yields to it; ties go to whoever asks);
(R) on a key that several tenants used within the longest window, a tenant that has had `reserve`
requests of the shortest window leaves its last `reserve` ones to the others, fresh requests only,
until the window's last part: another tenant's small fresh sync finds room at once;
(C) while another tenant's bulk work waited in the current or previous shortest window, each of
them takes at most an equal part of the window's bulk room before the window's last part.
"""

import hashlib
import json
import math
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

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

Lane = Literal["fresh", "bulk"]
UNNAMED = ""  # the tenant of a request acquired without one (a limiter used alone)
LANES: tuple[Lane, ...] = get_args(Lane)
FRESH_SHARE = 0.03  # of each window, kept for the fresh lane until the window's last part


def check_lane(lane: str) -> Lane:
    if lane not in LANES:
        raise ValueError(f"quota lane {lane!r}: expected one of {', '.join(LANES)}")
    return lane


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
        # Held for a read and a write of a small file: poll for it often. At the default 50 ms, a process
        # asking now and then (a fresh sync) loses the lock again and again to one asking all the time.
        self._file_lock = FileLock(str(ledger) + ".lock", poll_interval=0.001)

    @contextmanager
    def state(self, write: bool = True) -> Iterator[dict]:
        with self._file_lock:
            try:
                text = self.ledger.read_text()
                state = json.loads(text)
            except (FileNotFoundError, ValueError):
                text, state = "", {}
            yield state
            if not write or json.dumps(state) == text:  # unchanged (a look that took nothing): no write
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
        fresh_share: float = FRESH_SHARE,
    ):
        """`ledger` is the key's file (named by `ledger_name`, a digest of the key); with a state
        URL (by default REPLENIT_STATE_URL) its name keys the key's rows in Postgres instead."""
        self.windows = [(int(n), float(s)) for n, s in windows]
        if not 0 <= fresh_share < 1:
            raise ValueError(f"fresh_share must be 0 or more and below 1, not {fresh_share}")
        self.ledger = ledger
        self._clock = clock
        self._sleep = sleep
        # The server's clock may differ from ours (server_skew): learned from its 429s, kept in the
        # key's ledger, read at every look at it.
        self._skew = 0.0
        self._skew_margin = 0.0
        self._skew_seen: tuple[float, int] | None = None  # a first 429's skew and window, until a second agrees
        self._unskew_seen: int | None = None  # the window of a first 429 at our own edge while a skew is kept
        # A request sent this close to a window's end may arrive in the next one: count it in both.
        # How close is "this close" is sized from the observed latency (see boundary_guard), between
        # a floor of 1% of the shortest window (at most 0.5 s) and a cap of half of it (at most 10 s):
        # a request counted twice costs one request of the next window, a 429 costs more.
        shortest = min((s for _, s in self.windows), default=60.0)
        self.guard_floor = min(0.5, shortest * 0.01)
        self.guard_cap = min(10.0, shortest * 0.5)
        # Lanes: bulk leaves `reserve` requests of each window to fresh until `release_s` before the
        # window's end (0.4 of the shortest window: 24 s on the API's minute, so that a fresh request
        # waits at most that, and 30 s with its own overheads). A longer window keeps no more than bulk
        # can still take in that last part at the shortest window's rate (50 of the hour's 5,000, not
        # 150): what fresh leaves of it is not lost. A fresh waiter entry lives `waiter_grace` past
        # the wait it announced; bulk, held back by one, looks again every `poll_s`.
        self.release_s = shortest * 0.4
        short_limit = min(self.windows, key=lambda w: w[1])[0] if self.windows else 0
        self.reserve = {s: math.ceil(n * fresh_share) if s == shortest
                        else min(math.ceil(n * fresh_share), math.floor(short_limit * self.release_s / shortest))
                        for n, s in self.windows}
        self.waiter_grace = max(0.25, min(5.0, shortest * 0.05))
        self.late_s = self.waiter_grace / 5  # how long another tenant's due waiter is waited for (F)
        self.poll_s = max(0.002, min(0.05, shortest * 0.01))
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
        """Seconds before a window's end within which a request is counted in the next window too
        (widened by how uncertain a learned server skew is)."""
        return min(self.guard_cap, self._latency_guard() + self._skew_margin)

    def _latency_guard(self) -> float:
        return max(self.guard_floor, self._latency_high())

    def _latency_high(self) -> float:
        """A high percentile of the recent send-to-answer times, with the margin (the cap until known)."""
        samples = sorted(self._latencies)
        if len(samples) < MIN_LATENCY_SAMPLES:
            return self.guard_cap
        return samples[min(len(samples) - 1, math.ceil(GUARD_QUANTILE * len(samples)) - 1)] * GUARD_MARGIN

    def _now(self) -> float:
        """Now on the server's clock as far as this limiter knows it: ours less the learned skew.
        Every window index is of this time, so the windows are the ones the server counts."""
        return self._clock() - self._skew

    @contextmanager
    def _state(self, write: bool = True) -> Iterator[dict]:
        with self._thread_lock, self._store.state(write) as state:
            state.setdefault("counts", {})
            state.setdefault("blocked_until", 0.0)
            state.setdefault("lanes", {})  # {lane: {repr(seconds): {str(index): requests}}}: spend per lane
            # {waiter id: {"until": expires at, "lane", "tenant", "held_until": not to be served before}}
            state.setdefault("waiters", {})
            # {lane: {tenant: {repr(seconds): {str(index): [granted, waited]}}}}: the fair share's counts
            state.setdefault("tenants", {})
            # [seconds the server's windows start after ours, the uncertainty of that figure] (server_skew)
            self._skew, self._skew_margin = (float(v) for v in state.setdefault("server_skew", [0.0, 0.0]))
            yield state

    @staticmethod
    def _counts(state: dict, seconds: float) -> dict[str, int]:
        return state["counts"].setdefault(repr(seconds), {})

    def _wait_needed(self, state: dict, now: float, lane: Lane = "fresh", yield_to_fresh: bool = True) -> float:
        wait = max(0.0, state["blocked_until"] - now)
        for limit, seconds in self.windows:
            idx = math.floor(now / seconds)
            counts = self._counts(state, seconds)
            for old in [k for k in counts if int(k) < idx]:
                del counts[old]
            used, left = counts.get(str(idx), 0), (idx + 1) * seconds - now
            if used >= limit:
                wait = max(wait, left)
            elif lane == "bulk" and used >= limit - self.reserve[seconds] and left > self.release_s:
                wait = max(wait, left - self.release_s)  # fresh's share, until the window's last part
        if yield_to_fresh and lane == "bulk" and wait <= 0 and any(w["lane"] == "fresh" and w["held_until"] <= now
                                                for w in state["waiters"].values()):
            wait = self.poll_s  # a fresh request is waiting: it takes the next slot
        return wait

    def _tenant_counts(self, state: dict, lane: str, tenant: str, seconds: float, idx: int) -> list[int]:
        """[granted, waited] of `tenant` in `lane` in window `idx` of length `seconds` (0s when none)."""
        return state["tenants"].get(lane, {}).get(tenant, {}).get(repr(seconds), {}).get(str(idx), [0, 0])

    def _fair_wait(self, state: dict, now: float, lane: Lane, tenant: str) -> tuple[float, bool]:
        """How long the windows' free slot must wait for other tenants' sake (0: take it), and whether
        the wait is a hold (C, R: not to be served before it ends) rather than a turn (F)."""
        if not self.windows:
            return 0.0, False
        limit, shortest = min(self.windows, key=lambda w: w[1])
        idx = math.floor(now / shortest)
        mine = self._tenant_counts(state, lane, tenant, shortest, idx)[0]
        waiting = [w for w in state["waiters"].values() if w["tenant"] != tenant and w["lane"] == lane]
        # (C) bulk: an equal part of the window's bulk room for each tenant whose bulk work waited lately.
        if lane == "bulk" and now - idx * shortest < shortest - self.release_s:
            contending = {w["tenant"] for w in waiting} | {
                other for other in state["tenants"].get("bulk", {}) if other != tenant and any(
                    self._tenant_counts(state, "bulk", other, shortest, i)[1] for i in (idx, idx - 1))}
            if contending:
                part = math.ceil((limit - self.reserve[shortest]) / (len(contending) + 1))
                if mine >= part:
                    return (idx + 1) * shortest - self.release_s - now, True
        # (R) fresh: the last `reserve` requests of the shortest window for the key's other tenants. Not of
        # the longer ones: held there, a tenant's own fresh syncs would wait up to the rest of the hour.
        if lane == "fresh" and self._shared(state, now, tenant):
            left = (idx + 1) * shortest - now
            if (left > self.release_s and self._counts(state, shortest).get(str(idx), 0) >= limit - self.reserve[shortest]
                    and sum(self._tenant_counts(state, any_lane, tenant, shortest, idx)[0] for any_lane in LANES)
                    >= self.reserve[shortest]):
                return left - self.release_s, True
        # (F) a waiting tenant of the lane with fewer grants in this window takes the slot first: if it is
        # due (its hold over, its sleep over by at most `late_s`). One that sleeps longer (a loaded machine)
        # loses the turn rather than hold the key idle until its entry expires.
        for w in waiting:
            if (w["held_until"] <= now <= w["until"] - self.waiter_grace + self.late_s
                    and self._tenant_counts(state, lane, w["tenant"], shortest, idx)[0] < mine):
                return self.poll_s, False
        return 0.0, False

    def _shared(self, state: dict, now: float, tenant: str) -> bool:
        """Another tenant used the key within the longest window (its current or previous one), or waits now."""
        if any(w["tenant"] != tenant for w in state["waiters"].values()):
            return True
        longest = max(s for _, s in self.windows)
        idx = math.floor(now / longest)
        return any(other != tenant and any(self._tenant_counts(state, lane, other, longest, i)[0] for i in (idx, idx - 1))
                   for lane, tenants in state["tenants"].items() for other in tenants)

    def _expire_waiters(self, state: dict, now: float) -> None:
        waiters = state["waiters"]
        for waiter, entry in list(waiters.items()):
            if not isinstance(entry, dict):  # a ledger written before tenants: a fresh waiter's expiry
                entry = waiters[waiter] = {"until": float(entry), "lane": "fresh", "tenant": UNNAMED, "held_until": 0.0}
            if entry["until"] < now:
                del waiters[waiter]

    def _count_lane(self, state: dict, lane: Lane, now: float, tenant: str = UNNAMED, granted: bool = True) -> None:
        """The request in its lane's and its tenant's counts (or, not granted, the tenant's wait), for the
        quota view and the fair share; the current and previous window kept."""
        for _, seconds in self.windows:
            idx = math.floor(now / seconds)
            if granted:
                counts = state["lanes"].setdefault(lane, {}).setdefault(repr(seconds), {})
                for old in [k for k in counts if int(k) < idx - 1]:
                    del counts[old]
                counts[str(idx)] = counts.get(str(idx), 0) + 1
            per_tenant = state["tenants"].setdefault(lane, {}).setdefault(tenant, {}).setdefault(repr(seconds), {})
            for old in [k for k in per_tenant if int(k) < idx - 1]:
                del per_tenant[old]
            entry = list(per_tenant.get(str(idx), [0, 0]))
            if granted:
                entry[0] += 1
            else:
                entry[1] = 1
            per_tenant[str(idx)] = entry
        # Tenants with nothing in the windows kept are forgotten: the ledger stays as small as the key's tenants.
        for lane_tenants in state["tenants"].values():
            for gone in [t for t, windows in lane_tenants.items() if not any(windows.values())]:
                del lane_tenants[gone]

    def acquire(self, lane: Lane, tenant: str = UNNAMED) -> float:
        """Block until one request of `lane` for `tenant` may be sent, and count it. Returns the seconds
        waited. Requests of one tenant share its part of the key (docs/delivery.md, "Tenants on one key")."""
        check_lane(lane)
        waited = 0.0
        waiter = f"{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}"
        registered = False
        try:
            while True:
                guard = self.boundary_guard
                with self._state() as state:
                    now = self._now()  # after the lock: time spent waiting for it is not sending time
                    self._expire_waiters(state, now)
                    room = self._wait_needed(state, now, lane, yield_to_fresh=False)  # the windows' own wait
                    wait, held = self._wait_needed(state, now, lane), False
                    if wait <= 0:
                        wait, held = self._fair_wait(state, now, lane, tenant)
                    if wait <= 0:
                        taken = []  # what this request counted, should it be given back (release)
                        for _, seconds in self.windows:
                            idx = math.floor(now / seconds)
                            counts = self._counts(state, seconds)
                            counts[str(idx)] = counts.get(str(idx), 0) + 1
                            taken.append((repr(seconds), str(idx)))
                            if (idx + 1) * seconds - now < guard:
                                counts[str(idx + 1)] = counts.get(str(idx + 1), 0) + 1
                                taken.append((repr(seconds), str(idx + 1)))
                        self._count_lane(state, lane, now, tenant)
                        self._decided.taken = (lane, now, taken, tenant)
                        if registered:
                            state["waiters"].pop(waiter, None)
                            registered = False
                        self._decided.at = time.monotonic()
                        return waited
                    # Announced for the wait and a grace after it, renewed at every look: a process that
                    # died stops renewing, and the others go on once its entry expires. A fresh waiter
                    # holds bulk back; every waiter takes its turn in its lane (F) unless it is held.
                    state["waiters"][waiter] = {"until": now + wait + self.waiter_grace, "lane": lane, "tenant": tenant,
                                                "held_until": now + wait if held else 0.0}
                    if room > 0 or held:  # it wanted more than the lane's room or its part: it contends (C)
                        self._count_lane(state, lane, now, tenant, granted=False)
                    registered = True
                # Sleep a hair past the boundary: the server's clock decides which window counts.
                pause = wait + 0.001
                self._sleep(pause)
                waited += pause
        finally:
            if registered:  # interrupted while waiting: the others need not wait for the entry to expire
                with self._state() as state:
                    state["waiters"].pop(waiter, None)

    def release(self) -> None:
        """The request this thread last acquired was not sent (the send-time check left nothing in
        it): its counts are given back, so that no request of the key's windows is lost to it."""
        taken = getattr(self._decided, "taken", None)
        self._decided.taken = None
        self._decided.at = None
        if taken is None:
            return
        lane, at, counted, tenant = taken
        with self._state() as state:
            for seconds, idx in counted:
                counts = state["counts"].get(seconds, {})
                if counts.get(idx, 0) > 0:
                    counts[idx] -= 1
            for _, seconds in self.windows:
                lanes = state["lanes"].get(lane, {}).get(repr(seconds), {})
                idx = str(math.floor(at / seconds))
                if lanes.get(idx, 0) > 0:
                    lanes[idx] -= 1
                granted = state.get("tenants", {}).get(lane, {}).get(tenant, {}).get(repr(seconds), {})
                if granted.get(idx, [0, 0])[0] > 0:  # the tenant's fair share does not count it either
                    granted[idx] = [granted[idx][0] - 1, granted[idx][1]]

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
            state["blocked_until"] = max(state["blocked_until"], self._now() + seconds)

    def rate_limited(self, retry_after: float, whole_seconds: bool = True) -> None:
        """After a 429 that said Retry-After: nothing is sent on this key until then (block_for), and
        the server's clock is learned from it. A 429 in a window where this ledger counts room, whose
        Retry-After ends away from our window's edge, says the server's windows start elsewhere: its
        clock runs behind or ahead of ours (contract: windows are aligned to the clock, the server's);
        two such 429s that agree set `server_skew` in the key's ledger, for every client of the key.
        Without this, every window's first requests meet the previous window's full count there: a
        429 at each edge, for good. `whole_seconds`: Retry-After was rounded up to a whole second
        (RFC 9110), so the edge is known to a second: the edge guard is widened by that second."""
        with self._state() as state:
            now = self._now()
            state["blocked_until"] = max(state["blocked_until"], now + retry_after)
            if not self.windows:
                return
            limit, shortest = min(self.windows, key=lambda w: w[1])
            room = self._counts(state, shortest).get(str(math.floor(now / shortest)), 0) < limit
            # Our own count explains it; or a longer window does, or a figure of half a window or more
            # (a constant such as 60 says nothing of the edge; no clock is that far off).
            if not room or retry_after >= shortest / 2:
                return
            # Where the server's window ends, relative to our nearest edge: the skew still unaccounted for,
            # known to the figure's rounding and to the answer's latency (now is after the answer came).
            rounding, latency = (1.0 if whole_seconds else 0.0), self._latency_high()
            if self._skew and self._unlearned(state, retry_after, shortest, rounding + latency):
                return
            phase = (now + retry_after) % shortest
            off = phase if phase <= shortest / 2 else phase - shortest
            since_edge = now % shortest
            if abs(off) < rounding + latency:  # at our edge: another client spent the server's window
                return
            # A server behind ours refuses a window's first requests, one ahead its last ones: a 429 elsewhere
            # in the window is another client's doing (with a Retry-After that says nothing of the edge).
            if (since_edge if off > 0 else shortest - since_edge) > abs(off) + latency:
                return
            # Learned when two such 429s, of two of our windows, agree. The later edge of the two: a window
            # begun a moment after the server's costs nothing, one begun before it costs a 429.
            window = math.floor(now / shortest)
            seen, self._skew_seen = self._skew_seen, (self._skew + off, window)
            if seen is None or seen[1] == window or abs(seen[0] - self._skew_seen[0]) > rounding + latency:
                return
            state["server_skew"] = [max(seen[0], self._skew_seen[0]), rounding]
            self._skew, self._skew_margin = state["server_skew"]
            self._skew_seen = None

    def _unlearned(self, state: dict, retry_after: float, shortest: float, tolerance: float) -> bool:
        """A 429 our count does not explain, whose Retry-After ends at our own clock's edge while a skew
        is kept: the server's clock is ours again (set right since). Two such, in two of our windows,
        forget the skew (a kept one costs a 429 whenever a window's last seconds are used). True when
        this 429 was such a one."""
        raw = (self._clock() + retry_after) % shortest
        if min(raw, shortest - raw) >= tolerance:
            return False
        window = math.floor(self._clock() / shortest)
        seen, self._unskew_seen = self._unskew_seen, window
        if seen is not None and seen != window:
            state["server_skew"] = [0.0, 0.0]
            self._skew, self._skew_margin = 0.0, 0.0
            self._unskew_seen = None
        return True

    def server_skew(self) -> float:
        """Read-only: seconds the server's windows start after ours, as learned from its 429s (0: none)."""
        with self._state(write=False):
            return self._skew

    def eta_seconds(self, requests: int) -> float:
        """The least time in which `requests` more requests fit the windows, from now."""
        if requests <= 0 or not self.windows:
            return 0.0
        with self._state(write=False) as state:
            now = self._now()  # after the state is read: the skew is the ledger's, not this limiter's last look
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
        with self._state(write=False) as state:
            now = self._now()
            return {
                s: self._counts(state, s).get(str(math.floor(now / s)), 0) for _, s in self.windows
            }

    def lane_counts(self) -> dict[str, dict[float, dict[int, int]]]:
        """Read-only, for the quota view: {lane: {window length: {window index: requests}}} for the
        current and the previous window of each length."""
        with self._state(write=False) as state:
            now = self._now()
            return {lane: {s: {int(k): int(v) for k, v in state["lanes"].get(lane, {}).get(repr(s), {}).items()
                               if int(k) >= math.floor(now / s) - 1}
                           for _, s in self.windows}
                    for lane in LANES}

    def fresh_waiting(self) -> int:
        """Read-only: fresh requests waiting for the quota now (live waiter entries)."""
        with self._state(write=False) as state:
            now = self._now()
            self._expire_waiters(state, now)
            return sum(1 for w in state["waiters"].values() if w["lane"] == "fresh")

    def tenant_counts(self) -> dict[float, dict[str, dict[str, int]]]:
        """Read-only, for the quota view: {window length: {tenant: {lane: requests}}} in the current window
        of each length (tenants with none left out)."""
        with self._state(write=False) as state:
            now = self._now()
            out: dict[float, dict[str, dict[str, int]]] = {}
            for _, seconds in self.windows:
                idx = math.floor(now / seconds)
                per: dict[str, dict[str, int]] = {}
                for lane in LANES:
                    for tenant in state["tenants"].get(lane, {}):
                        granted = self._tenant_counts(state, lane, tenant, seconds, idx)[0]
                        if granted:
                            per.setdefault(tenant, {})[lane] = granted
                out[seconds] = per
            return out

    def counted(self) -> tuple[float, dict[float, dict[int, int]], float]:
        """Read-only, for plans and the quota view (lib/plan/): (now, {window length: {window index:
        requests counted}} for the current window and later ones, blocked_until). Later windows
        can hold requests already: those sent near a window's end count in the next one too."""
        with self._state(write=False) as state:
            now = self._now()
            counts = {s: {int(k): int(v) for k, v in state["counts"].get(repr(s), {}).items() if int(k) >= math.floor(now / s)}
                      for _, s in self.windows}
            return now, counts, float(state["blocked_until"])

    def guard_outlook(self) -> tuple[float, int, float]:
        """Read-only, for plans: (the edge guard now, requests until the latency is known, the guard
        after that: the one now if known, else the floor)."""
        cold = max(0, MIN_LATENCY_SAMPLES - len(self._latencies))
        return self.boundary_guard, cold, self.boundary_guard if not cold else self.guard_floor
