"""What a backfill of 24 hourly partitions (products, then orders, one run each) costs with
each executor, run the way a backfill or the CLI runs them: one `dagster asset materialize`
process per partition against a real instance (DAGSTER_HOME with the project's dagster.yaml),
a small demo warehouse, the sandbox with limits off (issue 14, "runs that start fast").

    ./dev bench backfill_startup [--partitions 24]
    ./dev bench backfill_startup --partitions 8 --baseline /path/to/other/worktree   # in-process, interleaved

Prints, per executor, the backfill's wall time, the median run, and the median work the runs
did (the sync steps' own durations from their materializations), so start-up = run - work.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import start_sandbox, stop_sandbox

END = datetime(2026, 11, 27, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


def materialize(executor: str, partition: str, env: dict, root: Path = ROOT) -> float:
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "replenit_pipelines.definitions",
         "--select", "replenit/products,replenit/orders", "--partition", partition],
        env={**env, "REPLENIT_EXECUTOR": executor, "PYTHONPATH": str(root)}, capture_output=True, text=True, cwd=root)
    if out.returncode != 0:
        raise SystemExit(f"{executor} {partition} ({root}) failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - t


def backfill(executor: str, partitions: list[str], env: dict) -> tuple[float, list[float]]:
    started = time.perf_counter()
    runs = [materialize(executor, p, env) for p in partitions]
    return time.perf_counter() - started, runs


def interleaved(partitions: list[str], env_of: dict[Path, dict], homes: dict[Path, Path]) -> None:
    """The in-process executor, this checkout and a baseline checkout taking partitions in turn (so
    the machine's load meets both alike); each root its own instance and state folder."""
    runs: dict[Path, list[float]] = {root: [] for root in env_of}
    for i, p in enumerate(partitions):
        for root in (list(env_of) if i % 2 == 0 else list(env_of)[::-1]):
            runs[root].append(materialize("in_process", p, env_of[root], root))
    for root, times in runs.items():
        work = work_seconds(homes[root], env_of[root])
        run, step = statistics.median(times), statistics.median(work) if work else float("nan")
        print(f"{root}: {len(times)} runs (products + orders), median run {run:.2f} s (min {min(times):.2f}, max "
              f"{max(times):.2f}), of which sync work {step:.2f} s: start-up {run - step:.2f} s a run")


def work_seconds(home: Path, env: dict) -> list[float]:
    """The sync steps' own durations (metadata duration_s) of every run in the instance, per run."""
    os.environ.update(env)
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        per_run: dict[str, float] = {}
        for key in (dg.AssetKey(["replenit", "products"]), dg.AssetKey(["replenit", "orders"])):
            for r in instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1000).records:
                m = r.asset_materialization
                if m is not None and "duration_s" in m.metadata:
                    per_run[r.run_id] = per_run.get(r.run_id, 0.0) + float(m.metadata["duration_s"].value)
    return list(per_run.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=24)
    parser.add_argument("--baseline", type=Path, help="another checkout (a git worktree): in-process runs of both, interleaved")
    args = parser.parse_args()
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    day = END - timedelta(days=1)
    partitions = [(day + timedelta(hours=h)).strftime("%Y-%m-%d-%H:%M") for h in range(args.partitions)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        build_demo_warehouse(tmp_path / "wh.duckdb", customers=500, seed=5, days=1, end=END)
        tenant, key = str(uuid.uuid4()), "YmFja2ZpbGwta2V5"
        proc, url = start_sandbox("--tenant", f"{tenant}:{key}", "--limits", "off")
        results = {}
        try:
            if args.baseline:
                env_of, homes = {}, {}
                for i, root in enumerate((ROOT, args.baseline.resolve())):
                    homes[root] = tmp_path / f"home-{i}"
                    homes[root].mkdir()
                    (homes[root] / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
                    env_of[root] = {**os.environ, "REPLENIT_BASE_URL": url, "REPLENIT_TENANT_ID": tenant, "REPLENIT_API_KEY": key,
                                    "REPLENIT_WAREHOUSE": str(tmp_path / "wh.duckdb"), "REPLENIT_STATE_DIR": str(tmp_path / f"state-{i}"),
                                    "REPLENIT_LIMITS": "off", "REPLENIT_PARTITIONS_START": day.strftime("%Y-%m-%d"),
                                    "DAGSTER_HOME": str(homes[root])}
                interleaved(partitions, env_of, homes)
                return
            for executor in ("multiprocess", "in_process"):
                home = tmp_path / f"home-{executor}"
                home.mkdir()
                (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
                env = {**os.environ, "REPLENIT_BASE_URL": url, "REPLENIT_TENANT_ID": tenant, "REPLENIT_API_KEY": key,
                       "REPLENIT_WAREHOUSE": str(tmp_path / "wh.duckdb"), "REPLENIT_STATE_DIR": str(tmp_path / f"state-{executor}"),
                       "REPLENIT_LIMITS": "off", "REPLENIT_PARTITIONS_START": day.strftime("%Y-%m-%d"), "DAGSTER_HOME": str(home)}
                wall, runs = backfill(executor, partitions, env)
                results[executor] = (wall, runs, work_seconds(home, env))
        finally:
            stop_sandbox(proc)
    for executor, (wall, runs, work) in results.items():
        run, step = statistics.median(runs), statistics.median(work) if work else float("nan")
        print(f"{executor:>12}: {len(runs)} hourly partitions (products + orders) in {wall:.1f} s; median run {run:.2f} s "
              f"(min {min(runs):.2f}, max {max(runs):.2f}), of which sync work {step:.2f} s: start-up and executor "
              f"{run - step:.2f} s a run")
    (mp_wall, _, _), (ip_wall, _, _) = results["multiprocess"], results["in_process"]
    print(f"in_process saves {mp_wall - ip_wall:.1f} s of {mp_wall:.1f} s ({(mp_wall - ip_wall) / mp_wall:.0%}) on this backfill")


if __name__ == "__main__":
    main()
