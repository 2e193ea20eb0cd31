"""Delivery: the Replenit client, its quota limiter and batching (no Dagster)."""

from replenit_pipelines.lib.delivery.client import BatchProgress, DeleteOutcome, ReplenitClient, client_from_env
from replenit_pipelines.lib.delivery.config import DOCUMENTED_LIMITS, ApiKey, ClientConfig
from replenit_pipelines.lib.delivery.errors import (
    AcknowledgementError,
    DeliveryConfigError,
    ForbiddenError,
    ReplenitStopError,
    SendCheckError,
    TenantNotFoundError,
    UnauthorizedError,
    UnreachableError,
)
from replenit_pipelines.lib.delivery.report import DeliveryCounters, DeliveryReport

__all__ = [
    "DOCUMENTED_LIMITS", "AcknowledgementError", "ApiKey", "BatchProgress", "ClientConfig", "DeleteOutcome", "DeliveryConfigError",
    "DeliveryCounters", "DeliveryReport", "ForbiddenError", "ReplenitClient", "ReplenitStopError", "SendCheckError",
    "TenantNotFoundError", "UnauthorizedError", "UnreachableError", "client_from_env",
]
