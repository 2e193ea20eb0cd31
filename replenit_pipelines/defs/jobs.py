"""How runs execute, and the named jobs the UI launches from an asset page.

Executor: in-process by default. A sync run is one step (customers) or two (products, then
orders), so the multiprocess executor's subprocess per step, which re-imports Dagster and these
definitions, cost more than the work of a small partition (bench/backfill_startup.py). Pools
still hold (the in-process executor claims the step's pool slot like the others) and run
monitoring watches the run's one process. REPLENIT_EXECUTOR=multiprocess restores the default.

UI jobs: Dagster's UI launches an asset page's materialization under the first job, in name
order, that holds every selected asset, and `__ASSET_JOB` (the implicit job) sorts before any
lowercase name. These jobs sort first (capitalised), so runs started from an asset page or a
partition backfill in the UI carry a name that says what they are.
"""

import os

import dagster as dg

EXECUTOR_ENV = "REPLENIT_EXECUTOR"


def executor() -> dg.ExecutorDefinition:
    choice = (os.environ.get(EXECUTOR_ENV) or "in_process").strip().lower()
    if choice in ("in_process", "in-process"):
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    raise ValueError(f"{EXECUTOR_ENV}={choice!r}: expected in_process (the default) or multiprocess")


customers_ui_job = dg.define_asset_job(
    "Sync_customers_daily", selection=dg.AssetSelection.assets(["replenit", "customers"]),
    description="Customers, one daily partition a run: the job the UI uses when customers are materialized from "
                "their asset page (the schedule runs customers_daily_sync, the same asset).",
)
hourly_ui_job = dg.define_asset_job(
    "Sync_products_and_orders_hourly",
    selection=dg.AssetSelection.assets(["replenit", "customers_intraday"], ["replenit", "products"], ["replenit", "orders"]),
    description="Products and/or orders, one hourly partition a run: the job the UI uses when they are materialized "
                "from an asset page (the schedule runs products_and_orders_hourly_sync).",
)


@dg.definitions
def execution() -> dg.Definitions:
    return dg.Definitions(executor=executor(), jobs=[customers_ui_job, hourly_ui_job])


SCHEDULES_ENV = "REPLENIT_SCHEDULES"


def schedule_status() -> dg.DefaultScheduleStatus:
    """Schedules start stopped unless REPLENIT_SCHEDULES=running: a code location loaded on a
    laptop, in CI or for a first backfill must not start spending a key's quota by itself; a
    production deployment sets it, so the schedules' state lives in its config, not in a click."""
    choice = (os.environ.get(SCHEDULES_ENV) or "stopped").strip().lower()
    if choice not in ("running", "stopped"):
        raise ValueError(f"{SCHEDULES_ENV}={choice!r}: expected running or stopped (the default)")
    return dg.DefaultScheduleStatus.RUNNING if choice == "running" else dg.DefaultScheduleStatus.STOPPED
