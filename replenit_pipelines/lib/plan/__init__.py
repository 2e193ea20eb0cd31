"""Plans before spending (issue 13): what a sync will send, cost and take, without a request.

Plain Python, no Dagster. For a caller holding a dry run's result (`sync_window(SyncRequest(...,
dry_run=True))`) and its client:

    from replenit_pipelines.lib.plan import eta, expected_load, plan_summary, plan_text, quota_snapshot

    snapshot = quota_snapshot(client.quota)                    # the key's ledger, read only
    load = expected_load(schedules, store.requests_since(since()))  # optional: Schedule list, recent runs
    # schedules: a command gets the code location's from replenit_pipelines.commands_quota.code_location_schedules()
    estimate = eta(result.requests_planned, snapshot, expected_load=load, entity=result.entity, lead_s=result.duration_s)
    summary = plan_summary(result, estimate)
    print(plan_text(summary))                                 # or json.dumps(summary)

- `quota_snapshot(limiter)` / `ledger_snapshots(quota_dir, limits)`: spent and remaining in each
  window now, per key (labelled by the ledger's digest, never the key).
- `eta(requests, snapshot, limits=None, expected_load=None, entity=None, lead_s=0.0) -> Eta`: seconds alone and
  with the schedules' expected load; `Eta.late` when it cannot finish before the key's next
  scheduled run. The model is in lib/plan/eta.py's docstring.
- `plan_summary(result, eta=None) -> dict`: the counts a person wants before spending (JSON-able),
  `plan_text(summary) -> str` its text. A real run's result gives the same keys, so a plan and the
  run that follows compare key by key.
- `quota_view(...)` / `quota_text(view)`: `replenit quota` and the replenit/quota asset.
"""

from replenit_pipelines.lib.plan.eta import Eta, ExpectedLoad, Schedule, ScheduledRun, eta, expected_load
from replenit_pipelines.lib.plan.quota import QuotaSnapshot, WindowState, ledger_snapshots, quota_snapshot
from replenit_pipelines.lib.plan.summary import plan_summary, plan_text, planned_requests
from replenit_pipelines.lib.plan.view import current_quota_view, instance_state_stores, quota_text, quota_view, since

__all__ = ["Eta", "ExpectedLoad", "QuotaSnapshot", "Schedule", "ScheduledRun", "WindowState", "eta", "expected_load",
           "current_quota_view", "instance_state_stores", "ledger_snapshots", "plan_summary", "plan_text", "planned_requests", "quota_snapshot", "quota_text", "quota_view", "since"]
