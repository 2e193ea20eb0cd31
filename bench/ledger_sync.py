"""What the acknowledged-state ledger saves (issue 11), through sync_window, the sandbox over HTTP
and a real SQLite ledger:

  rerun   a day of customers synced, then re-run with nothing changed (goal: 0 requests), then
          with 1% of the customers edited in the warehouse (goal: at most ceil(changed / 500)).
  kill    a time-scaled sync (one request per --interval seconds) in a process of its own,
          SIGKILLed at a random point mid-delivery --kills times, then run to the end. Goal: every
          valid record stored, at most one batch re-sent per kill.

    ./dev bench ledger_sync [--customers 6000] [--kills 10] [--seed 1]
"""

import argparse
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import SqliteLedger
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = datetime(2026, 11, 26, tzinfo=UTC)

ONE_RUN = """
import sys
from datetime import datetime, timedelta, UTC
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import SqliteLedger
from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.sync import StateStore, SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping

url, tenant, key, warehouse, state, interval, run_id = sys.argv[1:8]
day = datetime(2026, 11, 26, tzinfo=UTC)
with ReplenitClient(ClientConfig(base_url=url, tenant_id=tenant, api_key=key, limits=((1, float(interval)),),
                                 quota_dir=state + "/quota")) as client, \\
        SqliteLedger.open(state, url, tenant, "customers") as ledger:
    r = sync_window(SyncRequest(mapping=load_mapping(DEMO_MAPPING)["customers"], warehouse=Warehouse(warehouse),
                                client=client, store=DuckDBStateStore(state + "/state.duckdb"), start=day,
                                end=day + timedelta(days=1), partition_key="2026-11-26", run_id=run_id, ledger=ledger))
print(r.counts()["records_valid"], r.counts()["records_accepted"], r.counts()["rows_unchanged"])
"""


def posts(url: str, tenant: str) -> list[dict]:
    return [r for r in httpx.get(f"{url}/_sandbox/requests").json() if tenant in r["path"] and r["method"] == "POST"]


def rerun(args, tmp: Path) -> None:
    warehouse = tmp / "rerun.duckdb"
    build_demo_warehouse(warehouse, customers=args.customers, seed=args.seed, days=1, end=END)
    mapping = load_mapping(DEMO_MAPPING)["customers"]
    with Sandbox(limits=[]) as sb:
        tenant, key = sb.add_tenant()
        state = tmp / "rerun-state"
        with ReplenitClient(ClientConfig(base_url=sb.url, tenant_id=tenant, api_key=key, limits=(),
                                         quota_dir=str(state / "quota"))) as client:
            def run(name: str):
                before = len(posts(sb.url, tenant))
                with SqliteLedger.open(state, sb.url, tenant, "customers") as ledger:
                    started = time.perf_counter()
                    r = sync_window(SyncRequest(mapping=mapping, warehouse=Warehouse(warehouse), client=client,
                                                store=DuckDBStateStore(state / "state.duckdb"), start=DAY, end=END,
                                                partition_key="2026-11-26", run_id=name, ledger=ledger))
                    took = time.perf_counter() - started
                c = r.counts()
                print(f"  {name:<14} requests {len(posts(sb.url, tenant)) - before:>4}  new {c['records_new']:>6}  "
                      f"changed {c['records_changed']:>5}  unchanged {c['records_unchanged']:>6}  "
                      f"rows_unchanged {c['rows_unchanged']:>6}  {took:.2f} s")
                return c, len(posts(sb.url, tenant)) - before

            run("first")
            _, same = run("unchanged")
            with duckdb.connect(str(warehouse)) as con:
                con.execute("UPDATE customers SET first_name = first_name || 'x' WHERE hash(customer_id) % 100 = 0")
            c, edited = run("1% edited")
    goal = math.ceil(c["records_changed"] / 500)
    print(f"rerun: unchanged re-run {same} requests (goal 0); 1% edited: {c['records_changed']} changed records, "
          f"{edited} requests (goal <= {goal})")


def kill(args, tmp: Path) -> None:
    warehouse = tmp / "kill.duckdb"
    build_demo_warehouse(warehouse, customers=args.customers, seed=args.seed, days=1, end=END)
    rng = random.Random(args.seed)
    state = tmp / "kill-state"
    with Sandbox(limits=[(1, args.interval)]) as sb:
        tenant, key = sb.add_tenant()
        cmd = [sys.executable, "-c", ONE_RUN, sb.url, tenant, key, str(warehouse), str(state), str(args.interval)]
        for k in range(args.kills):
            ok_before = sum(r["status"] == 200 for r in posts(sb.url, tenant))
            proc = subprocess.Popen([*cmd, f"killed-{k}"], start_new_session=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            wait_for = rng.randint(1, 3)  # accepted batches of this run before the kill, then a random instant
            deadline = time.monotonic() + 60
            while sum(r["status"] == 200 for r in posts(sb.url, tenant)) < ok_before + wait_for:
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0, args.interval))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            else:
                print(f"  kill {k}: the run had finished before the kill")
            with SqliteLedger.open(state, sb.url, tenant, "customers") as ledger:
                acked = ledger.size()
            accepted = sum(r["records"] for r in posts(sb.url, tenant) if r["status"] == 200)
            print(f"  kill {k}: ledger {acked:>6} acknowledged, {accepted:>6} records accepted by the API so far")
        out = subprocess.run([*cmd, "final"], capture_output=True, text=True, timeout=600)
        valid, accepted_last, unchanged = (int(x) for x in out.stdout.split()[-3:])
        stored = len(httpx.get(f"{sb.url}/_sandbox/records/{tenant}/customers").json())
        sent = sum(r["records"] for r in posts(sb.url, tenant) if r["status"] == 200)
    resent = sent - valid
    print(f"kill: {args.kills} kills, then a full run: {valid} valid records, {stored} stored at the sandbox "
          f"(goal {valid}); {sent} records accepted in all, {resent} re-sent = {resent / max(args.kills, 1) / 500:.2f} "
          f"batches per kill (goal <= 1); the final run sent {accepted_last}, found {unchanged} rows unchanged")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=6000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.4, help="seconds per request in the kill part")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["rerun", "kill"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        if args.only in (None, "rerun"):
            rerun(args, Path(d))
        if args.only in (None, "kill"):
            kill(args, Path(d))


if __name__ == "__main__":
    main()
