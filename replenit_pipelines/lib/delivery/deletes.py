"""Deletes: whole records (customers by CustomerId, orders by OrderId, products by ProductId), one
DELETE each, paced and retried like upserts on the session's workers; and the single deletes of a
line or a variant."""

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from replenit_pipelines.lib.contract.entities import entity as entity_spec
from replenit_pipelines.lib.delivery.errors import AcknowledgementError, ReplenitStopError
from replenit_pipelines.lib.delivery.report import BatchProgress, DeleteReport, DeliveryCounters, fail_unsettled, union_length
from replenit_pipelines.lib.delivery.responses import api_message
from replenit_pipelines.lib.delivery.session import Exhausted, Session, path_segment


@dataclass(frozen=True)
class DeleteOutcome:
    status: str  # "deleted", "already_gone", "failed"
    reason: str = ""


def delete_one(session: Session, path: str, params: dict[str, str] | None = None) -> DeleteOutcome:
    """One DELETE (a record, a line, a variant): done (200), already gone (404) or failed."""
    counters = DeliveryCounters()  # one request's bookkeeping; a delete reports only its outcome
    session.stop.clear()
    try:
        resp = session.request("DELETE", path, counters, params=params)
    except Exhausted as exc:
        return DeleteOutcome("failed", str(exc))
    session.raise_if_stop(resp)
    if resp.status_code == 200:
        return DeleteOutcome("deleted")
    if resp.status_code == 404:
        return DeleteOutcome("already_gone", api_message(resp))
    return DeleteOutcome("failed", f"HTTP {resp.status_code}: {api_message(resp) or resp.text[:200]}")


def delete_records(session: Session, entity: str, api_ids: Sequence[str], progress: Callable[[BatchProgress], None] | None = None,
               on_done: Callable[[int], None] | None = None) -> DeleteReport:
    """Delete whole records (customers by CustomerId, orders by OrderId, products by ProductId),
    one DELETE each, paced by the key's quota and retried like upserts (429, 5xx, timeouts).
    A 404 of the record (not of the tenant) is what was wanted: done. `on_done(index)` runs on
    the worker right after a delete is done (the sync forgets the identity in its ledger); if it
    raises, nothing more is sent. A 401/403/404-tenant raises a ReplenitStopError after one
    request, with the partial report as `.report`."""
    path = session.path(entity_spec(entity).path, session.config.tenant_id) + "/"
    session.reset()
    started = time.monotonic()
    report = DeleteReport(entity, len(api_ids))
    lock = threading.Lock()

    def run(i: int) -> None:
        counters = DeliveryCounters()
        try:
            try:
                resp = session.request("DELETE", path + path_segment(api_ids[i]), counters)
            except Exhausted as exc:
                with lock:
                    report.failed[i] = str(exc)
                return
            session.raise_if_stop(resp)
            if resp.status_code in (200, 404):
                with lock:
                    (report.deleted if resp.status_code == 200 else report.already_gone).append(i)
                if on_done is not None:
                    try:
                        on_done(i)
                    except Exception as exc:
                        session.stop.set()
                        raise AcknowledgementError(
                            f"a delete was done but could not be recorded ({type(exc).__name__}: {exc}); "
                            "deletes stopped: the next run deletes it again (a 404, done)") from exc
            else:
                with lock:
                    report.failed[i] = f"HTTP {resp.status_code}: {api_message(resp) or resp.text[:200]}"
        finally:
            with lock:
                report.counters.add(counters)

    def notify(final: bool = False) -> None:  # a delete's progress event never says final
        if progress is not None:
            with lock:
                done = len(report.deleted) + len(report.already_gone) + len(report.failed)
                event = BatchProgress(entity, done, len(api_ids), done, len(api_ids),
                                      len(report.deleted) + len(report.already_gone), 0, len(report.failed),
                                      session.quota.eta_seconds(len(api_ids) - done))
            progress(event)

    try:
        session.run_workers(len(api_ids), run, notify, "replenit-delete")
    except ReplenitStopError as exc:
        with lock:
            fail_unsettled(report.failed, {*report.deleted, *report.already_gone, *report.failed}, range(len(api_ids)), exc)
        report.counters.wall_s = time.monotonic() - started
        exc.report = report
        raise
    report.counters.wall_s = time.monotonic() - started
    report.counters.quota_wait_s = union_length(session.waits)
    return report
