"""How runs execute, and the named jobs and schedules of one component instance.

Executor: in-process by default, set on every job the component makes (so it holds in a user's
project too). A sync run is one step (customers) or two or three (the day's customers so far,
products, then orders), so the multiprocess executor's subprocess per step, which re-imports
Dagster and these definitions, cost more than the work of a small partition
(bench/backfill_startup.py). Pools still hold (the in-process executor claims the step's pool slot
like the others) and run monitoring watches the run's one process. REPLENIT_EXECUTOR=multiprocess
restores Dagster's default.

Sync jobs: Dagster's UI launches an asset page's materialization under the first job, in name
order, that holds every selected asset, and `__ASSET_JOB` (the implicit job) sorts before any
lowercase name. The sync jobs' names are capitalised so they sort first: runs started from an
asset page carry a name that says what they are. Every other job is lowercase, so that none of
them (a plan, a reconciliation) is ever the one an asset page picks.
"""

import os
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from replenit_pipelines.component.site import SyncSite, SyncStep
from replenit_pipelines.lib.plan import Schedule

EXECUTOR_ENV = "REPLENIT_EXECUTOR"


def executor() -> dg.ExecutorDefinition:
    choice = (os.environ.get(EXECUTOR_ENV) or "in_process").strip().lower()
    if choice in ("in_process", "in-process"):
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    raise ValueError(f"{EXECUTOR_ENV}={choice!r}: expected in_process (the default) or multiprocess")


BACKFILL_HINT = ("Backfill from this job's page (Materialize all > select partitions), not from an asset page: runs "
                 "then carry this job's name (an asset page's backfill runs as __ASSET_JOB). One run a partition, one "
                 "at a time in the key's pool. Cost first: the job {plan}.")


def sync_jobs(site: SyncSite) -> dict[str, tuple[SyncStep, ...]]:
    """One job per purpose: the daily customers, and one hour's customers so far, products and
    orders. They are what the schedules run, what an asset page launches and what a backfill from
    the job's page runs, so every run of a sync carries one of these names."""
    daily = tuple(s for s in site.steps if not s.hourly)
    hourly = tuple(s for s in site.steps if s.hourly)
    jobs: dict[str, tuple[SyncStep, ...]] = {}
    if daily:
        jobs[site.names.name("Sync_customers_daily")] = daily
    if hourly:
        what = "_and_".join(s.entity for s in hourly if not s.since_day_start)
        jobs[site.names.name(f"Sync_{what}_hourly")] = hourly
    return jobs


def hourly_text(steps: tuple[SyncStep, ...]) -> str:
    parts = []
    if any(s.since_day_start for s in steps):
        parts.append("the day's customers so far")
    parts += [f"the hour's {s.entity}" for s in steps if not s.since_day_start]
    return ", then ".join(parts)


def build_sync_jobs(site: SyncSite, keys: dict[str, dg.AssetKey]) -> list[UnresolvedAssetJobDefinition]:
    """`keys`: each sync asset's key by its name (a subclass may have changed the default keys)."""
    hint = BACKFILL_HINT.format(plan=site.names.name("plan_backfill"))
    jobs = []
    for name, steps in sync_jobs(site).items():
        selection = dg.AssetSelection.assets(*(keys[s.name] for s in steps))
        if any(s.hourly for s in steps):
            description = (f"One hour (UTC): {hourly_text(steps)}"
                           + (" (customers and products before the orders that refer to them)" if "orders" in name else "")
                           + "; one hourly partition a run. The hourly schedule runs it for the hour that just ended. " + hint)
        else:
            description = ("Customers updated in one day (UTC), validated and upserted to Replenit: one daily partition a run. "
                           "The daily schedule runs it for the day that just ended. " + hint)
        jobs.append(dg.define_asset_job(name, selection=selection, description=description, executor_def=executor()))
    return jobs


DAILY_AT = (0, 15)  # 00:15 UTC, the day that just ended
HOURLY_AT = 5  # :05, the hour that just ended


def schedule_name(site: SyncSite, job_name: str) -> str:
    steps = sync_jobs(site)[job_name]
    if not any(s.hourly for s in steps):
        return site.names.name("customers_daily_schedule")
    base = job_name.removeprefix("Sync_").removesuffix("" if site.names.default else f"_{site.names.ident}")
    return site.names.name(f"{base}_schedule")


def site_schedules(site: SyncSite) -> list[Schedule]:
    """The instance's sync schedules as lib/plan sees them (for plans run outside a repository)."""
    if not site.schedules_on:
        return []
    out = []
    for job_name, steps in sync_jobs(site).items():
        hourly = any(s.hourly for s in steps)
        cron = f"{HOURLY_AT} * * * *" if hourly else f"{DAILY_AT[1]} {DAILY_AT[0]} * * *"
        out.append(Schedule(schedule_name(site, job_name), cron, tuple(s.name for s in steps), "UTC"))
    return out


def build_sync_schedules(site: SyncSite, jobs: list[UnresolvedAssetJobDefinition]) -> list[Any]:
    """After the day closes (UTC), for the day that just ended; at five past each hour, for the hour
    that just ended. Stopped unless the component (or REPLENIT_SCHEDULES) says running: a code
    location loaded on a laptop, in CI or for a first backfill must not start spending a key's quota
    by itself; a production deployment sets it, so the schedules' state lives in its config."""
    schedules = []
    for job in jobs:
        steps = sync_jobs(site)[job.name]
        if any(s.hourly for s in steps):
            # One hour in one run, after the day's customers so far: a failed products check keeps that
            # hour's orders from being sent; a failed intraday customers check does not.
            schedules.append(dg.build_schedule_from_partitioned_job(
                job, name=schedule_name(site, job.name), minute_of_hour=HOURLY_AT, default_status=site.default_status,
                description=f"Every hour at :05 UTC: the hour that just ended, {hourly_text(steps)} ({job.name}). "
                            + site.status_text))
        else:
            schedules.append(dg.build_schedule_from_partitioned_job(
                job, name=schedule_name(site, job.name), hour_of_day=DAILY_AT[0], minute_of_hour=DAILY_AT[1],
                default_status=site.default_status,
                description=f"Every day at 00:15 UTC: the customers of the day that just ended ({job.name}). "
                            + site.status_text))
    return schedules
