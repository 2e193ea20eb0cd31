"""Near-real-time orders (issue 24, item 4; the component's `near_real_time` field, off by default).

A sensor looks at the warehouse every `interval_seconds` (60 by default) with a cheap local query:
the rows of the current hour and of the hour before (late rows) and their newest update time, per
hour (lib/warehouse/observe.py `window_fingerprint`). Its cursor holds what it saw last. Only when
that moved does it launch a run of `Sync_orders_near_real_time`: the day's customers so far, then
the current hour's orders (with the hour before as the lookback), through the ledger in the quota's
fresh lane, with the same accounting metadata and checks as the hourly partitions. Nothing changed:
no run, no request. The hourly partition of that hour runs later as always and finds those orders
unchanged in the ledger (0 requests for them); it stays the complete record of the hour.

The run is not partitioned: the current hour is not a partition yet (an hourly partition exists once
its hour has ended), and a run without a `dagster/partition` tag is not held by the one-run-per-
partition limit. So the sensor keeps out of the way itself: it launches nothing while a
near-real-time run is queued or going (two would send the same orders twice) or while the hourly
sync of one of its two hours is (the same orders, diffed by both before either acknowledged them).
It then tries again on its next tick: its cursor moves only when it launches.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import duckdb
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from replenit_pipelines.component.jobs import executor, sync_jobs
from replenit_pipelines.component.site import SyncSite
from replenit_pipelines.lib.warehouse import Warehouse
from replenit_pipelines.lib.warehouse.observe import window_fingerprint

HOUR_TAG = "replenit/near_real_time_hour"  # the run's hour (UTC, an hourly partition key's form): its window
NEAR_REAL_TIME_LOOKBACK_HOURS = 1.0  # the hour before the current one: its late rows, sent within a minute too
HOUR_FORMAT = "%Y-%m-%d-%H:%M"
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def current_hour(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)


def near_real_time_window(tags: Mapping[str, str]) -> tuple[dg.TimeWindow, str]:
    """The run's own window (its hour, from the sensor's tag; a run launched by hand: the current
    hour) and its label in the state store and the logs."""
    raw = tags.get(HOUR_TAG)
    hour = datetime.strptime(raw, HOUR_FORMAT).replace(tzinfo=UTC) if raw else current_hour()
    return dg.TimeWindow(hour, hour + timedelta(hours=1)), f"{hour.strftime(HOUR_FORMAT)} (near-real-time)"


def build_near_real_time_job(site: SyncSite, keys: dict[str, dg.AssetKey]) -> UnresolvedAssetJobDefinition:
    steps = site.near_real_time_steps
    return dg.define_asset_job(
        site.names.name("Sync_orders_near_real_time"),
        selection=dg.AssetSelection.assets(*(keys[s.name] for s in steps)),
        executor_def=executor(),
        description="The current hour's orders so far (and the hour before, for late rows), after the day's customers "
                    "so far, in the quota's fresh lane; launched by the near-real-time sensor when the warehouse's "
                    "orders changed. Not partitioned: the hourly partition later finds these orders unchanged.")


def fingerprint(site: SyncSite, hour: datetime) -> dict[str, list[Any]]:
    """Per hour of the window (the one before `hour`, and `hour`): [rows, newest update or a hash]."""
    warehouse, mapping = Warehouse(site.warehouse_path), site.mappings["orders"]
    out = {}
    for start in (hour - timedelta(hours=1), hour):
        rows, mark = window_fingerprint(warehouse, mapping, start, start + timedelta(hours=1))
        out[start.strftime(HOUR_FORMAT)] = [rows, mark]
    return out


def changed_hours(seen: dict[str, list[Any]], now: dict[str, list[Any]]) -> list[str]:
    """The hours whose rows differ from the cursor's; an hour the cursor never saw (the new hour after
    the boundary, or the sensor's first look) counts only if it has rows."""
    return [hour for hour, value in now.items() if (value != seen[hour] if hour in seen else value[0] > 0)]


def build_near_real_time_sensor(site: SyncSite, job: UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """The near-real-time sensor of one instance (see the module's docstring)."""
    assert site.near_real_time is not None
    settings = site.near_real_time
    status = (settings.status or site.status)
    hourly_jobs = [name for name, steps in sync_jobs(site).items() if any(s.entity == "orders" for s in steps)]

    @dg.sensor(
        name=site.names.name("orders_near_real_time"), job=job, minimum_interval_seconds=settings.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING if status == "running" else dg.DefaultSensorStatus.STOPPED,
        description=f"Every {settings.interval_seconds} s: a cheap look at the warehouse's orders of the current hour and "
                    "the hour before (rows and newest update time); when they changed, a run of "
                    f"{job.name} sends the new and changed orders (customers first) in the quota's fresh lane. Nothing "
                    "changed: no run, no request.",
    )
    def orders_near_real_time(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        hour = current_hour()
        seen = json.loads(context.cursor) if context.cursor else {}
        try:
            now = fingerprint(site, hour)
        except duckdb.IOException as exc:  # a writer holds the DuckDB file: transient, look again next tick
            return dg.SkipReason(f"The warehouse cannot be read now ({str(exc).splitlines()[0]}): next tick.")
        changed = changed_hours(seen, now)
        if not changed:
            return dg.SkipReason(f"No order of {', '.join(now)} changed since the last look ({sum(v[0] for v in now.values())} "
                                 "rows): nothing to send.")
        busy = context.instance.get_run_records(dg.RunsFilter(job_name=job.name, statuses=IN_PROGRESS), limit=1)
        for name in hourly_jobs:
            if busy:
                break
            for key in now:
                busy = busy or context.instance.get_run_records(dg.RunsFilter(
                    job_name=name, statuses=IN_PROGRESS, tags={"dagster/partition": key}), limit=1)
        if busy:
            run = busy[0].dagster_run
            return dg.SkipReason(f"Orders of {', '.join(changed)} changed, but run {run.run_id[:8]} of {run.job_name} is "
                                 "still going (it would send the same orders): next tick.")
        context.update_cursor(json.dumps(now))
        return dg.RunRequest(tags={HOUR_TAG: hour.strftime(HOUR_FORMAT)})

    return orders_near_real_time
