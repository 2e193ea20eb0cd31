"""Ctrl-C in the middle of `replenit sync`: the real command in its own process, SIGINT, the
sandbox over HTTP (each answer 300 ms late, so the run is caught with its batches queued)."""

import os
import signal
import subprocess
import sys
import time

import httpx

from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse


def test_ctrl_c_stops_sending_at_once_and_says_so_in_one_line(tmp_path):
    """Before: after Ctrl-C the run went on sending every queued batch (about 50 more requests over
    5 s: the worker pool's shutdown waited for them all), then printed a KeyboardInterrupt traceback."""
    build_demo_warehouse(tmp_path / "wh.duckdb", customers=300, seed=7, days=2)
    with Sandbox(limits=[]) as sb:
        tenant_id, key = sb.add_tenant()
        httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"latency_ms": [300, 300]}})

        def posts() -> int:
            return sum(1 for r in httpx.get(f"{sb.url}/_sandbox/requests").json() if tenant_id in r["path"])

        env = {**os.environ, "REPLENIT_BASE_URL": sb.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key,
               "REPLENIT_WAREHOUSE": str(tmp_path / "wh.duckdb"), "REPLENIT_STATE_DIR": str(tmp_path / "state"),
               "REPLENIT_KEY_NAME": "interrupt"}
        for name in ("REPLENIT_MAPPING", "REPLENIT_STATE_URL", "REPLENIT_LIMITS", "REPLENIT_PARTITIONS_START"):
            env.pop(name, None)
        # 5 customers a request: about 60 batches, 4 in flight at a time.
        run = subprocess.Popen([sys.executable, "-m", "replenit_pipelines.cli", "sync", "customers", "--all", "--batch-size", "5",
                                "--limits", "off"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while posts() < 3 and run.poll() is None and time.monotonic() < deadline:  # the pool is sending
            time.sleep(0.05)
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGINT)
        at_interrupt = posts()
        out, err = run.communicate(timeout=60)
        after = posts() - at_interrupt
    assert run.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("replenit: interrupted"), err
    assert after <= 5, f"{after} requests after Ctrl-C"  # the 4 in flight end; nothing queued is sent
    assert at_interrupt + after < 50  # and the run had far from finished
