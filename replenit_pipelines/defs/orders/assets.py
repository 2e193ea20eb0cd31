from datetime import timedelta

import dagster as dg

from replenit_pipelines.defs.partitions import hourly_partitions
from replenit_pipelines.defs.sync_asset import build_sync_asset


# Built at each load, as the environment says then (REPLENIT_MAPPING decides the sources): a
# module-level asset would keep the mapping of the first import.
@dg.definitions
def orders_assets() -> dg.Definitions:
    # The orders of a window refer to that window's customers (its day) and products (its hour).
    orders_sync = build_sync_asset(
        "orders", hourly_partitions, upstream=[dg.AssetKey(["replenit", "customers"]), dg.AssetKey(["replenit", "customers_intraday"]),
                                              dg.AssetKey(["replenit", "products"])],
        description="Orders (with their lines) updated in the hour, upserted to Replenit (POST /orders) after products.",
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2)),
    )
    return dg.Definitions(assets=[orders_sync])
