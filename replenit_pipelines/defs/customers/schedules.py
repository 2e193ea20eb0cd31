import dagster as dg

from replenit_pipelines.defs.jobs import schedule_status

customers_daily_job = dg.define_asset_job(
    "customers_daily_sync", selection=dg.AssetSelection.assets(["replenit", "customers"]),
    description="One day of customers; each run is one daily partition.",
)

# After the day closes (UTC), for the day that just ended.
customers_daily_schedule = dg.build_schedule_from_partitioned_job(customers_daily_job, hour_of_day=0, minute_of_hour=15, default_status=schedule_status())
