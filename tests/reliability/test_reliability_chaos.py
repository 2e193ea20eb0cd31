"""Chaos: 20% of requests meet a fault (500, 503, 429, a hang, a dropped connection); every valid
record is stored exactly once, none is lost. Long form: bench/reliability_chaos.py."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import orjson
import pytest
from helpers import metadata_of, point_at_sandbox

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox
from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.validation import payload_parts, prepare
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = "2026-11-26"


def chaos(seed: int, hang_seconds: float) -> FaultConfig:
    """20% in all: 5% 500, 5% 503, 4% spurious 429, 3% hangs, 3% dropped connections."""
    return FaultConfig(seed=seed, p500=0.05, p503=0.05, p429=0.04, p_hang=0.03, p_drop=0.03, hang_seconds=hang_seconds)


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("chaos-wh") / "warehouse.duckdb"
    build_demo_warehouse(path, customers=2000, seed=11, days=2, end=END)
    return path


def valid_customers(warehouse_file) -> list[bytes]:
    mapping = load_mapping(DEMO_MAPPING)["customers"]
    start = datetime(2026, 11, 26, tzinfo=UTC)
    return payload_parts(prepare(mapping, Warehouse(warehouse_file).read(mapping, start, start + timedelta(days=1))).records)


def stored(sb: Sandbox, tenant_id: str) -> list[dict]:
    return httpx.get(f"{sb.url}/_sandbox/records/{tenant_id}/customers").json()


def keyed(records: list[dict]) -> dict[str, dict]:
    return {f"email:{r['Email'].lower()}" if r.get("Email") else f"customerid:{r['CustomerId']}": r for r in records}


def statuses(sb: Sandbox, tenant_id: str) -> list:
    return [r["status"] for r in httpx.get(f"{sb.url}/_sandbox/requests").json() if tenant_id in r["path"]]


def test_chaos_through_the_client_stores_every_valid_record_once(warehouse_file, tmp_path):
    parts = valid_customers(warehouse_file)
    expected = keyed([orjson.loads(p) for p in parts])
    with Sandbox(limits=[], faults=chaos(seed=5, hang_seconds=1.0)) as sb:
        tenant_id, key = sb.add_tenant()
        client = ReplenitClient(ClientConfig(
            base_url=sb.url, tenant_id=tenant_id, api_key=key, limits=(), batch_sizes={"customers": 20},
            read_timeout_s=0.3, backoff_base_s=0.01, backoff_cap_s=0.05, max_attempts=8, seed=3,
            quota_dir=str(tmp_path / "quota")))
        with client:
            report = client.deliver_serialized("customers", parts)
        held = stored(sb, tenant_id)
        seen = statuses(sb, tenant_id)
    assert len(parts) > 900
    assert not report.failed and not report.rejected and len(report.accepted) == len(parts)
    assert len(held) == len({r["key"] for r in held}) == len(expected)  # once each, none missing, none extra
    assert {r["key"]: r["record"] for r in held} == expected
    # The faults did happen: answered ones in the log, hangs and drops as retries beyond them.
    assert {500, 503, 429} <= set(seen)
    assert report.counters.rate_limited > 0
    faulted = sum(s in (500, 503) for s in seen)
    assert report.counters.retries > faulted  # the rest were timeouts and dropped connections


def test_chaos_through_dagster_accounts_for_every_row(warehouse_file, tmp_path, monkeypatch):
    parts = valid_customers(warehouse_file)
    expected = keyed([orjson.loads(p) for p in parts])
    with Sandbox(limits=[], faults=chaos(seed=9, hang_seconds=0.3)) as sb, dg.instance_for_test() as instance:
        env = point_at_sandbox(monkeypatch, sb, warehouse_file, tmp_path / "state", key_name="chaos")
        tenant_id = env["REPLENIT_TENANT_ID"]
        monkeypatch.delenv("REPLENIT_LIMITS", raising=False)
        from replenit_pipelines.definitions import defs

        # The shipped client settings (5 attempts, 1-16 s backoff): 16% of attempts fail, so a batch
        # is lost only after five faults in a row (1 in 10,000); the seed makes this run's fates fixed.
        job = defs().resolve_job_def("Sync_customers_daily")
        # The day alone (no lookback): the expected records are the partition's.
        result = job.execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False,
                                        run_config={"ops": {"replenit__customers": {"config": {"lookback_hours": 0}}}})
        assert result.success
        mat = instance.fetch_materializations(dg.AssetKey(["replenit", "customers"]), limit=1).records[0]
        md = metadata_of(mat.asset_materialization)
        held = stored(sb, tenant_id)
    assert {r["key"]: r["record"] for r in held} == expected and len(held) == len(expected)
    assert md["records_accepted"] == md["records_sent"] == len(expected)
    assert md["records_failed"] == md["records_rejected"] == 0
    assert md["requests"] > md["records_sent"] / 500  # faults cost retries, and they were made
    assert md["rows_read"] == (md["rows_delivered"] + md["rows_quarantined"] + md["rows_superseded"]
                               + md["rows_unchanged"] + md["rows_dead_lettered"] + md["rows_held_back"])
