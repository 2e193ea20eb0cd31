"""One sync of one entity over one time window, as the list of its stages (lib/stages/, drawn in
docs/architecture.md): extract, map + validate (and the quarantine gate), retry (earlier runs'
failures, before new work), diff (against the acknowledged-state ledger), plan, deliver
(acknowledging each accepted batch in the ledger), acknowledge, report.

Plain Python: the Dagster assets call this, the benches call it directly, and its accounting
always closes: rows read = delivered + quarantined + superseded + unchanged + dead-lettered
+ held back (valid rows not sent because the quarantine gate tripped: lib/sync/gate.py). A dry run
(`SyncRequest.dry_run`) counts the rows it would send as `rows_planned` instead of delivered.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY
from replenit_pipelines.lib.delivery import BatchProgress, DeliveryReport, ReplenitClient
from replenit_pipelines.lib.ledger import DEFAULT_MAX_ATTEMPTS, Ledger
from replenit_pipelines.lib.stages.acknowledge import DEAD_LETTER_SCHEMA, acknowledge, on_accepted, planned_only
from replenit_pipelines.lib.stages.deliver import deliver
from replenit_pipelines.lib.stages.diff import diff, nothing
from replenit_pipelines.lib.stages.extract import Extracted, extract
from replenit_pipelines.lib.stages.plan import plan
from replenit_pipelines.lib.stages.report import SyncResult, Window, report
from replenit_pipelines.lib.stages.retry import drop_superseded, retry
from replenit_pipelines.lib.stages.validate import gate, validate
from replenit_pipelines.lib.sync.gate import GatePolicy
from replenit_pipelines.lib.sync.state import StateStore
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse

__all__ = ["DEAD_LETTER_SCHEMA", "SyncRequest", "SyncResult", "sync_window"]


@dataclass(frozen=True)
class SyncRequest:
    """Everything one sync of one entity over one window needs, by name."""

    mapping: EntityMapping
    warehouse: Warehouse
    client: ReplenitClient
    store: StateStore | None  # None: record nothing (benches)
    start: datetime
    end: datetime
    partition_key: str
    run_id: str
    gate: GatePolicy = field(default_factory=GatePolicy)
    customer_priority: str = DEFAULT_CUSTOMER_PRIORITY
    progress: Callable[[BatchProgress], None] | None = None
    ledger: Ledger | None = None  # None: no memory, every valid record is sent (benches)
    full_refresh: bool = False  # send every valid record even if Replenit holds it, and re-acknowledge it
    retry_max_attempts: int = DEFAULT_MAX_ATTEMPTS
    lookback: timedelta = timedelta(0)  # read [start - lookback, end): late rows of earlier partitions
    dry_run: bool = False  # every stage up to the plan; nothing sent, nothing written (ledger, queue, state store)


def sync_window(request: SyncRequest) -> SyncResult:
    started = time.monotonic()
    mapping, store, policy = request.mapping, request.store, request.gate
    entity = mapping.entity

    extracted = extract(mapping, request.warehouse, request.start - request.lookback, request.end)
    prepared = validate(mapping, extracted.rows, request.customer_priority)
    history = store.recent_runs(entity, policy.baseline_runs, request.partition_key) if store and policy.mode == "baseline" else []
    decision = gate(policy, prepared, history)
    ledger = request.ledger
    # This run's identities, valid or quarantined: a queued older payload of either is obsolete
    # (never sent over a newer version, nor in place of one the warehouse now has invalid).
    in_run = pl.concat([prepared.records["__key"], prepared.quarantine["record_id"].alias("__key")]).unique()
    retried, stop = retry(ledger, request.client, request.run_id, None if decision.held_back else in_run,
                          request.retry_max_attempts, progress=request.progress, dry_run=request.dry_run)
    changes = diff(prepared, ledger, request.full_refresh) if not decision.held_back else nothing()
    window = Window(entity, request.partition_key, request.run_id, request.start, request.end)
    if request.dry_run:  # the plan is the real run's own stages, stopped before the first request
        planned = plan(prepared, changes, request.client)
        return _with_window_values(report(
            window, prepared, decision, changes, None, planned_only(prepared, changes), None,
            extracted.rows_without_window_value, time.monotonic() - started, None, retried, ledger, request.lookback, planned,
        ), extracted)
    drop_superseded(ledger, retried, changes.keys, changes.held["__key"].to_list())
    planned = plan(prepared, changes, request.client)
    if stop is None:
        delivery, stop = deliver(request.client, planned, request.progress, on_accepted(ledger, changes, request.run_id))
    else:  # the API refused the key or tenant while retrying: nothing of this window can be sent
        delivery = DeliveryReport(entity=entity, records=len(planned.parts))
        delivery.failed.update({i: f"not sent: {stop}" for i in range(len(planned.parts))})
    acknowledged = acknowledge(prepared, changes, planned, delivery, ledger, request.run_id)
    result = report(
        window, prepared, decision, changes, delivery, acknowledged, stop, extracted.rows_without_window_value, time.monotonic() - started, store,
        retried, ledger, request.lookback,
    )
    _with_window_values(result, extracted)
    if stop is not None:
        stop.result = result  # type: ignore[attr-defined]  # what was judged before the stop (the Dagster checks)
        raise stop
    return result


def _with_window_values(result: SyncResult, extracted: Extracted) -> SyncResult:
    """The unparsable window values the extract found, on the result (its counts and metadata)."""
    result.rows_unparsable_window_value = extracted.rows_unparsable_window_value
    result.unparsable_window_examples = list(extracted.unparsable_window_examples)
    return result
