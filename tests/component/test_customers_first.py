"""Customers before their orders (issue 14): the hourly run sends the day's customers so far before
the hour's orders, and the daily run then sends only what it did not."""

import httpx
from helpers import metadata_of, whole_read_of
from test_dagster_failures import DAY, HOUR, env, instance, run_job, small_warehouse, stored  # noqa: F401 - fixtures


def posts(sandbox_url: str, tenant: str) -> list[str]:
    return [r["path"].split("/")[1] for r in httpx.get(f"{sandbox_url}/_sandbox/requests").json()
            if tenant in r["path"] and r["method"] == "POST"]


def test_the_hourly_run_sends_the_days_customers_so_far_before_the_hours_orders(sandbox, env, instance):  # noqa: F811
    tenant = env["REPLENIT_TENANT_ID"]
    hour = run_job("Sync_products_and_orders_hourly", HOUR, instance)
    assert hour.success
    sent = posts(sandbox.url, tenant)
    assert sent.index("customers") < sent.index("orders")
    # The day's customers updated before 15:00 (c1 at 08:00, c2 at 09:00; c4 superseded by c1), not c6 (23:59).
    assert set(stored(sandbox.url, tenant, "customers")) == {"email:ada@example.com", "email:bob@example.org"}
    (mat,) = hour.asset_materializations_for_node("replenit__customers_intraday")
    # c1 and c2 changed before 14:00: this hour's lookback (the day so far), counted apart from its own window.
    assert mat.partition == HOUR and whole_read_of(mat)["records_accepted"] == 2 and mat.metadata["rows_delivered_lookback"].value == 2

    day = run_job("Sync_customers_daily", DAY, instance)
    assert day.success
    (mat,) = day.asset_materializations_for_node("replenit__customers")
    md = metadata_of(mat)
    assert (md["records_accepted"], md["records_unchanged"]) == (1, 2)  # only c6 is new to Replenit
    assert len(stored(sandbox.url, tenant, "customers")) == 3
