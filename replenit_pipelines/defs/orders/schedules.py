import dagster as dg

from replenit_pipelines.defs.jobs import hourly_job, schedule_status

# Products and orders of one hour in one run, after the day's customers so far (the intraday
# customers sync: customers before their orders, docs/ui.md): a failed products check keeps that
# hour's orders from being sent; a failed intraday customers check does not.
hourly_schedule = dg.build_schedule_from_partitioned_job(
    hourly_job, name="products_and_orders_hourly_schedule", minute_of_hour=5, default_status=schedule_status(),
    description="Every hour at :05 UTC: the hour that just ended, customers so far, products, then orders "
                "(Sync_products_and_orders_hourly). Stopped unless REPLENIT_SCHEDULES=running.",
)
