"""Alerts to a chat webhook (REPLENIT_ALERT_WEBHOOK_URL; off when unset), in plain words, one a
run: a failed run (its Failure's one paragraph, the checks that failed in it, its partition), a run
whose checks failed although the run itself succeeded (all of them in one post), and a recovery
when the next run of the same assets and partition succeeds. The three run by default: with no
URL set each tick is a no-op that says so.

One post a failure: a failed blocking check fails its run, so the run's alert names the checks and
the check sensor skips that run; a run Dagster retries (`dagster/will_retry=true`) is not posted,
its last attempt is. A backfill run of an asset with a backfill policy carries a partition range
instead of `dagster/partition`: both are read.
"""

import json
import os
from collections.abc import Iterable

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    WILL_RETRY_TAG,
)
from dagster_shared.error import SerializableErrorInfo  # what a step failure carries (dagster re-exports it nowhere public)

from replenit_pipelines.component.quota import DRY_RUN_TAG
from replenit_pipelines.lib.alerts import ALERT_WEBHOOK_ENV, post_alert, slack_payload
from replenit_pipelines.lib.delivery.report import plural

CHECK_ALERTS_EVERY_S = 60
MAX_CHECKS_PER_TICK = 50  # per check and tick
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def webhook_url() -> str | None:
    return os.environ.get(ALERT_WEBHOOK_ENV) or None


def run_link(run_id: str) -> str | None:
    base = os.environ.get("REPLENIT_DAGSTER_URL")  # where the UI is served, for a link in the alert
    return f"{base.rstrip('/')}/runs/{run_id}" if base else None


def partition_of(tags: dict[str, str]) -> str | None:
    """The run's partition: `dagster/partition`, or a range run's first and last."""
    if tags.get(PARTITION_NAME_TAG):
        return tags[PARTITION_NAME_TAG]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start:
        return start if start == end or not end else f"{start} to {end}"
    return None


def partition_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: tags[k] for k in (PARTITION_NAME_TAG, ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG) if k in tags}


def run_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[dg.AssetKey]:
    """The assets the run was to materialize (its selection, else its planned materializations)."""
    if run.asset_selection:
        return set(run.asset_selection)
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit=100).records
    return {r.event_log_entry.dagster_event.asset_key for r in records
            if r.event_log_entry.dagster_event is not None and r.event_log_entry.dagster_event.asset_key is not None}


def subject(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """What the run was about, as a person names it: `customers 2026-12-05`, `reconcile_customers`."""
    # Keys as a person reads them: the default instance's without its `replenit/` (customers), another
    # instance's whole (brand_b/customers); warehouse tables (observations) are not what a run is about.
    assets = sorted(k.to_user_string().removeprefix("replenit/") for k in run_assets(instance, run)
                    if "warehouse" not in k.path[:-1])
    partition = partition_of(dict(run.tags))
    what = " and ".join(assets) if assets and not run.job_name.startswith(("reconcile_", "replay_", "plan_")) else run.job_name
    return f"{what} {partition}" if partition else what


def root_cause(error: SerializableErrorInfo) -> str:
    """The innermost error's message (Dagster wraps ours in DagsterExecutionStepExecutionError)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def failure_descriptions(events: Iterable[dg.DagsterEvent]) -> list[str]:
    """Each failed step's own words: a Failure's description, else the innermost error's message
    (never `dagster._core.definitions.events.Failure: ...`)."""
    out: list[str] = []
    for event in events:
        data = event.step_failure_data
        if data is None:
            continue
        text = data.user_failure_data.description if data.user_failure_data and data.user_failure_data.description else (
            root_cause(data.error) if data.error else "")
        if text and text not in out:
            out.append(text)
    return out


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000).records
    out = []
    for r in records:
        data = r.event_log_entry.dagster_event.event_specific_data if r.event_log_entry.dagster_event else None
        if isinstance(data, dg.AssetCheckEvaluation) and not data.passed:
            out.append(data)
    return out


def check_line(check: dg.AssetCheckEvaluation) -> str:
    level = "warning" if check.severity == dg.AssetCheckSeverity.WARN else "error"
    return f"- {check.check_name} ({level}): {check.description or 'no description'}"


def post(title: str, lines: list[str], run_id: str) -> bool:
    url = webhook_url()
    assert url is not None
    return post_alert(url, slack_payload(title, lines, run_link(run_id)))


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Posts each failed run of this code location, once, to the chat webhook in {ALERT_WEBHOOK_ENV} (off when "
                "unset): what failed, why in the run's own words, the checks that failed in it, the partition.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> dg.SkipReason | None:
    run = context.dagster_run
    if run.tags.get(WILL_RETRY_TAG) == "true":
        return dg.SkipReason(f"run {run.run_id} is retried by Dagster: its last attempt is posted if it fails")
    if webhook_url() is None:
        return dg.SkipReason(f"{ALERT_WEBHOOK_ENV} is not set: no alert posted")
    reasons = failure_descriptions(context.get_step_failure_events()) or [context.failure_event.message or "the run failed"]
    checks = failed_checks(context.instance, run.run_id)
    lines = [*reasons[:3]]
    if checks:
        lines.append("Checks that failed: " + ", ".join(sorted({c.check_name for c in checks})) + ".")
    lines.append(f"Job {run.job_name}, run {run.run_id}" + (" (a dry run)" if run.tags.get(DRY_RUN_TAG) else "") + ".")
    posted = post(f"Replenit: {subject(context.instance, run)} failed", lines, run.run_id)
    return None if posted else dg.SkipReason("the alert could not be posted (see the sensor's log)")


@dg.sensor(
    name="alert_on_check_failure",
    minimum_interval_seconds=CHECK_ALERTS_EVERY_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Posts the failed asset checks of each run that succeeded (warnings, the intraday sync's checks), one "
                f"post a run, to the chat webhook in {ALERT_WEBHOOK_ENV} (off when unset). A failed run's checks are in "
                "its run alert.",
)
def alert_on_check_failure(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    # The cursor: per check, the newest failed execution handled (a check execution's id only grows);
    # executions of runs still going are left for a later tick.
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    repo = context.repository_def
    check_keys = sorted(repo.asset_graph.asset_check_keys, key=str) if repo is not None else []
    by_run: dict[str, list[tuple[int, dg.AssetCheckEvaluation]]] = {}
    status: dict[str, dg.DagsterRunStatus | None] = {}
    for key in check_keys:
        records = context.instance.event_log_storage.get_asset_check_execution_history(
            key, limit=MAX_CHECKS_PER_TICK, status={AssetCheckExecutionRecordStatus.FAILED})
        done = seen.get(str(key), 0)
        for r in sorted((r for r in records if r.id > done), key=lambda r: r.id):
            if r.run_id not in status:
                run = context.instance.get_run_by_id(r.run_id)
                status[r.run_id] = run.status if run is not None else None
            if status[r.run_id] is not None and status[r.run_id] not in FINISHED:
                break  # judged when the run has ended: its own alert may cover it
            data = r.event.dagster_event.event_specific_data if r.event and r.event.dagster_event else None
            if isinstance(data, dg.AssetCheckEvaluation):
                by_run.setdefault(r.run_id, []).append((r.id, data))
            done = r.id
        seen[str(key)] = done
    context.update_cursor(json.dumps(seen, sort_keys=True))
    posted_for = [run_id for run_id in by_run if status.get(run_id) != dg.DagsterRunStatus.FAILURE]
    if not posted_for:
        return dg.SkipReason("no new failed checks outside failed runs")
    if webhook_url() is None:
        return dg.SkipReason(f"failed checks in {len(posted_for)} runs; {ALERT_WEBHOOK_ENV} is not set: no alert posted")
    for run_id in sorted(posted_for, key=lambda r: min(i for i, _ in by_run[r])):
        checks = [c for _, c in sorted(by_run[run_id], key=lambda x: x[0])]
        run = context.instance.get_run_by_id(run_id)
        where = subject(context.instance, run) if run is not None else checks[0].asset_key.to_user_string()
        partition = next((c.partition for c in checks if c.partition), None)
        if partition and partition not in where:
            where += f" {partition}"
        post(f"Replenit: {plural(len(checks), 'check')} failed on {where}",
             [*(check_line(c) for c in checks[:6]), f"Run {run_id} succeeded; these checks do not hold anything back."], run_id)
    return dg.SkipReason(f"posted the failed checks of {len(posted_for)} runs")


def previous_attempt(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun | None:
    """The run of the same assets (or op job) and partition that ended last before `run` started,
    dry runs left out."""
    me = instance.get_run_record_by_id(run.run_id)
    if me is None:
        return None
    tags = partition_tags(dict(run.tags))
    mine = {k for k in run_assets(instance, run)}
    records = instance.get_run_records(filters=dg.RunsFilter(
        tags=tags or None, statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
        job_name=None if mine else run.job_name, created_before=me.create_timestamp), limit=50)
    for record in records:
        other = record.dagster_run
        if other.run_id == run.run_id or other.tags.get(DRY_RUN_TAG) or partition_tags(dict(other.tags)) != tags:
            continue
        if mine and not mine & run_assets(instance, other):
            continue
        return other
    return None


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="alert_on_recovery",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Posts to the chat webhook in {ALERT_WEBHOOK_ENV} (off when unset) when a run succeeds whose assets and "
                "partition failed in the run before it: the failure alerted is over.",
)
def alert_on_recovery(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
    run = context.dagster_run
    if run.tags.get(DRY_RUN_TAG):
        return dg.SkipReason("a dry run: it recovers nothing")
    before = previous_attempt(context.instance, run)
    if before is None or before.status != dg.DagsterRunStatus.FAILURE:
        return dg.SkipReason("the run before it did not fail")
    if webhook_url() is None:
        return dg.SkipReason(f"{ALERT_WEBHOOK_ENV} is not set: no alert posted")
    posted = post(f"Replenit: {subject(context.instance, run)} recovered",
                  [f"Run {run.run_id} succeeded; the run before it, {before.run_id}, had failed."], run.run_id)
    return None if posted else dg.SkipReason("the alert could not be posted (see the sensor's log)")
