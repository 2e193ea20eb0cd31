"""The quota view (`replenit quota`, the `replenit/quota` asset): per key, spent and remaining in
each window now, and the spend per lane (fresh, bulk: lib/delivery/quota.py) and per tenant of the key; the requests each entity used over the last 24 hours; the hours in which demand
exceeded the long window's limit (5,000 an hour), both past (recorded runs) and scheduled (the
next 24 hours' expected load).

The state store's sync_runs do not record the key: they are the runs of this deployment, whose
syncs use one key (REPLENIT_KEY_NAME). Past demand is counted in the hour a run finished.
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from replenit_pipelines.lib.contract.api import Window
from replenit_pipelines.lib.plan.eta import HISTORY, ExpectedLoad, Schedule, expected_load
from replenit_pipelines.lib.plan.quota import QuotaSnapshot, ledger_snapshots
from replenit_pipelines.lib.postgres import state_url_from_env
from replenit_pipelines.lib.state import open_state_store


def quota_view(snapshots: Sequence[QuotaSnapshot], recent_runs: pl.DataFrame | None, load: ExpectedLoad | None,
               limits: Sequence[Window], now: datetime | None = None, names: dict[str, str] | None = None) -> dict[str, Any]:
    """`recent_runs`: StateStore.requests_since(now - 24 h), None without a state store; `names`:
    ledger label -> the key's name (REPLENIT_KEY_NAME) where known."""
    now = now or datetime.now(UTC)
    names = names or {}
    long_limit, long_s = max(limits, key=lambda w: w[1]) if limits else (0, 3600.0)
    per_entity: list[dict] = []
    past: list[dict] = []
    if recent_runs is not None and recent_runs.height:
        grouped = recent_runs.group_by("entity").agg(pl.len().alias("runs"), pl.col("requests").sum().alias("requests"))
        per_entity = grouped.sort("requests", descending=True).to_dicts()
        buckets: dict[datetime, int] = {}
        for requests, finished in recent_runs.select("requests", "finished_at").iter_rows():
            start = datetime.fromtimestamp(math.floor(finished.timestamp() / long_s) * long_s, UTC)
            buckets[start] = buckets.get(start, 0) + int(requests or 0)
        past = [{"hour": h.isoformat(), "requests": n} for h, n in sorted(buckets.items()) if long_limit and n > long_limit]
    scheduled = []
    if load is not None and long_limit:
        scheduled = [{"hour": h.isoformat(), "requests": n} for h, n in sorted(load.per_window(long_s).items()) if n > long_limit]
    return {
        "at": now.isoformat(),
        "keys": [{**s.as_dict(), "name": names.get(s.label)} for s in snapshots],
        "requests_last_24h": per_entity,
        "expected_requests_per_run": dict(load.requests_per_run) if load else {},
        "long_window": {"limit": long_limit, "seconds": long_s},
        "hours_over_limit_past_24h": past,
        "hours_over_limit_next_24h": scheduled,
    }


def lane_text(window: dict[str, Any]) -> str:
    """A window's spend per lane, e.g. `fresh 3, bulk 95`."""
    lanes = window.get("spent_by_lane") or {}
    return ", ".join(f"{lane} {lanes.get(lane, 0):,}" for lane in ("fresh", "bulk"))


def tenant_text(window: dict[str, Any]) -> str:
    """A window's spend per tenant and lane, e.g. `tenant 0f8f...: fresh 3, bulk 95; tenant 7c1e...: fresh 1, bulk 0`."""
    tenants = window.get("spent_by_tenant") or {}
    return "; ".join(f"tenant {t or '(unnamed)'}: " + lane_text({"spent_by_lane": lanes}) for t, lanes in sorted(tenants.items()))


def quota_text(view: dict[str, Any]) -> str:
    lines = [f"Quota at {view['at']}"]
    if not view["keys"]:
        lines.append("  no quota ledger yet: nothing has been sent with these settings")
    for k in view["keys"]:
        name = f" ({k['name']})" if k.get("name") else ""
        windows = ", ".join(f"{w['spent']:,}/{w['limit']:,} spent in the {w['seconds']:g} s window "
                            f"({lane_text(w)}; {w['remaining']:,} left, resets in {w['resets_in_s']:.1f} s)" for w in k["windows"])
        blocked = f"; blocked for {k['blocked_for_s']:.1f} s after a 429" if k["blocked_for_s"] else ""
        lines.append(f"  key {k['key']}{name}: {windows or 'no limits'}{blocked}")
        for w in k["windows"]:
            if len(w.get("spent_by_tenant") or {}) > 1:  # several tenants on the key: what each spent
                lines.append(f"    {w['seconds']:g} s window by tenant: {tenant_text(w)}")
    lines.append("Requests over the last 24 hours, per entity (state store's sync_runs):")
    if not view["requests_last_24h"]:
        lines.append("  none recorded")
    for e in view["requests_last_24h"]:
        per_run = view["expected_requests_per_run"].get(e["entity"])
        lines.append(f"  {e['entity']}: {e['requests']:,} requests in {e['runs']:,} runs"
                     + (f" (median {per_run:g} a run)" if per_run is not None else ""))
    lw = view["long_window"]
    for title, key in (("recorded", "hours_over_limit_past_24h"), ("scheduled, next 24 hours", "hours_over_limit_next_24h")):
        hours = view[key]
        lines.append(f"Hours over {lw['limit']:,} requests ({title}): "
                     + ("none" if not hours else ", ".join(f"{h['hour']} ({h['requests']:,})" for h in hours)))
    return "\n".join(lines)


def since(now: datetime | None = None) -> datetime:
    """The start of the recent runs the view and the expected load read (24 hours back)."""
    return (now or datetime.now(UTC)) - HISTORY


RUNS_SCHEMA = {"entity": pl.String(), "partition_key": pl.String(), "outcome": pl.String(), "requests": pl.Int64(),
               "finished_at": pl.Datetime("us", "UTC")}


def current_quota_view(quota_dir: Path, limits: Sequence[Window], store_path: Path | None, schedules: Sequence[Schedule],
                       names: dict[str, str] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The quota view from the quota folder and the state store (None or a missing file: no runs
    yet). Raises ValueError, saying what to set, when there is neither."""
    now = now or datetime.now(UTC)
    snapshots = ledger_snapshots(quota_dir, limits)
    on_postgres = state_url_from_env() is not None  # REPLENIT_STATE_URL: the runs are in Postgres
    has_store = on_postgres or (store_path is not None and store_path.exists())
    if not snapshots and not has_store:
        raise ValueError(f"no quota ledger in {quota_dir} and no state store at {store_path}: nothing has been sent "
                         "with this REPLENIT_STATE_DIR yet; set REPLENIT_STATE_DIR to the folder your syncs write to "
                         "(default ./.replenit)")
    recent = (open_state_store(store_path or "unused.duckdb").requests_since(since(now)) if has_store
              else pl.DataFrame(schema=RUNS_SCHEMA))
    load = expected_load(schedules, recent, now)
    return quota_view(snapshots, recent if has_store else None, load, limits, now, names)
