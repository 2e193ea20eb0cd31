"""Runs whose processes died (kill -9, an OOM kill, a lost node) are failed and their pools freed.

A run process killed without a chance to clean up stays STARTED in the instance and keeps the
`replenit-<key>` pool slot of the step it was running: every later sync of that key waits for
the slot forever, and `run_retries` never fires for a run that never ends. Dagster notices such a
run only when its code server launched it (the code server watches its run subprocesses) and
frees slots only for runs that have ended (`free_slots_after_run_end_seconds` in dagster.yaml).
A run started by `dagster asset materialize`, `execute_in_process` or a code server that died
with it is watched by no one. So this sensor, run by the daemon, checks the processes of every
STARTED run on this host: the run worker and its step processes (their pids are in the run's
events: RUN_START, STEP_START), and fails a run once none of them is alive. Failing it frees its
pool slots at once and lets `run_retries` re-run it when Dagster can (runs launched from the UI,
schedules and backfills).

A pid says nothing about another machine. The host of a run is known from the engine event the
step logs (`record_run_worker`); a run without one is judged only when the instance's storage
is SQLite, which lives on one machine with every process that writes to it.
"""

import os
import socket
import sys
from collections.abc import Collection
from dataclasses import dataclass

import dagster as dg
import psutil

from replenit_pipelines.lib.delivery.report import plural

WORKER_EVENT = "replenit worker"  # an engine event's message prefix: the host and process running the step
WORKER_HOST_TAG = "replenit/worker_host"  # read from runs of earlier versions, which tagged them
WORKER_PID_TAG = "replenit/worker_pid"
WORKER_STARTED_TAG = "replenit/worker_started_at"
CHECK_INTERVAL_S = 30
# A process must have started before the event that names it (with this slack for clock
# granularity); one started later reuses the pid of a process that is gone.
PID_REUSE_SLACK_S = 1.0


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    job_name: str
    pids: tuple[int, ...]


def record_run_worker(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> None:
    """Record the host and process running this step (called first in the step) as an engine event
    in the run's log, not as run tags: tags show as chips on every row of the runs list."""
    from dagster._core.events import EngineEventData

    proc = psutil.Process()
    context.instance.report_engine_event(
        f"{WORKER_EVENT}: pid {os.getpid()} on {socket.gethostname()}", context.dagster_run,
        EngineEventData(metadata={"host": socket.gethostname(), "pid": dg.MetadataValue.int(os.getpid()),
                                  "process_started_at": dg.MetadataValue.float(round(proc.create_time(), 3))}))


def run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[str, int, float] | None:
    """(host, pid, process start time) of the run's worker, from its engine event (or the tags of a
    run of an earlier version); None when the step has not recorded one."""
    try:
        return run.tags[WORKER_HOST_TAG], int(run.tags[WORKER_PID_TAG]), float(run.tags[WORKER_STARTED_TAG])
    except (KeyError, ValueError):
        pass
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=1000).records
    for record in reversed(records):
        entry = record.event_log_entry
        if not entry.message.startswith(WORKER_EVENT) or entry.dagster_event is None:
            continue
        meta = entry.dagster_event.engine_event_data.metadata
        try:
            return str(meta["host"].value), int(meta["pid"].value), float(meta["process_started_at"].value)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _alive(pid: int, since: float) -> bool:
    """Is the process that had this pid at `since` (a UNIX time) still running?"""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return proc.create_time() <= since + PID_REUSE_SLACK_S
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, owned by someone else: not ours to judge


def _local_storage(instance: dg.DagsterInstance) -> bool:
    return type(instance.run_storage).__name__.startswith("Sqlite")


def _run_processes(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[int, float]:
    """The pids of the run's processes (the run worker, every step's) with when each was seen."""
    pids: dict[int, float] = {}
    worker = run_worker(instance, run)
    if worker is not None:
        pids[worker[1]] = worker[2]
    records = instance.get_records_for_run(
        run.run_id, of_type={dg.DagsterEventType.RUN_START, dg.DagsterEventType.STEP_START}, limit=1000).records
    for record in records:
        event = record.event_log_entry
        pid = event.dagster_event.pid if event.dagster_event else None
        if pid is not None:
            pids[pid] = min(pids.get(pid, event.timestamp), event.timestamp)
    return pids


def find_dead_runs(instance: dg.DagsterInstance, job_names: Collection[str] | None = None) -> list[DeadRun]:
    """STARTED runs on this host none of whose processes is alive (of these jobs only, when given)."""
    host = socket.gethostname()
    dead = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        if job_names is not None and run.job_name not in job_names:
            continue  # another code location's run: not this sensor's to judge
        worker = run_worker(instance, run)
        run_host = worker[0] if worker is not None else None
        if run_host is not None and run_host != host:
            continue  # another machine's processes: its own daemon or Dagster's monitoring judges them
        if run_host is None and not _local_storage(instance):
            continue
        pids = _run_processes(instance, run)
        if not pids:
            continue  # no process recorded yet: starting, and Dagster's start timeout covers it
        if any(_alive(pid, since) for pid, since in pids.items()):
            continue
        dead.append(DeadRun(run.run_id, run.job_name, tuple(sorted(pids))))
    return dead


def fail_dead_runs(instance: dg.DagsterInstance, job_names: Collection[str] | None = None) -> list[DeadRun]:
    """Fail every dead run found and free its pool slots; returns what was done."""
    dead = find_dead_runs(instance, job_names)
    for d in dead:
        run = instance.get_run_by_id(d.run_id)
        if run is None or run.status != dg.DagsterRunStatus.STARTED:
            continue  # it ended meanwhile
        message = (f"Run worker died: no process of this run is alive on {socket.gethostname()} "
                   f"(pids {', '.join(map(str, d.pids))}); marked failed and its pool slots freed. run_retries "
                   "re-runs it if a code server launched it; otherwise run the partition again.")
        instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(d.run_id)
    return dead


@dg.sensor(
    name="dead_run_workers",
    minimum_interval_seconds=CHECK_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs whose processes died (kill -9, OOM) so their pool slots are freed and run_retries can act.",
)
def dead_run_workers(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    # This code location's jobs, the implicit asset job of UI materializations included.
    repo = context.repository_def
    dead = fail_dead_runs(context.instance, set(repo.job_names) if repo is not None else None)
    if dead:
        for d in dead:
            context.log.warning(f"run {d.run_id} ({d.job_name}): worker died (pids {list(d.pids)}); failed, pool slots freed")
        return dg.SkipReason(f"failed {plural(len(dead), 'run')} whose workers died: {', '.join(d.run_id for d in dead)}")
    return dg.SkipReason("no dead run workers")


def main() -> int:
    """`python -m replenit_pipelines.component.monitoring`: the sensor's check once, for instances run without a daemon."""
    with dg.DagsterInstance.get() as instance:
        dead = fail_dead_runs(instance)
    for d in dead:
        print(f"failed run {d.run_id} ({d.job_name}): no process alive (pids {', '.join(map(str, d.pids))}); pool slots freed")
    if not dead:
        print("no dead runs on this host")
    return 0


if __name__ == "__main__":
    sys.exit(main())
