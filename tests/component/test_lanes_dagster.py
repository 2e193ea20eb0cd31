"""One key, two needs at once, through Dagster (issue 24): a reconciliation (bulk work) and an hourly
sync (fresh work) of one key run together on a real Dagster instance whose pools are limited to one
step (the shipped default), against the sandbox with a time-scaled quota. The hourly run is not
blocked behind the reconciliation, the sandbox refuses nothing (no 429), and the quota ledger
counts the hourly run's requests in the fresh lane and the reconciliation's in the bulk lane."""

import threading
import time
from datetime import UTC, datetime

import dagster as dg
import httpx
from helpers import point_at_sandbox

from replenit_pipelines.lib.delivery.quota import QuotaLimiter, ledger_name
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.settings import Settings
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
HOUR = "2026-11-26-14:00"
LIMITS = [(10, 1.0), (1000, 100.0)]  # 10 a second; the long window keeps the lanes' counts for the whole test


def test_a_reconciliation_does_not_block_the_hourly_sync_of_its_key(tmp_path, monkeypatch):
    from replenit_pipelines.definitions import defs as load

    warehouse = tmp_path / "warehouse.duckdb"
    build_demo_warehouse(warehouse, customers=3000, seed=21, days=2, end=END)
    with Sandbox(limits=LIMITS) as sandbox, \
            dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
        env = point_at_sandbox(monkeypatch, sandbox, warehouse, tmp_path / "state")
        monkeypatch.setenv("REPLENIT_LIMITS", ",".join(f"{n}/{s}" for n, s in LIMITS))
        tenant = env["REPLENIT_TENANT_ID"]
        defs = load()

        def logged() -> list[dict]:
            return [r for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json() if tenant in r["path"]]

        runs: dict[str, dg.ExecuteInProcessResult] = {}

        def run(name: str, job: str, **kwargs) -> None:
            runs[name] = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kwargs)

        bulk = threading.Thread(target=run, args=("reconcile", "reconcile_customers"), kwargs={
            "run_config": {"ops": {"customers_reconcile": {"config": {"batch_size": 20}}}}})
        bulk.start()
        deadline = time.monotonic() + 60
        while len(logged()) < 15:  # the reconciliation is sending: the key's quota is busy
            assert time.monotonic() < deadline and bulk.is_alive(), "the reconciliation never got going"
            time.sleep(0.05)
        run("hourly", "Sync_products_and_orders_hourly", partition_key=HOUR)
        bulk.join(timeout=120)

        blocked = [e.message for e in instance.all_logs(runs["hourly"].run_id) if "blocked by limit" in (e.message or "")]
        requests = logged()
        fresh_requests = [r for r in requests if "/products" in r["path"] or "/orders" in r["path"]]
        state = QuotaLimiter(LIMITS, Settings.from_env().quota_dir / ledger_name(sandbox.url, env["REPLENIT_API_KEY"]))
        with state._state(write=False) as ledger:
            by_lane = {lane: sum(ledger["lanes"].get(lane, {}).get(repr(100.0), {}).values()) for lane in ("fresh", "bulk")}

    assert runs["reconcile"].success and runs["hourly"].success
    assert fresh_requests, "the hourly run sent nothing: the test proves nothing"
    # Not blocked: no step of the hourly run waited for a pool, and its requests went out while the
    # reconciliation was still sending (some of the reconciliation's came after its last one).
    assert blocked == []
    assert max(r["seq"] for r in fresh_requests) < max(r["seq"] for r in requests if "/customers" in r["path"])
    assert {r["status"] for r in requests} == {200}  # never over the key's windows
    # Every request in its lane: the hourly run's (products, orders, the day's customers so far) fresh,
    # the reconciliation's bulk, and together all the sandbox saw.
    assert by_lane["fresh"] >= len(fresh_requests) and by_lane["bulk"] > 0
    assert by_lane["fresh"] + by_lane["bulk"] == len(requests)
