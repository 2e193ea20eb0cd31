from datetime import timedelta

import dagster as dg

from replenit_pipelines.defs.partitions import daily_partitions, hourly_partitions
from replenit_pipelines.defs.sync_asset import build_sync_asset


# Built at each load, as the environment says then (REPLENIT_MAPPING decides the sources): a
# module-level asset would keep the mapping of the first import.
@dg.definitions
def customers_assets() -> dg.Definitions:
    customers_sync = build_sync_asset(
        "customers", daily_partitions, upstream=[],
        description="Customers updated in the day, validated and upserted to Replenit (POST /customers).",
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=27), warn_window=timedelta(hours=25)),
    )

    # Customers before their orders (docs/ui.md): each hour, before that hour's orders, the day's
    # customers so far, through the same ledger, so only those not yet acknowledged (or changed since)
    # are sent; the daily run then sends only what changed after the last hour.
    customers_intraday_sync = build_sync_asset(
        "customers", hourly_partitions, upstream=[], name="customers_intraday", since_day_start=True,
        blocks_downstream=False,  # a bad customer must not hold up the hour's orders: the daily run's checks gate customers
        description="Customers updated since the day's start (UTC), up to the hour's end, sent before that hour's orders; "
                    "the ledger skips those already acknowledged.",
    )
    return dg.Definitions(assets=[customers_sync, customers_intraday_sync])
