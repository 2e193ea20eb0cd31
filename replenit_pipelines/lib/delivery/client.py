"""The Replenit client: quota-exact pacing, retries, and 400s that cost one request, not a batch."""

import gzip
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from replenit_pipelines.lib.contract.api import AUTH_HEADER
from replenit_pipelines.lib.contract.entities import entity as entity_spec
from replenit_pipelines.lib.delivery import batching
from replenit_pipelines.lib.delivery.config import ApiKey, ClientConfig
from replenit_pipelines.lib.delivery.errors import (
    AcknowledgementError,
    DeliveryConfigError,
    ForbiddenError,
    ReplenitStopError,
    UnreachableError,
    TenantNotFoundError,
    UnauthorizedError,
)
from replenit_pipelines.lib.delivery.quota import QuotaLimiter, default_quota_dir, ledger_name
from replenit_pipelines.lib.delivery.report import (
    BatchProgress,
    DeliveryCounters,
    DeliveryReport,
    live_counters,
    union_length,
    wait_reporting,
)
from replenit_pipelines.lib.delivery.responses import api_message, problem_errors
from replenit_pipelines.lib.delivery.stream import StreamReport, deliver_stream

if TYPE_CHECKING:
    from replenit_pipelines.lib.settings import Settings

log = logging.getLogger("replenit_pipelines.delivery")

RETRYABLE_STATUS = {500, 502, 503, 504}
# The sandbox's exact figures beside the whole-second headers, on time-scaled windows only; the
# real API sends whole seconds, which the client handles alone.
RETRY_AFTER_EXACT = "X-Sandbox-Retry-After-Exact"
RESET_EXACT = "X-Sandbox-RateLimit-Reset-Exact"
_INDEX_KEY = re.compile(r"^\[(\d+)\]")


class _Exhausted(Exception):
    """Retries ran out for one request. `unreachable`: no attempt got any HTTP answer;
    `server_errors`: the attempts ended on 5xx answers (a storm when batches in a row do)."""

    def __init__(self, reason: str, unreachable: bool = False, server_errors: bool = False, not_sent: bool = False):
        super().__init__(reason)
        self.unreachable = unreachable
        self.server_errors = server_errors
        self.not_sent = not_sent  # no attempt was made: the delivery had stopped



@dataclass(frozen=True)
class DeleteOutcome:
    status: str  # "deleted", "already_gone", "failed"
    reason: str = ""


class ReplenitClient:
    def __init__(
        self,
        config: ClientConfig,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config
        self._sleep = sleep
        self._rng = random.Random(config.seed)
        quota_dir = Path(config.quota_dir) if config.quota_dir else default_quota_dir()
        self.quota = QuotaLimiter(
            list(config.limits),
            quota_dir / ledger_name(config.base_url, config.api_key.reveal()),
            sleep=sleep,
        )
        self._http = httpx.Client(
            base_url=config.base_url,
            timeout=httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
            limits=httpx.Limits(max_connections=config.max_in_flight, max_keepalive_connections=config.max_in_flight),
            transport=transport,
        )
        self._stop = threading.Event()
        # Fail fast on an API that cannot be reached: HTTP answers seen, and batches in a row whose
        # every attempt failed to connect or timed out (reset by any answer).
        self._answers = 0
        self._unreachable_streak = 0
        self._server_error_streak = 0
        # Quota waits of all workers as intervals: with several in flight they overlap, and the
        # run's "seconds waited for quota" is their union, not their sum.
        self._waits: list[tuple[float, float]] = []
        self._waits_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReplenitClient(base_url={self.config.base_url!r}, tenant_id={self.config.tenant_id!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ReplenitClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one request, paced and retried ----------------------------------------------------------
    def _request(self, method: str, path: str, counters: DeliveryCounters, body: bytes | None = None,
                 params: dict[str, str] | None = None) -> httpx.Response:
        headers = {AUTH_HEADER: self.config.api_key.reveal()}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if self.config.gzip:
                body = gzip.compress(body, compresslevel=5)
                headers["Content-Encoding"] = "gzip"
        failures = 0
        rate_limited = 0
        answered = False  # any HTTP answer at all: the API is reachable
        while True:
            if self._stop.is_set():
                raise _Exhausted("not sent: the delivery was stopped by an earlier error", not_sent=True)
            wait_started = time.monotonic()
            waited = self.quota.acquire()
            if waited:
                counters.quota_wait_s += waited
                with self._waits_lock:
                    self._waits.append((wait_started, time.monotonic()))
            counters.requests += 1
            counters.bytes_sent += len(body or b"")
            try:
                resp = self._http.request(method, path, content=body, headers=headers, params=params)
            except httpx.TimeoutException as exc:
                reason = f"timed out ({type(exc).__name__})"
            except httpx.LocalProtocolError as exc:
                # The request cannot be formed (a header it cannot carry): every retry would fail
                # the same way. Its message may quote a header, the key's included: not repeated.
                raise _Exhausted(f"the request could not be formed ({type(exc).__name__}); not retried") from None
            except httpx.TransportError as exc:
                reason = f"connection failed ({type(exc).__name__})"
            else:
                answered = True
                self._answers += 1
                # From the quota's decision to the answer: an upper bound of how late the request
                # may reach the server's clock, which sizes the limiter's window-edge guard.
                self.quota.answered()
                self._observe_quota(resp)
                if resp.status_code == 429:
                    counters.rate_limited += 1
                    rate_limited += 1
                    if rate_limited > self.config.max_rate_limited:
                        raise _Exhausted(f"rate limited {rate_limited} times in a row")
                    self.quota.block_for(self._retry_after(resp))
                    continue  # the limiter holds the next attempt until the window allows it
                if resp.status_code not in RETRYABLE_STATUS:
                    return resp
                counters.server_errors += 1
                reason = f"HTTP {resp.status_code}"
            failures += 1
            if failures >= self.config.max_attempts:
                raise _Exhausted(f"{reason}; gave up after {failures} attempts", unreachable=not answered,
                                 server_errors=reason.startswith("HTTP "))
            counters.retries += 1
            # Full jitter: anywhere between 0 and the capped exponential step.
            pause = self._rng.uniform(0, min(self.config.backoff_cap_s, self.config.backoff_base_s * 2 ** (failures - 1)))
            log.warning("%s %s: %s; retry %d of %d in %.2fs", method, path.split("/")[1], reason, failures,
                        self.config.max_attempts - 1, pause)
            counters.backoff_wait_s += pause
            self._sleep(pause)

    def _observe_quota(self, resp: httpx.Response) -> None:
        h = resp.headers
        try:
            reset = float(h.get(RESET_EXACT) or h["X-RateLimit-Reset"])
            self.quota.observe(int(h["X-RateLimit-Limit"]), int(h["X-RateLimit-Remaining"]), reset)
        except (KeyError, ValueError):
            pass

    @staticmethod
    def _retry_after(resp: httpx.Response) -> float:
        try:
            return max(0.0, float(resp.headers[RETRY_AFTER_EXACT]))
        except (KeyError, ValueError):
            pass
        value = resp.headers.get("Retry-After")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
                except (TypeError, ValueError):
                    pass
        try:
            return float(resp.json()["data"]["retryAfter"])
        except (ValueError, KeyError, TypeError):
            pass
        try:
            return max(0.0, float(resp.headers["X-RateLimit-Reset"]) - time.time())
        except (KeyError, ValueError):
            return 1.0

    def _raise_if_stop(self, resp: httpx.Response) -> None:
        message = api_message(resp)
        error: ReplenitStopError | None = None
        if resp.status_code == 401:
            error = UnauthorizedError(
                "Replenit refused the API key (401 Unauthorized): check REPLENIT_API_KEY; the key may be "
                "mistyped, revoked, or for another environment."
            )
        elif resp.status_code == 403:
            error = ForbiddenError(
                f"the API key has no access to tenant {self.config.tenant_id} (403 Forbidden): check that "
                "REPLENIT_TENANT_ID is the tenant this key was issued for."
            )
        elif resp.status_code == 404 and message == "Tenant not found.":
            error = TenantNotFoundError(
                f"Replenit has no tenant {self.config.tenant_id} (404 Tenant not found): check REPLENIT_TENANT_ID."
            )
        if error is not None:
            self._stop.set()
            raise error

    # --- upserts ---------------------------------------------------------------------------------
    def deliver(self, entity: str, records: Sequence[dict[str, Any]], progress: Callable[[BatchProgress], None] | None = None) -> DeliveryReport:
        """Upsert payload records; see deliver_serialized."""
        return self.deliver_serialized(entity, batching.serialize(records), progress)

    def deliver_serialized(self, entity: str, parts: Sequence[bytes], progress: Callable[[BatchProgress], None] | None = None) -> DeliveryReport:
        """Upsert records given as one JSON document each. Every record ends accepted, rejected
        (with the API's reasons) or failed (retries ran out); a 401/403/404-tenant raises a
        ReplenitStopError after one request, with the partial report attached as `.report`."""
        return self.deliver_planned(entity, parts, self.plan(entity, parts), progress)

    def plan(self, entity: str, parts: Sequence[bytes]) -> list[list[int]]:
        """The request bodies for these records (lists of indices), full by this client's batch
        size for the entity unless the body limit cuts them short."""
        return list(batching.plan_batches(parts, self.config.batch_sizes[entity], self.config.max_body_bytes))

    def deliver_planned(self, entity: str, parts: Sequence[bytes], batches: list[list[int]],
                        progress: Callable[[BatchProgress], None] | None = None,
                        on_accepted: Callable[[list[int]], None] | None = None) -> DeliveryReport:
        """Send planned batches (see plan and deliver_serialized). `on_accepted(indices)` runs on
        the worker thread right after each 200 (sub-batches of a split 400 included), before the
        next request of that worker: the sync acknowledges the batch in its ledger there. If it
        raises, the delivery stops as a ReplenitStopError, so no request is spent that cannot be
        remembered."""
        spec = entity_spec(entity)
        started = time.monotonic()
        self.reset()
        report = DeliveryReport(entity=entity, records=len(parts))
        max_records = self.config.batch_sizes[entity]
        report.counters.batches = len(batches)
        report.counters.full_batches = sum(len(b) == max_records for b in batches)
        lock = threading.Lock()
        path = f"/{spec.path}/{self.config.tenant_id}"
        done = {"batches": 0, "records": 0}
        live: dict[int, DeliveryCounters] = {}  # the counters of batches being sent, for live progress

        def run(batch: list[int]) -> None:
            counters = DeliveryCounters()
            with lock:
                live[id(counters)] = counters
            try:
                self.send_batch(path, parts, batch, report, lock, counters, on_accepted)
            finally:
                with lock:
                    del live[id(counters)]
                    report.counters.add(counters)
                    done["batches"] += 1
                    done["records"] += len(batch)

        def notify(final: bool = False, stopped: str | None = None) -> None:
            if progress is not None:
                with lock:
                    c = live_counters(report.counters, live.values())
                    event = BatchProgress(
                        entity, done["records"], len(parts), done["batches"], len(batches),
                        len(report.accepted), len(report.rejected), len(report.failed),
                        self.quota.eta_seconds(len(batches) - done["batches"]),
                        c.requests, c.rate_limited, c.retries, c.server_errors, final, stopped, len(report.not_sent),
                    )
                progress(event)

        try:
            if batches:
                run(batches[0])  # alone: a bad key or tenant costs one request, not one per worker
                notify(final=len(batches) == 1)
            with ThreadPoolExecutor(max_workers=self.config.max_in_flight, thread_name_prefix="replenit") as pool:
                pending = {pool.submit(run, b) for b in batches[1:]}
                if pending:
                    wait_reporting(pending, notify, self.config.progress_every_s)
                    notify(final=True)
        except ReplenitStopError as exc:
            self._stop.set()
            with lock:
                settled = set(report.accepted) | set(report.rejected) | set(report.failed)
                for i in range(len(parts)):
                    if i not in settled:
                        report.failed[i] = f"not sent: {exc}"
                        report.not_sent.add(i)
            self.finish_report(report, started)
            notify(final=True, stopped=str(exc))
            exc.report = report
            raise
        self.finish_report(report, started)
        return report

    def finish_report(self, report: DeliveryReport, started: float) -> None:
        report.counters.wall_s = time.monotonic() - started
        report.counters.quota_wait_s = union_length(self._waits)

    def send_batch(self, path: str, parts: Sequence[bytes], batch: list[int], report: DeliveryReport,
                    lock: threading.Lock, counters: DeliveryCounters,
                    on_accepted: Callable[[list[int]], None] | None = None) -> None:
        """Send one body; on 400 re-send it without the rejected records, or split it in halves."""
        try:
            resp = self._request("POST", path, counters, body=batching.join(parts, batch))
        except _Exhausted as exc:
            with lock:
                for i in batch:
                    report.failed[i] = str(exc)
                if exc.not_sent:
                    report.not_sent.update(batch)
                self._unreachable_streak = self._unreachable_streak + 1 if exc.unreachable else 0
                self._server_error_streak = self._server_error_streak + 1 if exc.server_errors else 0
                unreachable = exc.unreachable and (self._answers == 0
                                                   or self._unreachable_streak >= self.config.max_unreachable_batches)
                storm = exc.server_errors and self._server_error_streak >= self.config.max_unreachable_batches
            if unreachable:
                self._stop.set()
                raise UnreachableError(
                    f"cannot reach {self.config.base_url}: {exc}; check REPLENIT_BASE_URL and the network "
                    "(nothing more is sent in this run; the records not accepted are retried by the next one)"
                ) from None
            if storm:
                self._stop.set()
                raise UnreachableError(
                    f"cannot reach {self.config.base_url}: server errors on {self._server_error_streak} batches in a row "
                    f"(last: {exc}); check REPLENIT_BASE_URL and the network, or Replenit's status "
                    "(nothing more is sent in this run; the records not accepted are retried by the next one)"
                ) from None
            return
        with lock:
            self._unreachable_streak = 0
            self._server_error_streak = 0
        if resp.status_code == 200:
            with lock:
                report.accepted.extend(batch)
            if on_accepted is not None:
                try:
                    on_accepted(batch)
                except Exception as exc:  # e.g. the ledger's disk is full: sending more would spend unremembered requests
                    self._stop.set()
                    raise AcknowledgementError(
                        f"the API accepted {len(batch)} records but their acknowledgement could not be recorded "
                        f"({type(exc).__name__}: {exc}); delivery stopped: the next run re-sends at most this batch"
                    ) from exc
            return
        self._raise_if_stop(resp)
        if resp.status_code not in (400, 413):
            # Not about the records (a wrong path or media type): halving would only multiply it.
            reason = f"HTTP {resp.status_code}: {api_message(resp) or resp.text[:200]}"
            with lock:
                for i in batch:
                    report.rejected[i] = [reason]
            return
        counters.rejected_requests += 1
        errors = problem_errors(resp)
        by_record: dict[int, list[str]] = {}
        unmapped = resp.status_code == 413 or not errors
        for key, messages in errors.items():
            m = _INDEX_KEY.match(key)
            if m and int(m.group(1)) < len(batch):
                field = key[m.end():].lstrip(".")
                by_record.setdefault(batch[int(m.group(1))], []).extend(
                    f"{field}: {msg}" if field else msg for msg in messages
                )
            else:
                unmapped = True
        if not unmapped:
            with lock:
                report.rejected.update(by_record)
            rest = [i for i in batch if i not in by_record]
            if rest:
                self.send_batch(path, parts, rest, report, lock, counters, on_accepted)
            return
        if len(batch) == 1:
            reasons = [f"{k or '(record)'}: {'; '.join(v)}" for k, v in errors.items()] or [f"HTTP {resp.status_code}: {api_message(resp) or resp.text[:200]}"]
            with lock:
                report.rejected[batch[0]] = reasons
            return
        mid = len(batch) // 2  # the errors do not name records: halve until they do
        self.send_batch(path, parts, batch[:mid], report, lock, counters, on_accepted)
        self.send_batch(path, parts, batch[mid:], report, lock, counters, on_accepted)

    # --- used by lib/delivery/stream.py, which shares this client's stop flag and quota waits ----------
    def reset(self) -> None:
        """A new delivery begins: no stop, no quota waits, no answers seen yet."""
        self._stop.clear()
        self._waits.clear()
        self._answers, self._unreachable_streak, self._server_error_streak = 0, 0, 0

    def halt(self) -> None:
        """Nothing queued is sent any more; requests in flight end."""
        self._stop.set()

    # --- upserts from a stream (lib/delivery/stream.py) -----------------------------------------------
    def deliver_stream(
        self,
        entity: str,
        parts: Iterable[tuple[int, bytes]],
        progress: Callable[[BatchProgress], None] | None = None,
        on_batch: Callable[[dict[int, bytes], DeliveryReport], None] | None = None,
        records_total: int | None = None,
    ) -> StreamReport:
        """Upsert records read from an iterator of (index, serialized record); see stream.deliver_stream."""
        return deliver_stream(self, entity, parts, progress, on_batch, records_total)

    # --- deletes ----------------------------------------------------------------------------------
    def _delete(self, path: str, params: dict[str, str] | None = None) -> DeleteOutcome:
        counters = DeliveryCounters()  # one request's bookkeeping; a delete reports only its outcome
        self._stop.clear()
        try:
            resp = self._request("DELETE", path, counters, params=params)
        except _Exhausted as exc:
            return DeleteOutcome("failed", str(exc))
        self._raise_if_stop(resp)
        if resp.status_code == 200:
            return DeleteOutcome("deleted")
        if resp.status_code == 404:
            return DeleteOutcome("already_gone", api_message(resp))
        return DeleteOutcome("failed", f"HTTP {resp.status_code}: {api_message(resp) or resp.text[:200]}")

    def _path(self, *segments: str) -> str:
        return "/" + "/".join(quote(str(s), safe="") for s in segments)

    def delete_customer(self, customer_id: str) -> DeleteOutcome:
        return self._delete(self._path("customers", self.config.tenant_id, customer_id))

    def delete_order(self, order_id: str) -> DeleteOutcome:
        return self._delete(self._path("orders", self.config.tenant_id, order_id))

    def delete_order_item(self, order_id: str, product_id: str) -> DeleteOutcome:
        return self._delete(self._path("orders", self.config.tenant_id, order_id, "items"), {"productId": product_id})

    def delete_product(self, product_id: str) -> DeleteOutcome:
        return self._delete(self._path("products", self.config.tenant_id, product_id))

    def delete_variant(self, product_id: str, variant_id: str) -> DeleteOutcome:
        return self._delete(self._path("products", self.config.tenant_id, product_id, "variants", variant_id))

    def delete_records(self, entity: str, api_ids: Sequence[str], progress: Callable[[BatchProgress], None] | None = None,
                       on_done: Callable[[int], None] | None = None) -> "DeleteReport":
        """Delete whole records (customers by CustomerId, orders by OrderId, products by ProductId),
        one DELETE each, paced by the key's quota and retried like upserts (429, 5xx, timeouts).
        A 404 of the record (not of the tenant) is what was wanted: done. `on_done(index)` runs on
        the worker right after a delete is done (the sync forgets the identity in its ledger); if it
        raises, nothing more is sent. A 401/403/404-tenant raises a ReplenitStopError after one
        request, with the partial report as `.report`."""
        path = f"/{entity_spec(entity).path}/{quote(self.config.tenant_id, safe='')}/"
        self.reset()
        started = time.monotonic()
        report = DeleteReport(entity, len(api_ids))
        lock = threading.Lock()

        def run(i: int) -> None:
            counters = DeliveryCounters()
            try:
                try:
                    resp = self._request("DELETE", path + quote(str(api_ids[i]), safe=""), counters)
                except _Exhausted as exc:
                    with lock:
                        report.failed[i] = str(exc)
                    return
                self._raise_if_stop(resp)
                if resp.status_code in (200, 404):
                    with lock:
                        (report.deleted if resp.status_code == 200 else report.already_gone).append(i)
                    if on_done is not None:
                        try:
                            on_done(i)
                        except Exception as exc:
                            self._stop.set()
                            raise AcknowledgementError(
                                f"a delete was done but could not be recorded ({type(exc).__name__}: {exc}); "
                                "deletes stopped: the next run deletes it again (a 404, done)") from exc
                else:
                    with lock:
                        report.failed[i] = f"HTTP {resp.status_code}: {api_message(resp) or resp.text[:200]}"
            finally:
                with lock:
                    report.counters.add(counters)

        def notify() -> None:
            if progress is not None:
                with lock:
                    done = len(report.deleted) + len(report.already_gone) + len(report.failed)
                    event = BatchProgress(entity, done, len(api_ids), done, len(api_ids),
                                          len(report.deleted) + len(report.already_gone), 0, len(report.failed),
                                          self.quota.eta_seconds(len(api_ids) - done))
                progress(event)

        try:
            if api_ids:
                run(0)  # alone: a bad key or tenant costs one request
                notify()
            with ThreadPoolExecutor(max_workers=self.config.max_in_flight, thread_name_prefix="replenit-delete") as pool:
                pending = {pool.submit(run, i) for i in range(1, len(api_ids))}
                if pending:
                    wait_reporting(pending, notify, self.config.progress_every_s)
                    notify()
        except ReplenitStopError as exc:
            self._stop.set()
            with lock:
                settled = set(report.deleted) | set(report.already_gone) | set(report.failed)
                for i in range(len(api_ids)):
                    if i not in settled:
                        report.failed[i] = f"not sent: {exc}"
            report.counters.wall_s = time.monotonic() - started
            exc.report = report  # type: ignore[assignment]
            raise
        report.counters.wall_s = time.monotonic() - started
        report.counters.quota_wait_s = union_length(self._waits)
        return report


@dataclass
class DeleteReport:
    """What happened to each delete of `delete_records` (indices into its api_ids)."""

    entity: str
    records: int
    deleted: list[int] = field(default_factory=list)  # 200
    already_gone: list[int] = field(default_factory=list)  # 404 of the record: done
    failed: dict[int, str] = field(default_factory=dict)  # retries ran out, or an unexpected answer
    counters: DeliveryCounters = field(default_factory=DeliveryCounters)


def client_from_env(limits: Iterable[tuple[int, float]] | None = None, settings: "Settings | None" = None,
                    **overrides: Any) -> ReplenitClient:
    """A client from the settings (REPLENIT_BASE_URL, REPLENIT_TENANT_ID; the quota folder in
    REPLENIT_STATE_DIR) and REPLENIT_API_KEY, which is read here and kept nowhere else."""
    import os

    from replenit_pipelines.lib.settings import Settings

    settings = settings or Settings.from_env()
    missing = [name for name, ok in (("REPLENIT_BASE_URL", settings.base_url_set), ("REPLENIT_TENANT_ID", settings.tenant_id),
                                     ("REPLENIT_API_KEY", os.environ.get("REPLENIT_API_KEY"))) if not ok]
    if missing:
        raise DeliveryConfigError(f"set {', '.join(missing)} (the Replenit API address, your tenant id and API key)")
    kwargs: dict[str, Any] = {"quota_dir": str(settings.quota_dir), **overrides}
    if limits is not None:
        kwargs["limits"] = tuple(limits)
    return ReplenitClient(ClientConfig(
        base_url=settings.base_url, tenant_id=settings.tenant_id or "", api_key=ApiKey(os.environ["REPLENIT_API_KEY"]), **kwargs,
    ))
