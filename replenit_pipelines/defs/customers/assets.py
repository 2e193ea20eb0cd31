from datetime import timedelta

import dagster as dg

from replenit_pipelines.defs.partitions import daily_partitions
from replenit_pipelines.defs.sync_asset import build_sync_asset

customers_sync = build_sync_asset(
    "customers", daily_partitions, upstream=[],
    description="Customers updated in the day, validated and upserted to Replenit (POST /customers).",
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=27), warn_window=timedelta(hours=25)),
)
