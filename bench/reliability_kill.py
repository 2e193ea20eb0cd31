"""kill -9 of running syncs, then more runs of the same key: the key is never stuck, nothing is lost.

Two launch paths, each against a real Dagster instance on disk and the sandbox over HTTP with a
slow, time-scaled quota (one request per 1.5 s, so a delivery of several batches can be caught
in the middle):

  cli     runs started as `dagster asset materialize` starts them (a process of their own, no
          code server watching): `--kills` of them are SIGKILLed (their process group) at a random
          batch; the `dead_run_workers` sensor's check fails each and frees the pool; then a last
          run must deliver every valid record of the day. `--launcher materialize` uses the real
          `dagster asset materialize` command (about 16 s of start-up a run, steps in subprocesses);
          the default starts the same kind of run with execute_in_process, faster.
  daemon  `dagster dev` (webserver, daemon, code server) with the shipped dagster.yaml; a run
          launched through the GraphQL API (as the UI does); its run worker's process tree is
          SIGKILLed mid-delivery. Measured: how long until the run is failed and by whom, until
          its pool slot is free, and whether run_retries' retry delivers everything. Also with the
          killed run started by `dagster asset materialize` beside the daemon (no code server
          watches it: the dead_run_workers sensor must find it), then a new run launched.

Goal: every kill recovered (no run of the key waits on the pool for more than the detection
time), every valid record stored, none twice counted as lost.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
END = datetime(2026, 11, 27, tzinfo=UTC)
DAY = "2026-11-26"
KEY_NAME = "killbench"
POOL = f"replenit-{KEY_NAME}"
RUN_ONE = """
import sys
import dagster as dg
from replenit_pipelines.definitions import defs
with dg.DagsterInstance.get() as instance:
    result = defs().resolve_job_def("Sync_customers_daily").execute_in_process(
        partition_key=sys.argv[1], instance=instance, raise_on_error=False)
sys.exit(0 if result.success else 1)
"""


def accepted(url: str, tenant: str) -> int:
    return sum(1 for r in httpx.get(f"{url}/_sandbox/requests").json() if tenant in r["path"] and r["status"] == 200)


def stored(url: str, tenant: str) -> int:
    return len(httpx.get(f"{url}/_sandbox/records/{tenant}/customers").json())


def setup(workdir: Path, customers: int) -> tuple[dict, object, str, str]:
    from replenit_pipelines.lib.sandbox.process import start_sandbox_process
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse = workdir / "warehouse.duckdb"
    build_demo_warehouse(warehouse, customers=customers, seed=5, days=2, end=END)
    tenant, key = "0f8fad5b-d9cb-469f-a165-70867728950e", "a2lsbC1iZW5jaC1rZXk="
    sandbox, url = start_sandbox_process("--port", "0", "--tenant", f"{tenant}:{key}", "--limits", "1/1.5")
    env = {**os.environ, "REPLENIT_BASE_URL": url, "REPLENIT_TENANT_ID": tenant, "REPLENIT_API_KEY": key,
           "REPLENIT_WAREHOUSE": str(warehouse), "REPLENIT_STATE_DIR": str(workdir / "state"),
           "REPLENIT_KEY_NAME": KEY_NAME, "REPLENIT_LIMITS": "1/1.5", "DAGSTER_HOME": str(home)}
    env.pop("REPLENIT_MAPPING", None)
    return env, sandbox, url, tenant


def expected_valid(env: dict) -> int:
    from replenit_pipelines.lib.settings import DEMO_MAPPING
    from replenit_pipelines.lib.validation import prepare
    from replenit_pipelines.lib.warehouse import Warehouse, load_mapping

    mapping = load_mapping(DEMO_MAPPING)["customers"]
    start, end = datetime(2026, 11, 26, tzinfo=UTC), END
    return prepare(mapping, Warehouse(env["REPLENIT_WAREHOUSE"]).read(mapping, start, end)).records.height


def run_command(launcher: str) -> list[str]:
    if launcher == "materialize":
        return [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "replenit_pipelines.definitions",
                "--select", "replenit/customers", "--partition", DAY]
    return [sys.executable, "-c", RUN_ONE, DAY]


def bench_cli(kills: int, customers: int, seed: int, launcher: str) -> bool:
    import dagster as dg

    from replenit_pipelines.component.monitoring import fail_dead_runs

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        env, sandbox, url, tenant = setup(Path(tmp), customers)
        os.environ.update(env)
        valid = expected_valid(env)
        recoveries, blocked = [], []
        try:
            for k in range(kills):
                before = accepted(url, tenant)
                target = before + rng.randint(1, 2)
                run = subprocess.Popen(run_command(launcher), env=env, start_new_session=True,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                started = time.monotonic()
                while accepted(url, tenant) < target and run.poll() is None:
                    time.sleep(0.05)
                if run.poll() is not None:
                    print(f"  kill {k + 1}: the run finished before the kill (exit {run.returncode})")
                    continue
                blocked.append(time.monotonic() - started)
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
                t0 = time.monotonic()
                with dg.DagsterInstance.get() as instance:
                    held_before = len(instance.event_log_storage.get_concurrency_info(POOL).claimed_slots)
                    dead = fail_dead_runs(instance)
                    held = len(instance.event_log_storage.get_concurrency_info(POOL).claimed_slots)
                recoveries.append(time.monotonic() - t0)
                print(f"  kill {k + 1}: SIGKILL after {accepted(url, tenant) - before} batch(es) of this run; "
                      f"slots held by the dead run: {held_before}; failed {len(dead)} dead run(s) in "
                      f"{recoveries[-1] * 1000:.0f} ms; slots still held: {held}")
            t0 = time.monotonic()
            last = subprocess.run(run_command(launcher), env=env, capture_output=True, timeout=300)
            final_s = time.monotonic() - t0
            n_stored = stored(url, tenant)
            with dg.DagsterInstance.get() as instance:
                statuses = [r.status.value for r in instance.get_runs()]
            ok = last.returncode == 0 and n_stored == valid
            print(f"cli ({launcher}): {kills} kills, {statuses.count('FAILURE')} runs failed by the check, final run "
                  f"{'SUCCESS' if last.returncode == 0 else 'FAILED'} in {final_s:.1f} s; records stored "
                  f"{n_stored}/{valid} valid; detection+freeing median {sorted(recoveries)[len(recoveries) // 2] * 1000:.0f} ms: "
                  f"{'PASS' if ok else 'FAIL'}")
            return ok
        finally:
            from replenit_pipelines.lib.sandbox.process import stop_sandbox_process

            stop_sandbox_process(sandbox)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_daemon(customers: int, timeout_s: float, launch: str) -> bool:
    import dagster as dg
    from dagster_graphql import DagsterGraphQLClient

    from replenit_pipelines.lib.sandbox.process import stop_sandbox_process

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env, sandbox, url, tenant = setup(workdir, customers)
        os.environ.update(env)
        valid = expected_valid(env)
        port = free_port()
        workspace = workdir / "workspace.yaml"
        workspace.write_text("load_from:\n  - python_module:\n      module_name: replenit_pipelines.definitions\n"
                             "      location_name: replenit_pipelines\n")
        dev = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", "127.0.0.1",
                                "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        try:
            client = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).raise_for_status()
                    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
                    break
                except httpx.HTTPError:
                    time.sleep(1)
            assert client is not None, "dagster dev did not start"
            def submit() -> str:
                for _ in range(30):  # the code location may still be loading
                    try:
                        return client.submit_job_execution("Sync_customers_daily", tags={"dagster/partition": DAY})
                    except Exception:  # noqa: BLE001 - retried until the location is up
                        time.sleep(2)
                raise RuntimeError("could not launch a run")

            if launch == "ui":
                run_id = submit()
                while accepted(url, tenant) < 1:
                    time.sleep(0.05)
                with dg.DagsterInstance.get() as instance:
                    starts = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START).records
                    worker = starts[0].event_log_entry.dagster_event.pid
                procs = [psutil.Process(worker), *psutil.Process(worker).children(recursive=True)]
                for p in procs:
                    p.kill()
                print(f"  daemon/ui: killed the run worker {worker} and {len(procs) - 1} child process(es) after "
                      f"{accepted(url, tenant)} batch(es)")
            else:
                time.sleep(10)  # let the daemon's sensor loop come up beside the code server
                cli = subprocess.Popen(run_command("materialize"), env=env, start_new_session=True,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                while accepted(url, tenant) < 1:
                    time.sleep(0.05)
                os.killpg(cli.pid, signal.SIGKILL)
                cli.wait()
                with dg.DagsterInstance.get() as instance:
                    run_id = instance.get_runs(limit=1)[0].run_id
                print(f"  daemon/cli: killed `dagster asset materialize` (process group) after {accepted(url, tenant)} batch(es)")
            killed_at = time.monotonic()
            failed_s = freed_s = None
            retry_id = retry_status = None
            while time.monotonic() - killed_at < timeout_s:
                with dg.DagsterInstance.get() as instance:
                    run = instance.get_run_by_id(run_id)
                    if failed_s is None and run.status == dg.DagsterRunStatus.FAILURE:
                        failed_s = time.monotonic() - killed_at
                        msg = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
                        print(f"  daemon/{launch}: run failed after {failed_s:.1f} s: "
                              f"{(msg[0].event_log_entry.dagster_event.message or '')[:120]!r}")
                    claimed = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
                    if failed_s is not None and freed_s is None and not [c for c in claimed if c.run_id == run_id]:
                        freed_s = time.monotonic() - killed_at
                        print(f"  daemon/{launch}: its pool slot free after {freed_s:.1f} s")
                        if launch == "cli":  # no code location to re-launch from: a person runs it again
                            retry_id = submit()
                            print(f"  daemon/cli: launched a new run of the partition {retry_id[:8]}")
                    if launch == "ui":
                        retries = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
                        if retries:
                            retry_id = retries[0].run_id
                    if retry_id:
                        retry_status = instance.get_run_by_id(retry_id).status
                        if retry_status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE):
                            break
                time.sleep(1)
            n_stored = stored(url, tenant)
            ok = retry_status == dg.DagsterRunStatus.SUCCESS and n_stored == valid
            print(f"daemon/{launch}: failed after {failed_s if failed_s is None else round(failed_s, 1)} s, slot free after "
                  f"{freed_s if freed_s is None else round(freed_s, 1)} s, retry {retry_id and retry_id[:8]} "
                  f"{retry_status and retry_status.value} after {time.monotonic() - killed_at:.1f} s; records stored "
                  f"{n_stored}/{valid} valid: {'PASS' if ok else 'FAIL'}")
            return ok
        finally:
            os.killpg(dev.pid, signal.SIGTERM)
            try:
                dev.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(dev.pid, signal.SIGKILL)
            stop_sandbox_process(sandbox)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["cli", "daemon", "both"], default="both")
    ap.add_argument("--kills", type=int, default=5, help="runs killed in a row before the last one (cli)")
    ap.add_argument("--customers", type=int, default=6000, help="demo warehouse size (customers over 2 days)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--launcher", choices=["in-process", "materialize"], default="in-process")
    ap.add_argument("--daemon-launch", default="ui,cli",
                    help="daemon mode: the killed run launched as the UI does (ui), by `dagster asset materialize` (cli)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the daemon's recovery")
    args = ap.parse_args()
    ok = True
    if args.mode in ("cli", "both"):
        ok &= bench_cli(args.kills, args.customers, args.seed, args.launcher)
    if args.mode in ("daemon", "both"):
        for launch in args.daemon_launch.split(","):
            ok &= bench_daemon(args.customers, args.timeout, launch)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
