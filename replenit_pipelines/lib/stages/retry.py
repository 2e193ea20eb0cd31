"""The retry stage: records earlier runs of the entity could not deliver, re-sent before new work
(lib/ledger/retries.py says which and why).

`failed` entries (retries ran out: 5xx, timeouts, dropped connections) are re-sent by the next
run of the entity, whatever its partition, until `max_attempts` deliveries in all have failed;
then they are `needs_attention`. `rejected` ones wait for new content or a replay
(`replay=True`: `replenit replay`, the replay job). A queued payload never overwrites newer data:
entries acknowledged since are dropped (`stale`), and those the current run carries are left to
it (`deferred`). Retried records come from earlier runs, so they are counted apart from this
window's rows.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from replenit_pipelines.lib.delivery import BatchProgress, DeliveryReport, ReplenitClient, ReplenitStopError
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.ledger import DEFAULT_MAX_ATTEMPTS, Ledger, failures_to_queue, plan_retries
from replenit_pipelines.lib.stages.acknowledge import send_check

# What a replay (`replenit replay --status`, the replay job) may re-send.
REPLAY_STATUSES = {"rejected": ("rejected",), "needs_attention": ("needs_attention",), "failed": ("failed",),
                   "all": ("failed", "rejected", "needs_attention")}


@dataclass(frozen=True)
class Retried:
    records_retried: int = 0  # re-sent from the queue
    # Of them, a replay's entries the API rejected (400) with this very payload: re-sent unchanged, a
    # validation that has not changed rejects them again (the contract: never retry a 400 unchanged).
    records_resent_rejected: int = 0
    records_retry_accepted: int = 0
    records_retry_rejected: int = 0
    records_retry_failed: int = 0  # back in the queue, one more attempt
    records_needs_attention: int = 0  # exhausted by this run: only a replay re-sends them
    records_stale: int = 0  # acknowledged since they failed: dropped from the queue
    records_retry_skipped: int = 0  # found stale by the send-time check, right before their request: dropped too
    records_deferred: int = 0  # this run carries a newer version
    records_waiting: int = 0  # rejected / needs_attention, left alone
    requests: int = 0
    requests_planned: int = 0  # a dry run: the requests the re-send would spend
    report: DeliveryReport | None = None
    deferred: tuple[str, ...] = ()  # identities left to this run's own version

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k not in ("report", "deferred")}


def retry(
    ledger: Ledger | None, client: ReplenitClient, run_id: str, current_identities: pl.Series | None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS, replay: bool = False, statuses: tuple[str, ...] | None = None,
    identities: list[str] | None = None, dry_run: bool = False, progress: Callable[[BatchProgress], None] | None = None,
) -> tuple[Retried, ReplenitStopError | None]:
    """Re-send what the queue says is due. `statuses`/`identities` narrow a replay; `dry_run`
    plans without sending or changing the queue."""
    if ledger is None:
        return Retried(), None
    queued = ledger.queued(statuses) if statuses else ledger.queued()
    if identities:
        queued = queued.filter(pl.col("identity").is_in(identities))
    if queued.height == 0:
        return Retried(), None
    rp = plan_retries(queued, ledger.lookup(queued["identity"]), current_identities, max_attempts, replay=replay)
    counts: dict[str, Any] = {"records_needs_attention": rp.exhausted.height, "records_stale": rp.stale.height,
              "records_deferred": rp.deferred.height, "deferred": tuple(rp.deferred["identity"].to_list()), "records_waiting": rp.waiting.height,
              "records_retried": rp.send.height,
              "records_resent_rejected": rp.send.filter(pl.col("status") == "rejected").height}
    if dry_run:
        payloads = rp.send["payload"].to_list()
        return Retried(**counts, requests_planned=len(client.plan(ledger.entity, payloads)) if payloads else 0), None
    if rp.exhausted.height:
        ledger.set_retry_status(rp.exhausted["identity"].to_list(), "needs_attention")
    if rp.stale.height:
        ledger.dequeue(rp.stale["identity"].to_list())
    if rp.send.height == 0:
        return Retried(**counts), None
    ids, parts, hashes = rp.send["identity"].to_list(), rp.send["payload"].to_list(), rp.send["hash"].to_list()
    reads: list[int | None] = rp.send["read_at"].to_list()  # when each payload's warehouse read began (None: not recorded)

    def acknowledged(batch: list[int]) -> None:
        ledger.acknowledge([ids[i] for i in batch], [hashes[i] for i in batch], run_id, read_at=[reads[i] for i in batch],
                           payloads=[parts[i] for i in batch] if getattr(ledger, "keep_payloads", False) else None)

    # A queued payload is older than a version another run stored since (read later) or the same:
    # checked again right before each request, as a run's own records are.
    check = send_check(ledger, list(ids), list(hashes), run_id, reads)

    stop: ReplenitStopError | None = None
    report: DeliveryReport | None
    try:
        report = client.deliver_planned(ledger.entity, parts, client.plan(ledger.entity, parts), progress, acknowledged, check)
    except ReplenitStopError as exc:
        report, stop = (exc.report if isinstance(exc.report, DeliveryReport) else None), exc
    if report is None:
        return Retried(**counts), stop
    undelivered = [(i, "rejected", "; ".join(r)) for i, r in report.rejected.items()] + [
        (i, "failed", r) for i, r in report.failed.items()]
    if undelivered:
        ledger.queue_failures(failures_to_queue(
            [ids[i] for i, _, _ in undelivered], [parts[i] for i, _, _ in undelivered],
            [hashes[i] for i, _, _ in undelivered], [s for _, s, _ in undelivered], [r for _, _, r in undelivered], run_id,
            [reads[i] for i, _, _ in undelivered]))
    if report.skipped:  # the check found newer (or the same) content stored: the queued payload is obsolete
        ledger.dequeue([ids[i] for i in report.skipped])
    return Retried(**counts, records_retry_accepted=len(report.accepted), records_retry_rejected=len(report.rejected),
                   records_retry_failed=len(report.failed), records_retry_skipped=len(report.skipped),
                   requests=report.counters.requests, report=report), stop


def drop_superseded(ledger: Ledger | None, retried: Retried, sent: list[str | None], held: list[str]) -> None:
    """Queue entries left to this run whose identity the run found unchanged: the warehouse's
    version now is the one Replenit holds (the failed content was reverted), so the queued payload
    is obsolete and must never be re-sent over it later."""
    if ledger is None or not retried.deferred:
        return
    going = set(sent) | set(held)
    obsolete = [i for i in retried.deferred if i not in going]
    if obsolete:
        ledger.dequeue(obsolete)


def check_queued(ledger: Ledger, entity: str, identities: list[str], status: str,
                 names: tuple[str, str] = ("--identity", "--status")) -> None:
    """Each identity a replay names is in the entity's retry queue under a status `status` selects;
    else a ValueError naming it, before any request (`replenit replay` exits 2, the replay job fails
    as misconfigured). Unchecked, a typo said `nothing to do` and succeeded, as if the record had
    been delivered. `names`: how the caller's user typed the identities and the status (CLI flags,
    or the job's config fields)."""
    queue = dict(ledger.queued().select("identity", "status").iter_rows())
    absent = [i for i in identities if i not in queue]
    if absent:
        # No queued identity as an example: it is a customer's email or id (personal data), and the list is one command away.
        holds = (f"it holds {plural(len(queue), 'record')} (`replenit state --retries {entity}` lists them: give an identity "
                 "as it shows it)" if queue else "it is empty")
        raise ValueError(f"replay {entity} {names[0]}: {', '.join(map(repr, absent))} {'is' if len(absent) == 1 else 'are'} "
                         f"not in the retry queue of {entity}; {holds}. Nothing was sent")
    left_out = [f"{i!r} is queued as {queue[i]}" for i in identities if queue[i] not in REPLAY_STATUSES[status]]
    if left_out:
        raise ValueError(f"replay {entity} {names[0]}: {'; '.join(left_out)}, which {names[1]} {status} leaves out "
                         f"({names[1]} all re-sends it); nothing was sent")
