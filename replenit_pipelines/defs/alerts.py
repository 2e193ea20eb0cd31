"""Alerts to a chat webhook (REPLENIT_ALERT_WEBHOOK_URL; off when unset): a sensor on failed runs
of this code location, and one on failed asset checks. Both run by default: with no URL set each
tick is a no-op that says so; with one, a person hears of a failure without watching the UI."""

import json
import os

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster_shared.error import SerializableErrorInfo  # what a step failure carries (dagster re-exports it nowhere public)

from replenit_pipelines.lib.alerts import ALERT_WEBHOOK_ENV, post_alert, slack_payload

CHECK_ALERTS_EVERY_S = 60
MAX_CHECKS_PER_TICK = 50  # per check and tick


def webhook_url() -> str | None:
    return os.environ.get(ALERT_WEBHOOK_ENV) or None


def run_link(run_id: str) -> str | None:
    base = os.environ.get("REPLENIT_DAGSTER_URL")  # where the UI is served, for a link in the alert
    return f"{base.rstrip('/')}/runs/{run_id}" if base else None


def root_cause(error: SerializableErrorInfo) -> str:
    """The innermost error's message (Dagster wraps ours in DagsterExecutionStepExecutionError)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Posts each failed run of this code location to the chat webhook in {ALERT_WEBHOOK_ENV} (off when unset).",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> dg.SkipReason | None:
    url = webhook_url()
    if url is None:
        return dg.SkipReason(f"{ALERT_WEBHOOK_ENV} is not set: no alert posted")
    run = context.dagster_run
    partition = run.tags.get("dagster/partition")
    message = context.failure_event.message or "run failed"
    step_errors = [root_cause(e.step_failure_data.error) for e in context.get_step_failure_events()
                   if e.step_failure_data and e.step_failure_data.error]
    lines = [f"job {run.job_name}" + (f", partition {partition}" if partition else "") + f", run {run.run_id}",
             *(step_errors[:3] or [message])]
    posted = post_alert(url, slack_payload(f"Replenit sync failed: {run.job_name}", lines, run_link(run.run_id)))
    return None if posted else dg.SkipReason("the alert could not be posted (see the sensor's log)")


@dg.sensor(
    name="alert_on_check_failure",
    minimum_interval_seconds=CHECK_ALERTS_EVERY_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Posts each failed asset check (blocking or warning) to the chat webhook in {ALERT_WEBHOOK_ENV} (off when unset).",
)
def alert_on_check_failure(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    # The cursor: the newest failed execution seen per check (a check execution's id only grows).
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    repo = context.repository_def
    check_keys = sorted(repo.asset_graph.asset_check_keys, key=str) if repo is not None else []
    failed: list[tuple[int, str, dg.AssetCheckEvaluation]] = []
    for key in check_keys:
        records = context.instance.event_log_storage.get_asset_check_execution_history(
            key, limit=MAX_CHECKS_PER_TICK, status={AssetCheckExecutionRecordStatus.FAILED})
        new = [r for r in records if r.id > seen.get(str(key), 0)]
        for r in new:
            data = r.event.dagster_event.event_specific_data if r.event and r.event.dagster_event else None
            if isinstance(data, dg.AssetCheckEvaluation):
                failed.append((r.id, r.run_id, data))
        if records:
            seen[str(key)] = max(seen.get(str(key), 0), *(r.id for r in records))
    context.update_cursor(json.dumps(seen, sort_keys=True))
    if not failed:
        return dg.SkipReason("no new failed checks")
    url = webhook_url()
    if url is None:
        return dg.SkipReason(f"{len(failed)} failed checks; {ALERT_WEBHOOK_ENV} is not set: no alert posted")
    for _, run_id, check in sorted(failed, key=lambda f: f[0]):
        where = check.asset_key.to_user_string() + (f" partition {check.partition}" if check.partition else "")
        level = "warning" if check.severity == dg.AssetCheckSeverity.WARN else "error"
        post_alert(url, slack_payload(f"Check failed ({level}): {check.check_name} on {where}",
                                      [check.description or "no description", f"run {run_id}"], run_link(run_id)))
    return dg.SkipReason(f"posted {len(failed)} failed checks")
