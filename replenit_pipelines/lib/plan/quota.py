"""What a key's quota ledger says now: spent and remaining in each window.

The ledger (lib/delivery/quota.py) is a file per key under the quota folder, named by a digest of
the API's address and the key (`ledger_name`), never the key: that digest is the key's label here.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from replenit_pipelines.lib.contract.api import Window
from replenit_pipelines.lib.delivery.quota import LANES, QuotaLimiter
from replenit_pipelines.lib.postgres import FROM_ENV, StateUrl, StateUrlArg, connect, resolve


@dataclass(frozen=True)
class WindowState:
    limit: int  # requests the window allows
    seconds: float  # its length (clock-aligned: windows start at multiples of it)
    spent: int  # requests counted in the current window
    resets_in_s: float  # until the current window ends
    spent_by_lane: dict[str, int] = field(default_factory=dict)  # the current window's requests per lane (fresh, bulk)
    # ... and per tenant of the key, per lane: {tenant id: {lane: requests}} (tenants with none left out)
    spent_by_tenant: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.spent)

    def as_dict(self) -> dict:
        return {"limit": self.limit, "seconds": self.seconds, "spent": self.spent, "remaining": self.remaining,
                "resets_in_s": round(self.resets_in_s, 3), "spent_by_lane": dict(self.spent_by_lane),
                "spent_by_tenant": {t: dict(lanes) for t, lanes in self.spent_by_tenant.items()}}


@dataclass(frozen=True)
class QuotaSnapshot:
    label: str  # the ledger's file name without .json: a digest, never the key
    at: float  # epoch seconds the ledger was read at
    windows: tuple[WindowState, ...]
    blocked_until: float  # epoch seconds: a 429's Retry-After (0 when none)
    counts: dict[float, dict[int, int]]  # window length -> window index -> requests, current and later windows
    # The limiter's edge guard (a request this close to a window's end counts in the next one too):
    # guard_cold_s for the next cold_requests requests (until the latency is known), then guard_s.
    guard_cold_s: float = 0.0
    cold_requests: int = 0
    guard_s: float = 0.0
    fresh_waiting: int = 0  # fresh requests waiting for the quota at `at`
    # What bulk requests leave to the fresh lane (QuotaLimiter.reserve, .release_s): for bulk plans' ETAs.
    reserve: dict[float, int] = field(default_factory=dict)
    release_s: float = 0.0
    # Seconds the server's windows start after ours, learned from its 429s (QuotaLimiter.server_skew):
    # `at`, `counts` and `blocked_until` are on the server's clock (ours less this).
    server_skew_s: float = 0.0

    @property
    def limits(self) -> tuple[Window, ...]:
        return tuple((w.limit, w.seconds) for w in self.windows)

    def as_dict(self) -> dict:
        return {"key": self.label, "at": datetime.fromtimestamp(self.at + self.server_skew_s, UTC).isoformat(),
                "blocked_for_s": round(max(0.0, self.blocked_until - self.at), 3), "fresh_waiting": self.fresh_waiting,
                "server_clock_behind_s": round(self.server_skew_s, 3),
                "windows": [w.as_dict() for w in self.windows]}


def quota_snapshot(limiter: QuotaLimiter, label: str | None = None) -> QuotaSnapshot:
    """The limiter's ledger now (read only): a client's is `client.quota`."""
    now, counts, blocked_until = limiter.counted()
    lanes = limiter.lane_counts()
    tenants = limiter.tenant_counts()
    guard_now, cold, guard_after = limiter.guard_outlook()
    windows = tuple(
        WindowState(limit, seconds, counts.get(seconds, {}).get(math.floor(now / seconds), 0),
                    (math.floor(now / seconds) + 1) * seconds - now,
                    {lane: lanes[lane].get(seconds, {}).get(math.floor(now / seconds), 0) for lane in LANES},
                    tenants.get(seconds, {}))
        for limit, seconds in limiter.windows
    )
    return QuotaSnapshot(label or Path(limiter.ledger).stem, now, windows, blocked_until, counts, guard_now, cold, guard_after,
                         limiter.fresh_waiting(), dict(limiter.reserve), limiter.release_s, limiter.server_skew())


def ledger_snapshots(quota_dir: str | Path, limits: Sequence[Window],
                     state_url: StateUrlArg = FROM_ENV) -> list[QuotaSnapshot]:
    """Every key's ledger in `quota_dir`, or in Postgres when a state URL is given (by default
    REPLENIT_STATE_URL), read with the windows `limits` (the ledger stores counts by window
    length, not the limits): one snapshot per key, by label."""
    url = resolve(state_url)
    if url is not None:
        return [quota_snapshot(QuotaLimiter(list(limits), Path(quota_dir) / f"{key_id}.json", state_url=url))
                for key_id in postgres_key_ids(url)]
    folder = Path(quota_dir)
    if not folder.is_dir():
        return []
    return [quota_snapshot(QuotaLimiter(list(limits), path)) for path in sorted(folder.glob("*.json"))]


def postgres_key_ids(url: StateUrl) -> list[str]:
    """The keys the Postgres quota ledger counts (their digests), none if it has no table yet."""
    with connect(url, "quota view") as con:
        exists = con.execute("SELECT to_regclass('quota_keys') IS NOT NULL").fetchone()[0]
        return [r[0] for r in con.execute("SELECT key_id FROM quota_keys ORDER BY key_id").fetchall()] if exists else []
