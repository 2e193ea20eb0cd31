from datetime import timedelta

import dagster as dg

from replenit_pipelines.defs.partitions import hourly_partitions
from replenit_pipelines.defs.sync_asset import build_sync_asset


# Built at each load, as the environment says then (REPLENIT_MAPPING decides the sources): a
# module-level asset would keep the mapping of the first import.
@dg.definitions
def products_assets() -> dg.Definitions:
    products_sync = build_sync_asset(
        "products", hourly_partitions, upstream=[],
        description="Products (with their variants) updated in the hour, upserted to Replenit (POST /products).",
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2)),
    )
    return dg.Definitions(assets=[products_sync])
