"""Each HTTP exchange of a client, as it went over the wire: for a sample sync, which prints every
request and its answer (issue 27). Captured by httpx event hooks on the session's own connection
pool, so what is recorded is what was sent (after gzip, retries and 400 splits included), not
what the code meant to send. Headers are never recorded: the API key travels in one."""

import gzip
import threading
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Exchange:
    seq: int  # the order requests were sent in
    method: str
    path: str  # with its query string; the tenant id is part of it
    request_body: bytes  # as JSON (a gzipped body is recorded decompressed)
    status: int
    response_body: bytes
    elapsed_s: float


class ExchangeLog:
    """Records every exchange of `http` until `close()`; thread-safe (the client's workers send)."""

    def __init__(self, http: httpx.Client):
        self.http = http
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._sent: dict[int, tuple[int, float]] = {}
        self._seq = 0
        http.event_hooks["request"].append(self._on_request)
        http.event_hooks["response"].append(self._on_response)

    def _on_request(self, request: httpx.Request) -> None:
        with self._lock:
            self._seq += 1
            self._sent[id(request)] = (self._seq, time.monotonic())

    def _on_response(self, response: httpx.Response) -> None:
        response.read()  # a hook runs before the body is read: read it here (the caller then has it too)
        request = response.request
        body = request.content
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self._lock:
            seq, started = self._sent.pop(id(request), (0, time.monotonic()))
            self.exchanges.append(Exchange(seq, request.method, request.url.raw_path.decode("ascii", "replace"), body,
                                           response.status_code, response.content, time.monotonic() - started))

    def close(self) -> None:
        """Stop recording (the hooks leave the client)."""
        for name, hook in (("request", self._on_request), ("response", self._on_response)):
            hooks = self.http.event_hooks[name]
            if hook in hooks:
                hooks.remove(hook)

    def ordered(self) -> list[Exchange]:
        with self._lock:
            return sorted(self.exchanges, key=lambda e: e.seq)
