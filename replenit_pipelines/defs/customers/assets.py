from replenit_pipelines.defs.partitions import daily_partitions
from replenit_pipelines.defs.sync_asset import build_sync_asset

customers_sync = build_sync_asset(
    "customers", daily_partitions, upstream=[],
    description="Customers updated in the day, validated and upserted to Replenit (POST /customers).",
)
