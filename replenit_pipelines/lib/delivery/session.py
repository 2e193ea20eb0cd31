"""One key's session with the API: each request paced by the key's quota (lib/delivery/quota.py),
retried on 5xx, timeouts and dropped connections with full jitter, 429s waited out; the stop
flag that ends a delivery for every worker at once; the signs that the API cannot be reached."""

import gzip
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from replenit_pipelines.lib.contract.api import AUTH_HEADER, MAX_BODY_BYTES
from replenit_pipelines.lib.delivery.config import ClientConfig
from replenit_pipelines.lib.delivery.errors import (
    ForbiddenError,
    ReplenitStopError,
    TenantNotFoundError,
    UnauthorizedError,
)
from replenit_pipelines.lib.delivery.quota import QuotaLimiter, default_quota_dir, ledger_name
from replenit_pipelines.lib.delivery.report import DeliveryCounters, DeliveryReport, union_length, wait_reporting
from replenit_pipelines.lib.delivery.responses import api_message

log = logging.getLogger("replenit_pipelines.delivery")

RETRYABLE_STATUS = {500, 502, 503, 504}
# The sandbox's exact figures beside the whole-second headers, on time-scaled windows only; the
# real API sends whole seconds, which the client handles alone.
RETRY_AFTER_EXACT = "X-Sandbox-Retry-After-Exact"
RESET_EXACT = "X-Sandbox-RateLimit-Reset-Exact"


class Exhausted(Exception):
    """Retries ran out for one request. `unreachable`: no attempt got any HTTP answer;
    `server_errors`: the attempts ended on 5xx answers (a storm when batches in a row do)."""

    def __init__(self, reason: str, unreachable: bool = False, server_errors: bool = False, not_sent: bool = False):
        super().__init__(reason)
        self.unreachable = unreachable
        self.server_errors = server_errors
        self.not_sent = not_sent  # no attempt was made: the delivery had stopped


class NothingToSend(Exception):
    """A request's body function found nothing left to send (every record is stored already)."""


def path_segment(value: object) -> str:
    """One path segment, quoted whole. An id of `.` or `..` is a dot segment to a URL, which the
    HTTP client removes (RFC 3986): a customer `..` was deleted at `/customers`, a 404 that read as
    already gone while Replenit kept it. Percent-encoded dots are the id itself."""
    quoted = quote(str(value), safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


class Session:
    """The HTTP connection pool, the quota limiter and the per-delivery state (stop flag, answers
    seen, unreachable and 5xx streaks, quota waits) shared by the workers of one delivery."""

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
        self.http = httpx.Client(
            base_url=config.base_url,
            timeout=httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
            limits=httpx.Limits(max_connections=config.max_in_flight, max_keepalive_connections=config.max_in_flight),
            transport=transport,
        )
        self.stop = threading.Event()
        # Fail fast on an API that cannot be reached: HTTP answers seen, and batches in a row whose
        # every attempt failed to connect or timed out (reset by any answer).
        self.answers = 0
        self.unreachable_streak = 0
        self.server_error_streak = 0
        # Quota waits of all workers as intervals: with several in flight they overlap, and the
        # run's "seconds waited for quota" is their union, not their sum.
        self.waits: list[tuple[float, float]] = []
        self.waits_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def reset(self) -> None:
        """A new delivery begins: no stop, no quota waits, no answers seen yet."""
        self.stop.clear()
        self.waits.clear()
        self.answers, self.unreachable_streak, self.server_error_streak = 0, 0, 0

    def halt(self) -> None:
        """Nothing queued is sent any more; requests in flight end."""
        self.stop.set()

    def run_workers(self, count: int, run: Callable[[int], None], notify: Callable[[bool], None], thread_name_prefix: str) -> None:
        """Work items 0..count-1 (batches, deletes): the first alone, so that a bad key or tenant
        costs one request and not one per worker, the rest on `max_in_flight` workers, with
        `notify(final)` at least every `progress_every_s` meanwhile. A ReplenitStopError halts
        every worker (what is queued is not sent) and is raised for the caller to settle."""
        try:
            if count:
                run(0)
                notify(count == 1)
            with ThreadPoolExecutor(max_workers=self.config.max_in_flight, thread_name_prefix=thread_name_prefix) as pool:
                pending = {pool.submit(run, i) for i in range(1, count)}
                try:
                    if pending:
                        wait_reporting(pending, lambda: notify(False), self.config.progress_every_s)
                        notify(True)
                except KeyboardInterrupt:  # Ctrl-C: set before the pool's shutdown waits, so it waits for the requests in flight only
                    self.stop.set()
                    raise
        except ReplenitStopError:
            self.stop.set()
            raise

    def path(self, *segments: str) -> str:
        """`/segment/segment...`, each segment quoted (an id may hold '/' or '?')."""
        return "/" + "/".join(path_segment(s) for s in segments)

    def finish_report(self, report: DeliveryReport, started: float) -> None:
        report.counters.wall_s = time.monotonic() - started
        report.counters.quota_wait_s = union_length(self.waits)

    def _encoded(self, body: bytes | None) -> tuple[bytes | None, dict[str, str]]:
        headers = {AUTH_HEADER: self.config.api_key.reveal()}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if self.config.gzip:
                body = gzip.compress(body, compresslevel=5)
                headers["Content-Encoding"] = "gzip"
        return body, headers

    def too_large(self, record: bytes) -> str | None:
        """Why a body of this one record can never be accepted (over the contract's 5,000,000 bytes
        as sent, gzipped when this client gzips), or None when it fits."""
        size = len(record) + 2  # the array's brackets
        if size <= MAX_BODY_BYTES:
            return None
        if self.config.gzip:
            size = len(self._encoded(b"[" + record + b"]")[0] or b"")
            if size <= MAX_BODY_BYTES:
                return None
        return (f"$: not sent: the record is {size:,} bytes as JSON{' (gzipped)' if self.config.gzip else ''}, over the "
                f"API's body limit of {MAX_BODY_BYTES:,} bytes (it would be answered 413 Payload Too Large); shorten it")

    def request(self, method: str, path: str, counters: DeliveryCounters,
                body: bytes | Callable[[], bytes | None] | None = None,
                params: dict[str, str] | None = None) -> httpx.Response:
        """One request, paced, retried. `body` may be a function called after each quota wait,
        right before each attempt (the send-time check: lib/delivery/upserts.py): it returns the
        body to send then, or None when nothing is left to send (NothingToSend is raised, and the quota
        slot just taken is given back: QuotaLimiter.release)."""
        fresh_body = body if callable(body) else None
        content, headers = self._encoded(None if callable(body) else body)
        failures = 0
        unavailable_s: float | None = None  # a 5xx's Retry-After
        rate_limited = 0
        answered = False  # any HTTP answer at all: the API is reachable
        while True:
            if self.stop.is_set():
                raise Exhausted("not sent: the delivery was stopped by an earlier error", not_sent=True)
            wait_started = time.monotonic()
            waited = self.quota.acquire(self.config.lane, self.config.tenant_id)
            if waited:
                counters.quota_wait_s += waited
                with self.waits_lock:
                    self.waits.append((wait_started, time.monotonic()))
            if fresh_body is not None:
                raw = fresh_body()
                if raw is None:
                    self.quota.release()  # not sent: the slot goes back to the key's windows
                    raise NothingToSend()
                content, headers = self._encoded(raw)
            counters.requests += 1
            counters.bytes_sent += len(content or b"")
            try:
                resp = self.http.request(method, path, content=content, headers=headers, params=params)
            except httpx.TimeoutException as exc:
                unavailable_s = None
                reason = f"timed out ({type(exc).__name__})"
            except httpx.LocalProtocolError as exc:
                # The request cannot be formed (a header it cannot carry): every retry would fail
                # the same way. Its message may quote a header, the key's included: not repeated.
                raise Exhausted(f"the request could not be formed ({type(exc).__name__}); not retried") from None
            except httpx.TransportError as exc:
                unavailable_s = None
                reason = f"connection failed ({type(exc).__name__})"
            else:
                answered = True
                self.answers += 1
                # From the quota's decision to the answer: an upper bound of how late the request
                # may reach the server's clock, which sizes the limiter's window-edge guard.
                self.quota.answered()
                self.observe_quota(resp)
                if resp.status_code == 429:
                    counters.rate_limited += 1
                    rate_limited += 1
                    if rate_limited > self.config.max_rate_limited:
                        raise Exhausted(f"rate limited {rate_limited} times in a row")
                    header = self.retry_after_header(resp)
                    if header is None:  # no figure of the server's own (v1 body, reset): nothing to learn from
                        self.quota.block_for(self.retry_after(resp))
                    else:
                        self.quota.rate_limited(header, whole_seconds=RETRY_AFTER_EXACT not in resp.headers)
                    continue  # the limiter holds the next attempt until the window allows it
                if resp.status_code not in RETRYABLE_STATUS:
                    return resp
                counters.server_errors += 1
                reason = f"HTTP {resp.status_code}"
                unavailable_s = self.unavailable_for(resp)
            failures += 1
            if failures >= self.config.max_attempts:
                raise Exhausted(f"{reason}; gave up after {failures} attempts", unreachable=not answered,
                                 server_errors=reason.startswith("HTTP "))
            counters.retries += 1
            pause = self.backoff(failures, unavailable_s)
            log.warning("%s %s: %s; retry %d of %d in %.2fs", method, path.split("/")[1], reason, failures,
                        self.config.max_attempts - 1, pause)
            counters.backoff_wait_s += pause
            self._sleep(pause)

    def unavailable_for(self, resp: httpx.Response) -> float | None:
        """A retryable 5xx's Retry-After: "retry ... honouring Retry-After when present" (the contract).
        The server said when it can answer again: this request and, through the limiter, every
        other of the key wait until then (each would meet another 5xx). None when it did not say."""
        seconds = self.retry_after_header(resp)
        if seconds is not None:
            self.quota.block_for(seconds)
        return seconds

    def backoff(self, failures: int, unavailable_s: float | None) -> float:
        """Full jitter: anywhere between 0 and the capped exponential step; never before a 5xx's Retry-After."""
        pause = self._rng.uniform(0, min(self.config.backoff_cap_s, self.config.backoff_base_s * 2 ** (failures - 1)))
        return pause if unavailable_s is None else max(pause, unavailable_s)

    def observe_quota(self, resp: httpx.Response) -> None:
        h = resp.headers
        try:
            reset = float(h.get(RESET_EXACT) or h["X-RateLimit-Reset"])
            self.quota.observe(int(h["X-RateLimit-Limit"]), int(h["X-RateLimit-Remaining"]), reset)
        except (KeyError, ValueError):
            pass

    @staticmethod
    def retry_after_header(resp: httpx.Response) -> float | None:
        """Seconds to wait by the answer's Retry-After (whole or fractional seconds, or an HTTP date;
        the sandbox's exact figure first); None when it has none that can be read."""
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
                    return max(0.0, parsedate_to_datetime(value).timestamp() - Session.server_now(resp))
                except (TypeError, ValueError):
                    pass
        return None

    @staticmethod
    def server_now(resp: httpx.Response) -> float:
        """The server's clock at its answer, by its Date header (whole seconds, rounded down: a
        wait read from it is at most a second long), else ours. An HTTP-date Retry-After and
        X-RateLimit-Reset are on the server's clock: read against ours, a server behind says
        "retry at" a moment already past, and the client asked again at once until its edge."""
        try:
            return parsedate_to_datetime(resp.headers["Date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return time.time()

    @classmethod
    def retry_after(cls, resp: httpx.Response) -> float:
        """A 429's wait: Retry-After, else the v1 body's data.retryAfter, else the window's reset, else 1 s."""
        header = cls.retry_after_header(resp)
        if header is not None:
            return header
        try:
            return float(resp.json()["data"]["retryAfter"])
        except (ValueError, KeyError, TypeError):
            pass
        try:
            return max(0.0, float(resp.headers["X-RateLimit-Reset"]) - cls.server_now(resp))
        except (KeyError, ValueError):
            return 1.0

    def raise_if_stop(self, resp: httpx.Response) -> None:
        message = api_message(resp)
        error: ReplenitStopError | None = None
        if resp.status_code == 401:
            error = UnauthorizedError(
                f"Replenit refused the API key (401 Unauthorized): check {self.config.api_key_env}; the key may be "
                "mistyped, revoked, or for another environment."
            )
        elif resp.status_code == 403:
            error = ForbiddenError(
                f"the API key has no access to tenant {self.config.tenant_id} (403 Forbidden): check that "
                f"{self.config.tenant_id_env} is the tenant this key was issued for."
            )
        elif resp.status_code == 404 and message == "Tenant not found.":
            error = TenantNotFoundError(
                f"Replenit has no tenant {self.config.tenant_id} (404 Tenant not found): check {self.config.tenant_id_env}."
            )
        if error is not None:
            self.stop.set()
            raise error

