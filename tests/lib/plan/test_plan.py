"""Plans before spending (issue 13), in lib/plan: the quota snapshot reads the shared ledger without
touching it, the ETA follows the limiter's own windows (and the real run's wall time on a
time-scaled quota), the schedules' expected load comes from recent runs, and the quota view finds
the hours over the limit. Real quota ledgers in tmp folders, the real sandbox, real DuckDB files.
"""

import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from helpers import CUSTOMER_MAPPING, FakeClock
from test_ledger_sync import DAY, customers, write_table

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.quota import QuotaLimiter
from replenit_pipelines.lib.plan import Schedule, eta, expected_load, plan_summary, plan_text, quota_snapshot, quota_view
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse

NOW = datetime(2026, 11, 28, 10, 20, tzinfo=UTC)


def test_the_snapshot_says_what_is_spent_and_reads_the_ledger_without_writing_it(tmp_path):
    clock = FakeClock(1000.25)
    limiter = QuotaLimiter([(10, 1.0), (25, 10.0)], tmp_path / "k.json", clock=clock, sleep=clock.sleep)
    for _ in range(4):
        limiter.acquire("fresh")
    before = (tmp_path / "k.json").read_bytes()
    snap = quota_snapshot(limiter)
    assert (tmp_path / "k.json").read_bytes() == before
    assert [(w.spent, w.remaining) for w in snap.windows] == [(4, 6), (4, 21)]
    assert [round(w.resets_in_s, 6) for w in snap.windows] == [0.75, 9.75]
    assert snap.label == "k" and snap.as_dict()["windows"][1] == {"limit": 25, "seconds": 10.0, "spent": 4, "remaining": 21,
                                                                  "resets_in_s": 9.75, "spent_by_lane": {"fresh": 4, "bulk": 0},
                                                                  "spent_by_tenant": {"": {"fresh": 4}}}  # one unnamed tenant


@pytest.mark.parametrize("lane", ["fresh", "bulk"])
@pytest.mark.parametrize("requests", [1, 6, 7, 21, 22, 40, 95])
def test_the_eta_is_when_the_limiter_lets_the_last_request_go(tmp_path, requests, lane):
    """The plan's ETA against the real limiter acquiring the same requests on a fake clock, in either
    lane (bulk leaves the fresh lane's share of each window until its last half)."""
    clock = FakeClock(1000.25)
    limiter = QuotaLimiter([(10, 1.0), (25, 10.0)], tmp_path / "k.json", clock=clock, sleep=clock.sleep)
    for _ in range(50):  # a known latency: on a fake clock no answer would ever warm the edge guard up
        limiter.record_latency(0.004)
    for _ in range(4):
        limiter.acquire("fresh")
    planned = eta(requests, quota_snapshot(limiter), lane=lane)
    start = clock.now
    for _ in range(requests):
        limiter.acquire(lane)
    assert planned.alone_s == pytest.approx(clock.now - start, abs=0.01)


def test_scheduled_load_delays_a_plan_and_a_plan_past_the_next_run_is_late(tmp_path):
    clock = FakeClock(NOW.timestamp())
    limiter = QuotaLimiter([(100, 60.0), (5000, 3600.0)], tmp_path / "k.json", clock=clock, sleep=clock.sleep)
    recent = pl.DataFrame({"entity": ["orders"] * 3 + ["customers"], "requests": [400, 900, 500, 240],
                           "finished_at": [NOW - timedelta(hours=h) for h in (1, 2, 3, 4)]})
    load = expected_load([Schedule("hourly", "5 * * * *", ("orders",))], recent, NOW)
    assert load.requests_per_run == {"orders": 500.0, "customers": 240.0}  # medians
    # customers have no schedule: their 240 requests of the last 24 hours, spread hourly
    assert [(r.at.hour, r.at.minute, r.entity, r.requests) for r in load.runs[:3]] == [
        (11, 5, "orders", 500), (11, 20, "customers", 10), (12, 5, "orders", 500)]

    short = eta(1000, quota_snapshot(limiter), expected_load=load, entity="orders")
    assert short.alone_s == pytest.approx(9 * 60, abs=0.01)  # ten minute windows from 10:20:00, the last one starts 10:29
    assert not short.late and short.next_run_of_entity is not None and short.next_run_of_entity.at.hour == 11
    assert short.with_load_s == short.alone_s and short.load_requests == 0  # done before 11:05

    long = eta(9000, quota_snapshot(limiter), expected_load=load, entity="orders")
    assert long.late and long.with_load_s is not None and long.with_load_s > long.alone_s
    # Alone: 4,000 by 11:00 (100 a minute), the other 5,000 by 11:49. With load: 11:05's and 11:20's 510 take
    # that much of 11:00's 5,000; 510 are left for 12:00-12:04, then 12:05's 500 go first, the last 10 at 12:10.
    assert long.alone_s == pytest.approx(89 * 60, abs=0.01) and long.with_load_s == pytest.approx(110 * 60, abs=0.01)
    assert long.load_requests == 1010
    assert "LATE" in long.text()


def test_the_quota_view_lists_the_hours_over_the_limit(tmp_path):
    runs = pl.DataFrame({"entity": ["orders", "orders", "products"], "partition_key": ["a", "b", "c"],
                         "outcome": ["delivered"] * 3, "requests": [3000, 2500, 100],
                         "finished_at": [NOW - timedelta(hours=2, minutes=m) for m in (5, 10, 15)]})
    load = expected_load([Schedule("hourly", "5 * * * *", ("orders",)), Schedule("daily", "15 0 * * *", ("products",))], runs, NOW)
    limiter = QuotaLimiter([(100, 60.0), (5000, 3600.0)], tmp_path / "k.json")
    view = quota_view([quota_snapshot(limiter)], runs, load, [(100, 60.0), (5000, 3600.0)], NOW)
    assert view["hours_over_limit_past_24h"] == [{"hour": "2026-11-28T08:00:00+00:00", "requests": 5600}]
    assert view["hours_over_limit_next_24h"] == []  # a median orders run is 2,750 requests an hour
    heavy = expected_load([Schedule("twice", "5,35 * * * *", ("orders",)), Schedule("daily", "15 0 * * *", ("products",))], runs, NOW)
    over = quota_view([], runs, heavy, [(100, 60.0), (5000, 3600.0)], NOW)["hours_over_limit_next_24h"]
    # From 10:20: 10:00 has only 10:35's run, 10:00 tomorrow only 10:05's (10:35 is past the 24 hours)
    assert len(over) == 23 and over[0] == {"hour": "2026-11-28T11:00:00+00:00", "requests": 5500}
    assert {"hour": "2026-11-29T00:00:00+00:00", "requests": 5600} in over
    assert {e["entity"]: e["requests"] for e in view["requests_last_24h"]} == {"orders": 5500, "products": 100}


LIMITS = ((10, 0.5), (5000, 36.0))  # time-scaled: 10 per half second


def test_the_eta_on_a_time_scaled_quota_is_the_real_runs_wall_time_and_the_plan_its_requests(tmp_path):
    with Sandbox(limits=list(LIMITS)) as sb:
        tenant_id, key = sb.add_tenant()
        write_table(tmp_path / "wh.duckdb", "customers", customers(1000))
        store = DuckDBStateStore(tmp_path / "state" / "state.duckdb")
        with ReplenitClient(ClientConfig(base_url=sb.url, tenant_id=tenant_id, api_key=key, limits=LIMITS,
                                         batch_sizes={"customers": 5}, quota_dir=str(tmp_path / "quota"))) as client:

            def sync(dry_run: bool):
                return sync_window(SyncRequest(
                    mapping=CUSTOMER_MAPPING, warehouse=Warehouse(tmp_path / "wh.duckdb"), client=client, store=store,
                    start=DAY, end=DAY + timedelta(days=1), partition_key=DAY.date().isoformat(), run_id=f"dry-{dry_run}",
                    dry_run=dry_run))

            sync(dry_run=True)  # warms the process up (imports, first reads): the real run below is warm too
            planned = sync(dry_run=True)
            summary = plan_summary(planned, eta(planned.requests_planned, quota_snapshot(client.quota), lead_s=planned.duration_s,
                                                      lane=client.config.lane))
            started = time.monotonic()
            real = sync(dry_run=False)
            wall = time.monotonic() - started
    assert summary["requests_needed"] == 200  # 20 windows: about 10 s, so one window (0.5 s) is 5%
    done = plan_summary(real)
    assert abs(done["requests_needed"] - summary["requests_needed"]) <= 1
    for name in ("rows_read", "rows_quarantined", "records_new", "records_to_send", "rows_to_send"):
        assert done[name] == summary[name], name
    assert summary["eta"]["alone_s"] == pytest.approx(wall, rel=0.10), (summary["eta"], wall)
    assert "200 requests" in plan_text(summary)


def test_a_plans_quarantine_examples_are_masked(sandbox, tmp_path):
    rows = customers(3, c1={"email": "jane.doe@@example.com"}, c2={"phone": "+44 20 7946 0958x", "locale": "xx-not-a-tag"})
    write_table(tmp_path / "wh.duckdb", "customers", rows)
    tenant_id, key = sandbox.add_tenant()
    with ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(),
                                     quota_dir=str(tmp_path / "quota"))) as client:
        planned = sync_window(SyncRequest(
            mapping=CUSTOMER_MAPPING, warehouse=Warehouse(tmp_path / "wh.duckdb"), client=client, store=None,
            start=DAY, end=DAY + timedelta(days=1), partition_key=DAY.date().isoformat(), run_id="dry", dry_run=True))
    summary = plan_summary(planned)
    assert summary["rows_quarantined"] >= 2 and summary["quarantine_top_reasons"]
    text = str(summary) + plan_text(summary)
    for raw in ("jane.doe", "7946", "0958"):
        assert raw not in text, raw
