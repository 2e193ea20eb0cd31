"""Errors of the delivery stage. None of them ever holds the API key."""

from typing import Any

from replenit_pipelines.lib.delivery.report import DeleteReport, DeliveryReport
from replenit_pipelines.lib.errors import ReplenitError


class DeliveryConfigError(ReplenitError, ValueError):
    """The client's configuration cannot work; the message says what to change."""


class ReplenitStopError(ReplenitError, RuntimeError):
    """The API refused the credentials or the tenant: no request after this one can succeed.

    `report` is the partial delivery report (what was settled before the stop), set by the client
    before it re-raises; None when the error was raised outside a delivery. `result` is what the
    sync had done before the stop, set by lib/sync/ before it re-raises."""

    status: int = 0
    report: DeliveryReport | DeleteReport | None = None
    result: Any = None  # set by the sync: its SyncResult or ReconcileResult so far, for the caller to show


class UnauthorizedError(ReplenitStopError):
    status = 401


class ForbiddenError(ReplenitStopError):
    status = 403


class TenantNotFoundError(ReplenitStopError):
    status = 404


class AcknowledgementError(ReplenitStopError):
    """The API accepted a batch but the sync could not record it (the ledger's disk is full or
    read-only): delivery stops, since every further request would be spent without being remembered."""


class SendCheckError(ReplenitStopError):
    """The send-time check (is a newer version stored already?) could not ask the ledger: delivery
    stops rather than send a version that may be older than the one the tenant holds."""


class UnreachableError(ReplenitStopError):
    """The API could not be reached (connections refused or timed out, no answer at all) by the
    first batch of a delivery, or by several batches in a row: every further request would fail
    the same way, so the delivery stops and the rest waits for the next run."""
