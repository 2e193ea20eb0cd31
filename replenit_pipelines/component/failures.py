"""How a run that stops says so: one `dg.Failure` whose description is one paragraph in plain
words (what stopped, why, what to do, what happens to what was not sent) and whose metadata names
the kind of stop and the numbers, never a raw exception.

Dagster 1.13 always prints a stack trace under a Failure in the run's log (research note D); what
we control is that the first line is this paragraph and the metadata sits right under it. The
alerts (defs/alerts.py) post the same paragraph.
"""

from typing import Any

import dagster as dg

from replenit_pipelines.lib.delivery.config import check_batch_size
from replenit_pipelines.lib.delivery.errors import (
    AcknowledgementError,
    DeliveryConfigError,
    ForbiddenError,
    TenantNotFoundError,
    UnauthorizedError,
    UnreachableError,
)
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.privacy import mask_text

STOP_KINDS: tuple[tuple[type, str], ...] = (
    (UnauthorizedError, "api_key_refused"), (ForbiddenError, "tenant_forbidden"), (TenantNotFoundError, "tenant_not_found"),
    (UnreachableError, "api_unreachable"), (AcknowledgementError, "ledger_write_failed"),
)
STOP_KIND_KEY = "stop"  # the Failure metadata key the alerts read


def stop_kind(error: BaseException) -> str:
    return next((kind for cls, kind in STOP_KINDS if isinstance(error, cls)), "stopped")


def failure(description: str, kind: str, partition: str | None = None, **numbers: Any) -> dg.Failure:
    """A Failure with `description` (masked: it lands in the event log and the alerts) and metadata."""
    metadata: dict[str, Any] = {STOP_KIND_KEY: kind}
    if partition:
        metadata["partition"] = partition
    metadata.update({k: v for k, v in numbers.items() if v is not None})
    return dg.Failure(description=mask_text(description), metadata=metadata)


def api_stop(what: str, error: BaseException, counts: dict[str, Any] | None, entity: str, partition: str | None) -> dg.Failure:
    """The API (or the ledger) stopped the delivery: the key, the tenant, an unreachable API."""
    c = counts or {}
    accepted, not_sent = int(c.get("records_accepted", 0)), int(c.get("records_not_attempted", 0))
    text = f"{what} stopped: {str(error).rstrip('.')}."
    if counts is not None:
        text += (f" Before the stop {plural(accepted, 'record was', 'records were')} accepted"
                 + (f"; the {plural(not_sent, 'record')} not sent {'is' if not_sent == 1 else 'are'} queued and sent first "
                    f"by the next run of {entity}" if not_sent else "") + ". Nothing else was changed.")
    return failure(text, stop_kind(error), partition, records_accepted=accepted if counts is not None else None,
                   records_not_sent=not_sent if counts is not None else None,
                   requests=int(c["requests"] + c.get("retry_requests", 0)) if counts is not None else None)


def deletes_refused(error: BaseException, partition: str | None) -> dg.Failure:
    """The delete guard refused the run before anything was sent (the message says how to allow it)."""
    return failure(f"{str(error).rstrip('.')}. Nothing was sent.", "deletes_refused", partition)


def gate_held_back(what: str, reason: str, rows_held_back: int, state_query: str, partition: str | None) -> dg.Failure:
    """The quarantine gate held the window back: nothing sent, nothing materialized."""
    return failure(
        f"{what} held back by the quarantine gate, nothing sent: {reason}. Fix the rows in the warehouse and re-run the "
        f"partition; if this share is right, re-run with run config gate: fixed and a higher max_quarantine_share. "
        f"The {plural(rows_held_back, 'valid row')} held back {'is' if rows_held_back == 1 else 'are'} sent by that re-run; "
        f"the quarantined rows: {state_query}.",
        "gate_held_back", partition, rows_held_back=rows_held_back)


def not_delivered(what: str, description: str, partition: str | None) -> dg.Failure:
    """Records rejected or failed after retries (delivery_complete failed)."""
    return failure(f"{what}: {description}", "not_delivered", partition)


def config_error(message: str) -> dg.Failure:
    """A run config value that cannot work (Dagster's launchpad does not check ranges)."""
    return failure(f"run config: {message}", "run_config")


def check_batch_size_config(size: int | None) -> None:
    """The run config's batch_size, checked as the client and the CLI check it (lib/delivery/config.py)."""
    try:
        check_batch_size(size, "batch_size")
    except DeliveryConfigError as exc:
        raise config_error(str(exc)) from None

