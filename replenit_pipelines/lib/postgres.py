"""The Postgres backend's shared parts: the state URL (a secret: its password never shows), one
connection per store, and the schema created once under an advisory lock.

`REPLENIT_STATE_URL=postgresql://user:password@host:5432/db` moves the state store
(lib/state/store.py), the ledger (lib/ledger/postgres.py) and the quota ledger
(lib/delivery/quota.py) into that database; unset, they stay local files. psycopg 3 is the driver.
"""

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar, Union
from urllib.parse import urlsplit, urlunsplit

from replenit_pipelines.lib.privacy import Secret

T = TypeVar("T")
STATE_URL_ENV = "REPLENIT_STATE_URL"


class FromEnv(Enum):
    """A factory's default state URL: REPLENIT_STATE_URL, read when it is called."""

    FROM_ENV = "from_env"


FROM_ENV = FromEnv.FROM_ENV
StateUrlArg = Union["StateUrl", str, None, FromEnv]  # what a factory's `state_url` takes
_SCHEMES = ("postgresql", "postgres")


class StateUrlError(ValueError):
    pass


class StateUrl(Secret):
    """A postgresql:// URL whose password never shows itself: not in repr, str, logs or errors."""

    __slots__ = ()

    def __init__(self, value: str):
        text = (value or "").strip()
        parts = urlsplit(text)
        if parts.scheme.lower() not in _SCHEMES or not (parts.hostname or parts.path.strip("/") or parts.query):
            raise StateUrlError(f"{STATE_URL_ENV}={mask_url(text)!r}: expected postgresql://USER:PASSWORD@HOST:5432/DATABASE")
        super().__init__(text)

    @property
    def masked(self) -> str:
        return mask_url(self._value)


def mask_url(url: str) -> str:
    """The URL with its password (in the user part or a `password=` parameter) replaced by ****."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            if ":" in user:
                user = user.split(":", 1)[0] + ":****"
            netloc = f"{user}@{host}"
        query = re.sub(r"(?i)(password=)[^&]*", r"\1****", parts.query)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "postgresql://****"


def _password(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        found = re.search(r"(?i)password=([^&]*)", parts.query)
        return parts.password or (found.group(1) if found else None)
    except ValueError:
        return None


def scrub(message: str, url: "StateUrl") -> str:
    """An error message with the URL's password taken out, should the driver have echoed it."""
    secret = _password(url.reveal())
    text = message.replace(url.reveal(), url.masked)
    return text.replace(secret, "****") if secret else text


def state_url_from_env(environ: Any = None) -> StateUrl | None:
    import os

    text = ((os.environ if environ is None else environ).get(STATE_URL_ENV) or "").strip()
    return StateUrl(text) if text else None


def resolve(state_url: StateUrlArg) -> StateUrl | None:
    """The state URL a factory was given: read from the environment (FROM_ENV), none, or checked."""
    if state_url is FromEnv.FROM_ENV:
        return state_url_from_env()
    if state_url is None or isinstance(state_url, StateUrl):
        return state_url
    return StateUrl(state_url)


class PostgresError(RuntimeError):
    """A Postgres failure of the state backends, with the URL masked."""


def connect(url: StateUrl, purpose: str) -> Any:
    """An autocommit psycopg connection (transactions are explicit: `with con.transaction()`)."""
    import psycopg

    try:
        return psycopg.connect(url.reveal(), autocommit=True, connect_timeout=10, application_name=f"replenit-{purpose}")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PostgresError(
            f"{purpose}: cannot connect to {url.masked} ({scrub(first, url)}): check {STATE_URL_ENV}, "
            "that the server is up and that the user may connect") from None


RECONNECT_ENV = "REPLENIT_STATE_RECONNECT_S"
DEFAULT_RECONNECT_S = 60.0  # a restart, or a managed database's failover, is over in about that
log = logging.getLogger("replenit_pipelines.state")


def reconnect_patience_s(environ: Any = None) -> float:
    """How long a run waits for its state database to come back once it had it (REPLENIT_STATE_RECONNECT_S)."""
    text = ((os.environ if environ is None else environ).get(RECONNECT_ENV) or "").strip()
    if not text:
        return DEFAULT_RECONNECT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise PostgresError(f"{RECONNECT_ENV} is {text!r}: give the seconds a run waits for its state database "
                            f"to come back (0: fail at once; default {DEFAULT_RECONNECT_S:.0f})")
    return value


class Reconnecting:
    """One connection that is opened again when the server dropped it (a restart, a failover, an idle
    timeout) before the next operation: a run worker survives its database's restart between batches.
    A transaction that was under way when the connection broke fails as it would anyway. Once a
    connection was open, a new one is tried for `patience_s` (REPLENIT_STATE_RECONNECT_S) while the
    server is down or recovering, rather than failing the run; the first connection fails at once (a
    wrong URL, a server down before the run)."""

    def __init__(self, url: StateUrl, purpose: str, on_connect: Any = None, patience_s: float | None = None):
        self.url, self.purpose, self._on_connect = url, purpose, on_connect
        self.patience_s = reconnect_patience_s() if patience_s is None else patience_s
        self._connection: Any = None
        self._closed = False
        # Connections opened so far: the ledger tells by it whether what it wrote without waiting
        # for the flush went over a connection since lost (lib/ledger/postgres.py).
        self.opened = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self) -> Any:
        if self._closed:
            raise PostgresError(f"{self.purpose}: used after close()")
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._connection = self._connect()
            self.opened += 1
            if self._on_connect is not None:
                self._on_connect(self._connection)
        return self._connection

    def _connect(self) -> Any:
        if not self.opened:
            return connect(self.url, self.purpose)
        deadline, pause = time.monotonic() + self.patience_s, 0.5
        while True:
            try:
                return connect(self.url, self.purpose)
            except PostgresError as exc:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("%s; waiting for it to come back: again in %.1f s (for up to %.0f s: %s)", exc, pause,
                            self.patience_s, RECONNECT_ENV)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def close(self) -> None:
        self._closed = True
        if self._connection is not None:
            self._connection.close()

    def run(self, work: Callable[[Any], T]) -> T:
        """work(connection), and once more on a new connection if the server had dropped this one
        (nothing of a transaction on a dropped connection was committed; the writes here are
        idempotent or, for the quota, err on the side of counting a request twice)."""
        import psycopg

        for attempt in (1, 2):
            con = self.get()
            try:
                return work(con)
            except psycopg.OperationalError:
                if attempt == 2 or not con.broken:
                    raise
        raise AssertionError("unreachable")


_SCHEMA_DONE: set[tuple[str, str]] = set()
_SCHEMA_GUARD = threading.Lock()


def ensure_schema(con: Any, url: StateUrl, name: str, ddl: str) -> None:
    """Run `ddl` (CREATE ... IF NOT EXISTS statements) once per process and database, under a
    transaction-level advisory lock: concurrent CREATE TABLE IF NOT EXISTS can otherwise collide."""
    with _SCHEMA_GUARD:
        if (url.reveal(), name) in _SCHEMA_DONE:
            return
        with con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["replenit-schema-" + name])
            con.execute(ddl)
        _SCHEMA_DONE.add((url.reveal(), name))


def qmarks_to_pyformat(sql: str) -> str:
    """A DuckDB/SQLite-style SQL string (`?` placeholders) for psycopg (`%s`): the state store's
    read methods are written once, for both backends. `?` inside quotes is left alone."""
    out, quote = [], ""
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)
