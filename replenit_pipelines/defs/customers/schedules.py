import dagster as dg

from replenit_pipelines.defs.jobs import customers_job, schedule_status

# After the day closes (UTC), for the day that just ended.
customers_daily_schedule = dg.build_schedule_from_partitioned_job(
    customers_job, name="customers_daily_schedule", hour_of_day=0, minute_of_hour=15, default_status=schedule_status(),
    description="Every day at 00:15 UTC: the customers of the day that just ended (Sync_customers_daily). Stopped unless "
                "REPLENIT_SCHEDULES=running.",
)
