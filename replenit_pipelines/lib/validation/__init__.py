"""Normalization, pandera validation and quarantine (no Dagster)."""

from replenit_pipelines.lib.validation.prepare import Prepared, payload_column, payload_parts, prepare

__all__ = ["Prepared", "payload_column", "payload_parts", "prepare"]
