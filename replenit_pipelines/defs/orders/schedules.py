import dagster as dg

from replenit_pipelines.defs.jobs import schedule_status

# Products and orders of one hour in one run, after the day's customers so far (the intraday
# customers sync: customers before their orders, docs/ui.md): a failed products check keeps that
# hour's orders from being sent; a failed intraday customers check does not.
hourly_job = dg.define_asset_job(
    "products_and_orders_hourly_sync",
    selection=dg.AssetSelection.assets(["replenit", "customers_intraday"], ["replenit", "products"], ["replenit", "orders"]),
    description="The day's customers so far, one hour of products, then the same hour of orders; each run is one hourly partition.",
)

hourly_schedule = dg.build_schedule_from_partitioned_job(hourly_job, minute_of_hour=5, default_status=schedule_status())
