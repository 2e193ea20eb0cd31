"""A local Replenit Ingestion API over real HTTP, following shared/replenit-api.md.

Standard-library HTTP server (one thread per connection, HTTP/1.1 keep-alive): full control
over the faults the client must survive (hangs, dropped connections), and no event loop to
share with the code under test.
"""

import gzip
import json
import logging
import socket
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from replenit_pipelines.lib.contract.api import AUTH_HEADER, MAX_BODY_BYTES
from replenit_pipelines.lib.contract.entities import ENTITIES
from replenit_pipelines.lib.contract.records import validate_record
from replenit_pipelines.lib.sandbox.faults import FaultConfig, arrival_delay_of, fate_of
from replenit_pipelines.lib.sandbox.ratelimit import Window, quota_headers, retry_after_headers
from replenit_pipelines.lib.sandbox.state import DEFAULT_LIMITS, SandboxState, Tenant, envelope, new_key, problem
from replenit_pipelines.lib.sandbox.store import Store, record_key, utc_now_iso

__all__ = ["DEFAULT_LIMITS", "Sandbox", "SandboxState", "envelope", "new_key", "problem"]

log = logging.getLogger(__name__)

MAX_INFLATED_BYTES = 50_000_000  # a gzip body may not unpack past this


class _Drop(Exception):
    """Close the connection without an answer."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls
    server_version = "ReplenitSandbox/1"
    server: "SandboxHTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the request log is kept in the store, without headers

    # --- plumbing -------------------------------------------------------------------------
    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: the server's own clock (FaultConfig.clock_offset_s), as its windows,
        X-RateLimit-Reset and an HTTP-date Retry-After are."""
        if timestamp is None:
            timestamp = time.time() + self.server.state.faults.clock_offset_s
        return super().date_time_string(timestamp)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        content_type = "application/problem+json" if isinstance(body, dict) and "errors" in body else "application/json"
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)
        self._status = status

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        started = time.time()
        self._status = 0
        self._records = 0
        self._bytes = int(self.headers.get("Content-Length") or 0)
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        try:
            if parts and parts[0] == "_sandbox":
                self._admin(method, parts[1:], parse_qs(url.query))
                return
            self._api(method, parts, parse_qs(url.query))
        except _Drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._status = -1
        finally:
            if not (parts and parts[0] == "_sandbox"):
                self.server.state.store.log_request(
                    {
                        "method": method,
                        "path": url.path,
                        "status": self._status,
                        "records": self._records,
                        "bytes": self._bytes,
                        "time": utc_now_iso(),
                        "duration_ms": round((time.time() - started) * 1000, 3),
                    }
                )

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- the API ----------------------------------------------------------------------------
    def _api(self, method: str, parts: list[str], query: dict[str, list[str]]) -> None:
        state = self.server.state
        key = self.headers.get(AUTH_HEADER)
        tenants = state.keys.get(key) if key else None
        if tenants is None:
            self._discard_body()
            self._send(401, envelope(False, "Unauthorized."))
            return
        delay = arrival_delay_of(state.faults, state.next_arrival())
        if delay:
            time.sleep(delay)
        assert key is not None  # tenants was found by it
        server_now = time.time() + state.faults.clock_offset_s
        decision = state.quota(key).hit(server_now)  # every request of a known key counts
        headers = quota_headers(decision, state.time_scaled) if decision is not None else {}
        if len(parts) < 2 or parts[0] not in ENTITIES:
            self._discard_body()
            self._send(404, envelope(False, "Not found."), headers)
            return
        entity, raw_tenant = parts[0], parts[1]
        try:
            tenant_id = str(uuid.UUID(raw_tenant))
        except ValueError:
            tenant_id = None
        tenant = state.tenants.get(tenant_id) if tenant_id else None
        if tenant is None:
            self._discard_body()
            self._send(404, envelope(False, "Tenant not found."), headers)
            return
        if tenant.tenant_id not in tenants:
            self._discard_body()
            self._send(403, envelope(False, "Forbidden."), headers)
            return
        if decision is not None and not decision.allowed:
            self._discard_body()
            self._send(429, envelope(False, "Rate limit exceeded."),
                       {**headers, **retry_after_headers(decision.retry_after, state.time_scaled,
                                                         server_now if state.faults.retry_after_date else None)})
            return
        fate = fate_of(state.faults, state.next_sequence())
        if fate.latency_s:
            time.sleep(fate.latency_s)
        if fate.fault is not None:
            self._discard_body()
            self._fault(fate.fault, headers)
            return
        if method == "POST" and len(parts) == 2:
            self._upsert(tenant, entity, headers)
        elif method == "DELETE" and len(parts) >= 3:
            self._discard_body()
            self._delete(tenant, entity, parts[2:], query, headers)
        else:
            self._discard_body()
            self._send(405 if len(parts) == 2 else 404, envelope(False, "Not found."), headers)

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # not worth reading; the client gets its answer
        elif length:
            self.rfile.read(length)

    def _fault(self, fault: str, headers: dict[str, str]) -> None:
        state = self.server.state
        if fault == "500":
            self._send(500, envelope(False, "Internal server error."), headers)
        elif fault == "503":
            self._send(503, envelope(False, "Service unavailable."), headers)
        elif fault == "429":
            self._send(429, envelope(False, "Rate limit exceeded.", {"retryAfter": 1}), {**headers, "Retry-After": "1"})
        elif fault == "hang":
            time.sleep(state.faults.hang_seconds)
            raise _Drop
        else:
            raise _Drop

    def _upsert(self, tenant: Tenant, entity: str, headers: dict[str, str]) -> None:
        spec = ENTITIES[entity]
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self._discard_body()
            self._send(415, problem({"$": ["Content-Type must be application/json."]}, 415, "Unsupported Media Type"), headers)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(413, problem({"$": [f"The request body is larger than {MAX_BODY_BYTES} bytes."]}, 413, "Payload Too Large"), headers)
            return
        body = self._read_body()
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            try:
                body = gzip_inflate(body)
            except ValueError as exc:
                self._send(400, problem({"$": [str(exc)]}), headers)
                return
        try:
            records = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self._send(400, problem({"$": [f"The request body is not valid JSON: {exc}."]}), headers)
            return
        if not isinstance(records, list):
            self._send(400, problem({"$": ["The request body must be a JSON array."]}), headers)
            return
        if not records:
            self._send(400, problem({"$": ["The request body must not be an empty array."]}), headers)
            return
        self._records = len(records)
        if len(records) > spec.hard_max:
            self._send(400, problem({"$": [f"A request may hold at most {spec.hard_max} {entity}; this one holds {len(records)}."]}), headers)
            return
        errors: dict[str, list[str]] = {}
        for i, rec in enumerate(records):
            for err in validate_record(spec, rec, i):
                path = "" if err.path == f"[{i}]" and self.server.state.faults.unindexed_object_errors else err.path
                errors.setdefault(path, []).append(err.message)
        if errors:
            self._send(400, problem(errors), headers)
            return
        priority = tenant.customer_priority
        count = self.server.state.store.upsert(
            tenant.tenant_id, entity, ((record_key(entity, r, priority), r) for r in records)
        )
        self._send(200, envelope(True, spec.saved_message, {"count": count, "processedAt": utc_now_iso()}), headers)

    def _delete(self, tenant: Tenant, entity: str, rest: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
        store = self.server.state.store
        tid = tenant.tenant_id
        ident = rest[0]
        done = envelope(True, "", {"count": 1, "processedAt": utc_now_iso()})
        if entity == "customers" and len(rest) == 1:
            keys = store.find(tid, entity, "CustomerId", ident)
            if not keys:
                self._send(404, envelope(False, "Customer not found."), headers)
                return
            for k in keys:
                store.delete(tid, entity, k)
            self._send(200, {**done, "message": "Customer deleted."}, headers)
        elif entity in ("orders", "products") and len(rest) == 1:
            singular = ENTITIES[entity].singular  # "Order", "Product"
            if store.get(tid, entity, ident) is None:
                self._send(404, envelope(False, f"{singular} not found."), headers)
                return
            store.delete(tid, entity, ident)
            self._send(200, {**done, "message": f"{singular} deleted."}, headers)
        elif entity == "orders" and len(rest) == 2 and rest[1] == "items":
            product_id = (query.get("productId") or [""])[0]
            if not product_id:
                self._send(400, problem({"productId": ["The productId query parameter is required."]}), headers)
                return
            order = store.get(tid, entity, ident)
            items = (order or {}).get("OrderItems") or []
            kept = [it for it in items if it.get("ProductId") != product_id]
            if order is None or len(kept) == len(items):
                self._send(404, envelope(False, "Order item not found."), headers)
                return
            store.replace(tid, entity, ident, {**order, "OrderItems": kept})
            self._send(200, {**done, "message": "Order item deleted."}, headers)
        elif entity == "products" and len(rest) == 3 and rest[1] == "variants":
            variant_id = rest[2]
            match_field = "Sku" if tenant.product_priority == "sku" else "VariantId"
            product = store.get(tid, entity, ident)
            variants = (product or {}).get("ProductVariants") or []
            kept = [v for v in variants if v.get(match_field) != variant_id]
            if product is None or len(kept) == len(variants):
                self._send(404, envelope(False, "Product variant not found."), headers)
                return
            store.replace(tid, entity, ident, {**product, "ProductVariants": kept})
            self._send(200, {**done, "message": "Product variant deleted."}, headers)
        else:
            self._send(404, envelope(False, "Not found."), headers)

    # --- inspection and control, never the API's own paths -----------------------------------
    def _admin(self, method: str, parts: list[str], query: dict[str, list[str]]) -> None:
        state = self.server.state
        body = self._read_body()
        if method == "GET" and parts == ["stats"]:
            self._send(200, {**state.store.stats(), "limits": state.limits, "faults": state.faults.as_dict()})
        elif method == "GET" and len(parts) == 3 and parts[0] == "records":
            self._send(200, state.store.snapshot(str(parts[1]).lower(), parts[2]))
        elif method == "GET" and parts == ["requests"]:
            since = int((query.get("since") or ["0"])[0])
            self._send(200, [r for r in list(state.store.requests) if r["seq"] > since])
        elif method == "POST" and parts == ["reset"]:
            state.reset()
            self._send(200, envelope(True, "Sandbox reset."))
        elif method == "POST" and parts == ["tenants"]:
            try:
                spec = json.loads(body or b"{}")
                state.add_tenant(
                    spec["tenant_id"], spec["key"],
                    spec.get("customer_priority", "email"), spec.get("product_priority", "productid"),
                )
            except (KeyError, ValueError) as exc:
                self._send(400, envelope(False, f"Bad tenant: {exc}"))
                return
            self._send(200, envelope(True, "Tenant added."))
        elif method == "POST" and parts == ["config"]:
            try:
                spec = json.loads(body or b"{}")
                if "limits" in spec:
                    state.set_limits([(int(n), float(s)) for n, s in spec["limits"]])
                state.faults.update(spec.get("faults", {}))
            except (TypeError, ValueError) as exc:
                self._send(400, envelope(False, f"Bad config: {exc}"))
                return
            self._send(200, envelope(True, "Config updated."))
        else:
            self._send(404, envelope(False, "Not found."))


def gzip_inflate(body: bytes) -> bytes:
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(body, MAX_INFLATED_BYTES)
        if d.unconsumed_tail:
            raise ValueError(f"The gzip body unpacks to more than {MAX_INFLATED_BYTES} bytes.")
        return out
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"The body is not valid gzip: {exc}.") from None


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a hanging fault must not hold up shutdown
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SandboxState):
        super().__init__(address, Handler)
        self.state = state


class Sandbox:
    """A running sandbox in a background thread: `with Sandbox(...) as sb: sb.url`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: list[Window] | None = None,
        faults: FaultConfig | None = None,
        store_path: str | Path | None = None,
    ):
        self.state = SandboxState(
            limits=list(DEFAULT_LIMITS if limits is None else limits),
            faults=faults or FaultConfig(),
            store=Store(store_path),
        )
        self.httpd = SandboxHTTPServer((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = host if isinstance(host, str) else host.decode()
        return f"http://{host}:{port}"

    def add_tenant(self, tenant_id: str | None = None, key: str | None = None, **priorities: str) -> tuple[str, str]:
        tenant_id = tenant_id or str(uuid.uuid4())
        key = key or new_key()
        self.state.add_tenant(tenant_id, key, **priorities)
        return tenant_id, key

    def start(self) -> "Sandbox":
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.state.store.close()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
