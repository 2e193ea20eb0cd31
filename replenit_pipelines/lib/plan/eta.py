"""How long N requests take on a key: from the windows' limits and what the quota ledger says is
spent in the current windows, alone and with the schedules' expected load.

The model: the key's windows are clock-aligned (a window of S seconds starts at multiples of S);
a request may be sent when every window has room, and one sent within the limiter's edge guard of
a window's end counts in the next window too (lib/delivery/quota.py: half the shortest window until
ten answers have measured the latency, then about 1.5x its 99th percentile). Requests go out as
soon as they may, after `lead_s` (the run's local work before its first request: a dry run's own
duration); time spent sending itself (latency x requests / requests in flight) is not counted,
since under the quota the wait dominates. "With load" lets every scheduled run that starts before the plan finishes spend
its expected requests first: the time for the plan and that load together, an upper bound (the
quota is work-conserving, so the last request of the two goes out then, whoever waits); "alone"
is the lower bound.

Lanes (lib/delivery/quota.py): the schedules' runs are fresh work, which goes before bulk work. So the
ETA of bulk work (`lane="bulk"`: a reconciliation, a backfill, `--all`) is the one with the fresh
lane's expected load, and bulk work is never "late" (it never holds up a scheduled run); the ETA of
fresh work is the one alone, and it is late when it cannot finish before the key's next scheduled run.

The expected load of a scheduled run of an entity is the median of the requests of the entity's
runs in the state store's sync_runs over the last 24 hours (a median, so a backfill's big first
run or many runs of unchanged windows do not stand for a typical run); entities without a schedule
but with recent runs are spread evenly over the hours at their observed run frequency.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl
from cronsim import CronSim

from replenit_pipelines.lib.contract.api import Window
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.plan.quota import QuotaSnapshot

HISTORY = timedelta(hours=24)  # the recent runs the expected load is estimated from
HORIZON = timedelta(hours=24)  # how far ahead scheduled runs are expanded


@dataclass(frozen=True)
class Schedule:
    """A schedule of syncs on the key: its cron (UTC unless `timezone`) and the entities each tick
    runs. defs/quota.py builds these from the code location's schedules, so lib/ stays Dagster-free."""

    name: str
    cron: str
    entities: tuple[str, ...]
    timezone: str = "UTC"

    def ticks(self, start: datetime, end: datetime) -> list[datetime]:
        from zoneinfo import ZoneInfo

        out, it = [], CronSim(self.cron, start.astimezone(ZoneInfo(self.timezone)))
        for tick in it:
            if tick >= end:
                break
            out.append(tick.astimezone(UTC))
        return out


@dataclass(frozen=True)
class ScheduledRun:
    at: datetime
    schedule: str
    entity: str
    requests: int  # expected

    def as_dict(self) -> dict:
        return {"at": self.at.isoformat(), "schedule": self.schedule, "entity": self.entity, "requests": self.requests}


@dataclass(frozen=True)
class ExpectedLoad:
    """The key's expected demand from `start` to `start + horizon`."""

    start: datetime
    runs: tuple[ScheduledRun, ...]  # by time; requests 0 when the entity has no recent runs
    requests_per_run: dict[str, float] = field(default_factory=dict)  # per entity: median of recent runs
    runs_last_24h: dict[str, int] = field(default_factory=dict)
    requests_last_24h: dict[str, int] = field(default_factory=dict)

    def next_run(self, after: datetime, entity: str | None = None) -> ScheduledRun | None:
        return next((r for r in self.runs if r.at > after and (entity is None or r.entity == entity)), None)

    def per_window(self, seconds: float) -> dict[datetime, int]:
        """Expected requests per clock-aligned window of `seconds` (the long window: an hour)."""
        out: dict[datetime, int] = {}
        for r in self.runs:
            start = datetime.fromtimestamp(math.floor(r.at.timestamp() / seconds) * seconds, UTC)
            out[start] = out.get(start, 0) + r.requests
        return out


def expected_load(schedules: Sequence[Schedule], recent_runs: pl.DataFrame, now: datetime | None = None,
                  horizon: timedelta = HORIZON) -> ExpectedLoad:
    """The schedules' runs of the next `horizon`, each costing its entity's median requests per run
    in `recent_runs` (StateStore.requests_since(now - 24 h): entity, requests, finished_at)."""
    now = now or datetime.now(UTC)
    per_entity: dict[str, list[int]] = {}
    for entity, requests in recent_runs.select("entity", "requests").iter_rows():
        per_entity.setdefault(entity, []).append(int(requests or 0))
    per_run = {e: float(statistics.median(v)) for e, v in per_entity.items()}
    runs: list[ScheduledRun] = []
    scheduled: set[str] = set()
    for s in schedules:
        scheduled.update(s.entities)
        for tick in s.ticks(now, now + horizon):
            runs += [ScheduledRun(tick, s.name, e, round(per_run.get(e, 0.0))) for e in s.entities]
    hours = HISTORY.total_seconds() / 3600
    for entity, counts in per_entity.items():  # run outside any schedule (pushes, hand-launched runs): spread evenly
        if entity in scheduled:
            continue
        per_hour = sum(counts) / hours
        runs += [ScheduledRun(now + timedelta(hours=h), "unscheduled", entity, round(per_hour))
                 for h in range(1, int(horizon.total_seconds() // 3600) + 1) if round(per_hour)]
    return ExpectedLoad(now, tuple(sorted(runs, key=lambda r: r.at)), per_run,
                        {e: len(v) for e, v in per_entity.items()}, {e: sum(v) for e, v in per_entity.items()})


@dataclass(frozen=True)
class Eta:
    requests: int
    start: datetime
    alone_s: float  # nothing else runs on the key
    with_load_s: float | None  # the schedules' expected load runs too (None: no load given)
    load_requests: int  # the scheduled requests that go before the plan's last one
    next_run: ScheduledRun | None  # the next scheduled run on the key after start
    next_run_of_entity: ScheduledRun | None
    entity: str | None = None
    lane: str = "fresh"  # the quota lane the work would spend in

    @property
    def expected_s(self) -> float:
        """The ETA to plan by: bulk work's counts the fresh lane's expected load (it goes first)."""
        if self.lane == "bulk" and self.with_load_s is not None:
            return self.with_load_s
        return self.alone_s

    @property
    def late(self) -> bool:
        """Fresh work that cannot finish before the key's next scheduled run starts (it would share the
        quota with it). Bulk work is never late: the scheduled runs' requests go before its own."""
        return (self.lane != "bulk" and self.next_run is not None
                and self.start + timedelta(seconds=self.alone_s) > self.next_run.at)

    def as_dict(self) -> dict:
        finish = self.start + timedelta(seconds=self.expected_s)
        return {
            "requests": self.requests, "lane": self.lane, "expected_s": round(self.expected_s, 3),
            "alone_s": round(self.alone_s, 3),
            "finishes_at": finish.isoformat(),
            "with_load_s": round(self.with_load_s, 3) if self.with_load_s is not None else None,
            "load_requests": self.load_requests,
            "next_run": self.next_run.as_dict() if self.next_run else None,
            "next_run_of_entity": self.next_run_of_entity.as_dict() if self.next_run_of_entity else None,
            "late": self.late,
        }

    def text(self) -> str:
        if self.requests == 0:  # no time to give: nothing waits on the quota
            return "nothing to send"
        what = plural(self.requests, "request")
        theirs = f"{plural(self.load_requests, 'request')} of theirs"
        if self.lane == "bulk" and self.with_load_s is not None:
            return (f"{what}: {duration(self.with_load_s)} in the bulk lane, after the fresh lane's expected load "
                    f"({theirs}); {duration(self.alone_s)} if nothing else ran on the key")
        line = f"{what}: {duration(self.alone_s)} if nothing else runs on the key"
        if self.with_load_s is not None:
            line += f", {duration(self.with_load_s)} with the schedules' expected load ({theirs})"
        if self.late and self.next_run is not None:
            line += (f". LATE: it cannot finish before the next scheduled run on the key ({self.next_run.schedule}, "
                     f"{self.next_run.entity} at {self.next_run.at:%Y-%m-%d %H:%M} UTC)")
        return line


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def eta(requests: int, snapshot: QuotaSnapshot, limits: Sequence[Window] | None = None,
        expected_load: ExpectedLoad | None = None, entity: str | None = None, lead_s: float = 0.0,
        lane: str = "fresh") -> Eta:
    """The time `requests` more requests need on the key of `snapshot`, from the snapshot's moment:
    alone, and with `expected_load` (see the module docstring). `limits` default to the snapshot's;
    `lead_s`: seconds of local work before the first request (a dry run's `duration_s`); `lane`: the
    quota lane the requests would go in (bulk work plans by the ETA with the fresh lane's load)."""
    windows = [(int(n), float(s)) for n, s in (limits if limits is not None else snapshot.limits)]
    start = datetime.fromtimestamp(snapshot.at, UTC)
    guard = Guard(snapshot.guard_cold_s, snapshot.cold_requests, snapshot.guard_s)
    first = snapshot.at + max(0.0, lead_s)
    # Bulk requests leave the fresh lane's share of each window until the window's last part.
    share = FreshShare(dict(snapshot.reserve), snapshot.release_s) if lane == "bulk" else FreshShare()
    alone = finish_time(requests, first, windows, snapshot.counts, snapshot.blocked_until, [], guard, share)
    with_load, load_requests, next_run, next_of_entity = None, 0, None, None
    if expected_load is not None:
        events = [(r.at.timestamp(), r.requests) for r in expected_load.runs if r.at.timestamp() >= snapshot.at]
        finish_loaded = finish_time(requests, first, windows, snapshot.counts, snapshot.blocked_until, events, guard, share)
        with_load = finish_loaded - snapshot.at
        load_requests = sum(n for at, n in events if at <= finish_loaded)
        next_run = expected_load.next_run(start)
        next_of_entity = expected_load.next_run(start, entity) if entity else None
    return Eta(requests, start, alone - snapshot.at, with_load, load_requests, next_run, next_of_entity, entity, lane)


@dataclass(frozen=True)
class Guard:
    """The limiter's edge guard: `cold_s` for the first `cold_requests`, then `warm_s`."""

    cold_s: float = 0.0
    cold_requests: int = 0
    warm_s: float = 0.0


@dataclass(frozen=True)
class FreshShare:
    """What bulk requests leave to the fresh lane: `reserve` requests of each window (by length) until
    `release_s` before the window's end (QuotaLimiter.reserve and .release_s); none for fresh work."""

    reserve: dict[float, int] = field(default_factory=dict)
    release_s: float = 0.0


def finish_time(requests: int, now: float, windows: list[tuple[int, float]], counts: dict[float, dict[int, int]],
                blocked_until: float, events: list[tuple[float, int]], guard: Guard = Guard(),
                share: FreshShare = FreshShare()) -> float:
    """When the last of `requests` goes out (epoch seconds), each window allowing its limit per
    clock-aligned window (`counts`: what is counted already), the requests of `events` (time,
    requests) spent first from their time on, ours near a window's end counted in the next
    window too (`guard`), and ours leaving the fresh lane's `share` of each window."""
    if requests <= 0:
        return now
    if not windows:  # no quota: only a 429's Retry-After waits
        return max(now, blocked_until)
    used = {s: dict(counts.get(s, {})) for _, s in windows}
    events = sorted(events)
    t, backlog, left, ei, sent = max(now, blocked_until), 0, requests, 0, 0
    while True:
        while ei < len(events) and events[ei][0] <= t:
            backlog += events[ei][1]
            ei += 1
        room = min(n - used[s].get(math.floor(t / s), 0) for n, s in windows)
        held = {s: share.reserve.get(s, 0) if (math.floor(t / s) + 1) * s - t > share.release_s else 0 for _, s in windows}
        if room > 0:
            theirs = min(room, backlog)
            ours_room = min(n - held[s] - used[s].get(math.floor(t / s), 0) for n, s in windows) - theirs
            ours = max(0, min(ours_room, left))
            backlog, left = backlog - theirs, left - ours
            edge = guard.cold_s if sent < guard.cold_requests else guard.warm_s
            sent += ours
            for _, s in windows:
                idx = math.floor(t / s)
                used[s][idx] = used[s].get(idx, 0) + theirs + ours
                if (idx + 1) * s - t < edge:
                    used[s][idx + 1] = used[s].get(idx + 1, 0) + ours
            if left == 0:
                return t
        # No room: wait for every full window to roll over (a hair past the boundary, as the limiter
        # does, and so that float division puts t in the next window), or its fresh share to be released.
        unblocked = [(math.floor(t / s) + 1) * s if used[s].get(math.floor(t / s), 0) >= n
                     else (math.floor(t / s) + 1) * s - share.release_s
                     for n, s in windows if used[s].get(math.floor(t / s), 0) >= n - held[s]]
        t = max(unblocked) + 1e-6
