"""How runs execute, and the named jobs the UI launches from an asset page.

Executor: in-process by default. A sync run is one step (customers) or two (products, then
orders), so the multiprocess executor's subprocess per step, which re-imports Dagster and these
definitions, cost more than the work of a small partition (bench/backfill_startup.py). Pools
still hold (the in-process executor claims the step's pool slot like the others) and run
monitoring watches the run's one process. REPLENIT_EXECUTOR=multiprocess restores the default.

Sync jobs: Dagster's UI launches an asset page's materialization under the first job, in name
order, that holds every selected asset, and `__ASSET_JOB` (the implicit job) sorts before any
lowercase name. The sync jobs' names are capitalised so they sort first: runs started from an
asset page carry a name that says what they are. Every other job is lowercase, so that none of
them (a plan, a reconciliation) is ever the one an asset page picks.
"""

import os
from dataclasses import dataclass

import dagster as dg

EXECUTOR_ENV = "REPLENIT_EXECUTOR"


def executor() -> dg.ExecutorDefinition:
    choice = (os.environ.get(EXECUTOR_ENV) or "in_process").strip().lower()
    if choice in ("in_process", "in-process"):
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    raise ValueError(f"{EXECUTOR_ENV}={choice!r}: expected in_process (the default) or multiprocess")


@dataclass(frozen=True)
class SyncStep:
    """One sync asset of a job: its name (replenit/<name>), the entity it syncs, and whether each
    partition reads from its day's start (the intraday customers sync)."""

    name: str
    entity: str
    since_day_start: bool = False


# One job per purpose. The two sync jobs are what the schedules run, what an asset page launches
# and what a backfill from the job's page runs, so every run of a sync carries one of these names.
SYNC_JOBS: dict[str, tuple[SyncStep, ...]] = {
    "Sync_customers_daily": (SyncStep("customers", "customers"),),
    "Sync_products_and_orders_hourly": (SyncStep("customers_intraday", "customers", since_day_start=True),
                                        SyncStep("products", "products"), SyncStep("orders", "orders")),
}
BACKFILL_HINT = ("Backfill from this job's page (Materialize all > select partitions), not from an asset page: runs "
                 "then carry this job's name (an asset page's backfill runs as __ASSET_JOB). One run a partition, one "
                 "at a time in the key's pool. Cost first: the job plan_backfill.")

customers_job = dg.define_asset_job(
    "Sync_customers_daily", selection=dg.AssetSelection.assets(*(["replenit", s.name] for s in SYNC_JOBS["Sync_customers_daily"])),
    description="Customers updated in one day (UTC), validated and upserted to Replenit: one daily partition a run. The "
                "daily schedule runs it for the day that just ended. " + BACKFILL_HINT,
)
hourly_job = dg.define_asset_job(
    "Sync_products_and_orders_hourly",
    selection=dg.AssetSelection.assets(*(["replenit", s.name] for s in SYNC_JOBS["Sync_products_and_orders_hourly"])),
    description="One hour (UTC): the day's customers so far, then the hour's products, then its orders (customers and "
                "products before the orders that refer to them); one hourly partition a run. The hourly schedule runs it "
                "for the hour that just ended. " + BACKFILL_HINT,
)


@dg.definitions
def execution() -> dg.Definitions:
    return dg.Definitions(executor=executor(), jobs=[customers_job, hourly_job])


SCHEDULES_ENV = "REPLENIT_SCHEDULES"


def schedule_status() -> dg.DefaultScheduleStatus:
    """Schedules start stopped unless REPLENIT_SCHEDULES=running: a code location loaded on a
    laptop, in CI or for a first backfill must not start spending a key's quota by itself; a
    production deployment sets it, so the schedules' state lives in its config, not in a click."""
    choice = (os.environ.get(SCHEDULES_ENV) or "stopped").strip().lower()
    if choice not in ("running", "stopped"):
        raise ValueError(f"{SCHEDULES_ENV}={choice!r}: expected running or stopped (the default)")
    return dg.DefaultScheduleStatus.RUNNING if choice == "running" else dg.DefaultScheduleStatus.STOPPED
