"""The code location's alerts to a chat webhook (REPLENIT_ALERT_WEBHOOK_URL): failed runs, failed
checks of succeeded runs, recoveries, for every tenant of the location (component/alerts.py)."""

from replenit_pipelines.component.alerts import alert_on_check_failure, alert_on_recovery, alert_on_run_failure

__all__ = ["alert_on_check_failure", "alert_on_recovery", "alert_on_run_failure"]
