"""The quota view (`replenit quota`, the `replenit/quota` asset): per key, spent and remaining in
each window now, and the spend per lane (fresh, bulk: lib/delivery/quota.py) and per tenant of the key; the requests each entity used over the last 24 hours; the hours in which demand
exceeded the long window's limit (5,000 an hour), both past (recorded runs) and scheduled (the
next 24 hours' expected load).

The state store's sync_runs do not record the key: they are the runs of this deployment, whose
syncs use one key (REPLENIT_KEY_NAME). Past demand is counted in the hour a run finished. Given the
state stores of several component instances (one a tenant, each in its own state folder), the view
reads each, shows each instance's requests per entity, and counts the hours over the limit on their
sum: on one key (docs/component.md's example) they share its quota.
"""

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from replenit_pipelines.lib.contract.api import Window
from replenit_pipelines.lib.delivery.report import plural
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
        # Several instances' runs (an `instance` column, current_quota_view): each instance's entities, in its name's order.
        by = ["instance", "entity"] if "instance" in recent_runs.columns else ["entity"]
        grouped = recent_runs.group_by(by).agg(pl.len().alias("runs"), pl.col("requests").sum().alias("requests"))
        per_entity = grouped.sort([*by[:-1], "requests"], descending=[False] * (len(by) - 1) + [True]).to_dicts()
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
    by = "instance and entity (each instance's" if any("instance" in e for e in view["requests_last_24h"]) else "entity (the"
    lines.append(f"Requests over the last 24 hours, per {by} state store's sync_runs):")
    if not view["requests_last_24h"]:
        lines.append("  none recorded")
    for e in view["requests_last_24h"]:
        per_run = view["expected_requests_per_run"].get(e["entity"])
        instance = f"{e['instance']} " if "instance" in e else ""
        lines.append(f"  {instance}{e['entity']}: {plural(e['requests'], 'request')} in {plural(e['runs'], 'run')}"
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


def current_quota_view(quota_dir: Path, limits: Sequence[Window], store_path: Path | Mapping[str, Path] | None,
                       schedules: Sequence[Schedule], names: dict[str, str] | None = None,
                       now: datetime | None = None) -> dict[str, Any]:
    """The quota view from the quota folder and the state store (None or a missing file: no runs
    yet), or the state stores of several instances by name (`instance_state_stores`: each
    entity's requests are then an instance's). Raises ValueError, saying what to set, when there
    is neither a quota ledger nor a state store."""
    now = now or datetime.now(UTC)
    snapshots = ledger_snapshots(quota_dir, limits)
    on_postgres = state_url_from_env() is not None  # REPLENIT_STATE_URL: the runs are in Postgres
    instances = store_path if isinstance(store_path, Mapping) and not on_postgres else None
    if instances is not None:
        frames = [open_state_store(path).requests_since(since(now)).with_columns(instance=pl.lit(name))
                  for name, path in instances.items()]
        recent = pl.concat(frames) if frames else pl.DataFrame(schema={**RUNS_SCHEMA, "instance": pl.String()})
        has_store = bool(frames)
        where = f"no state store in {quota_dir.parent} or its instances' folders"
    else:
        single = None if isinstance(store_path, Mapping) else store_path
        has_store = on_postgres or (single is not None and single.exists())
        recent = (open_state_store(single or "unused.duckdb").requests_since(since(now)) if has_store
                  else pl.DataFrame(schema=RUNS_SCHEMA))
        where = f"no state store at {single}"
    if not snapshots and not has_store:
        raise ValueError(f"no quota ledger in {quota_dir} and {where}: nothing has been sent "
                         "with this REPLENIT_STATE_DIR yet; set REPLENIT_STATE_DIR to the folder your syncs write to "
                         "(default ./.replenit)")
    load = expected_load(schedules, recent, now)
    return quota_view(snapshots, recent if has_store else None, load, limits, now, names)


DEFAULT_INSTANCE = "replenit"  # the component instance whose key prefix is the default: state in the folder itself


def instance_state_stores(state_dir: Path) -> dict[str, Path]:
    """The state stores in a state folder, by component instance (docs/component.md, "Names"): the
    folder's own (`replenit`: the instance of the default key prefix, and `replenit sync`) and each
    subfolder's (another prefix's instance keeps its state in REPLENIT_STATE_DIR/<prefix>)."""
    stores = {DEFAULT_INSTANCE: state_dir / "state.duckdb"} if (state_dir / "state.duckdb").is_file() else {}
    if state_dir.is_dir():
        stores |= {sub.name: sub / "state.duckdb" for sub in sorted(state_dir.iterdir()) if (sub / "state.duckdb").is_file()}
    return stores
