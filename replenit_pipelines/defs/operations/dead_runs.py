"""Runs whose processes died are failed and their pool slots freed (component/monitoring.py)."""

from replenit_pipelines.component.monitoring import dead_run_workers

__all__ = ["dead_run_workers"]
