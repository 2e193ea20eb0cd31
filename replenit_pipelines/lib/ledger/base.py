"""What every ledger backend shares: the `Ledger` Protocol the stages program against, the frames
it answers with, its scope (API base URL + tenant) and the layout version of its tables. The
SQLite files (lib/ledger/store.py) and Postgres (lib/ledger/postgres.py) implement it;
`open_ledger` (lib/ledger/__init__.py) chooses."""

import hashlib
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

import polars as pl

# read_at: when the warehouse read of the acknowledged version began (its acked_at when not recorded)
LOOKUP_SCHEMA = {"identity": pl.String, "hash": pl.Binary, "exact": pl.Binary, "acked_at": pl.Int64, "read_at": pl.Int64}
KEY_LOOKUP_SCHEMA = {"idkey": pl.Int64, "hash": pl.Binary, "exact": pl.Int128}  # exact: hashing.hashes_as_int128
LAYOUT = "2"  # the tables' layout: 2 keys entries by an integer identity key too (hashing.identity_keys)
RETRY_SCHEMA = {
    "identity": pl.String, "payload": pl.Binary, "hash": pl.Binary, "status": pl.String, "attempts": pl.Int64,
    "first_failure": pl.Int64, "last_failure": pl.Int64, "last_reason": pl.String, "run_id": pl.String,
    "read_at": pl.Int64,  # when the warehouse read of the queued payload began (NULL: queued before it was recorded)
}
RETRY_STATUSES = ("failed", "rejected", "needs_attention")


# When the warehouse read of acknowledged records began (epoch ms): one for the batch, one per
# record, or None (not known: the entry's acked_at stands for it).
ReadAt = int | Sequence[int | None] | None


class CurrentRead(NamedTuple):
    """What the ledger holds for one identity now, as the send-time check needs it."""

    hash: bytes
    read_at: int  # when the warehouse read of that version began (its acked_at when not recorded)
    run_id: str | None  # the run that acknowledged it


class LedgerScopeError(ValueError):
    pass


def ledger_scope(base_url: str, tenant_id: str) -> str:
    """`<scheme>://<host>[:<port>]<path>|<tenant>`, normalised: scheme and host lowercased, the
    default port and a trailing slash dropped, a GUID tenant in its canonical lowercase form. One
    tenant reached by two spellings of one URL is one scope; a sandbox and a production tenant
    are never one."""
    parts = urlsplit(base_url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise LedgerScopeError(f"base URL {base_url!r} is not an http(s) URL, e.g. https://api.replen.it")
    scheme = parts.scheme.lower()
    port = parts.port
    netloc = parts.hostname.lower() + (f":{port}" if port and port != {"http": 80, "https": 443}[scheme] else "")
    tenant = (tenant_id or "").strip()
    if not tenant:
        raise LedgerScopeError("the tenant id is empty: set REPLENIT_TENANT_ID")
    try:
        tenant = str(uuid.UUID(tenant))
    except ValueError:
        tenant = tenant.lower()
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}|{tenant}"


def scope_folder(scope: str) -> str:
    """A file-system-safe folder name for a scope, readable (host and tenant) and unique."""
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", scope.split("://", 1)[1])[:80]
    return f"{readable}-{hashlib.blake2b(scope.encode(), digest_size=4).hexdigest()}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Ledger(Protocol):
    """What the sync needs from a ledger backend (SQLite here; Postgres in issue 15). One
    instance is one (scope, entity). Hashes are 16-byte content hashes; times epoch ms UTC."""

    scope: str
    entity: str

    def lookup(self, identities: pl.Series | Sequence[str]) -> pl.DataFrame: ...  # LOOKUP_SCHEMA; may be a superset
    def lookup_keys(self, identities: pl.Series | Sequence[str]) -> pl.DataFrame: ...  # KEY_LOOKUP_SCHEMA; may be a superset
    def all_key_hashes(self) -> pl.DataFrame: ...  # the whole ledger: idkey, hash, exact (both hashes Int128)
    def pending_compaction(self) -> int: ...  # acknowledgements logged since the last compact()
    def acknowledge(self, identities: Sequence[str], hashes: Sequence[bytes], run_id: str,
                    exact: Sequence[bytes] | None = None, api_ids: Sequence[str | None] | None = None,
                    read_at: "ReadAt" = None, payloads: Sequence[bytes] | None = None) -> None: ...
    def current_reads(self, identities: Sequence[str], run_id: str | None = None) -> dict[str, "CurrentRead"]: ...  # the send-time check
    def entries(self, identities: Sequence[str]) -> pl.DataFrame: ...  # identity, hash, acked_at, run_id
    def kept_payloads(self, identities: Sequence[str]) -> dict[str, bytes]: ...  # lib/ledger/payloads.py
    def api_ids(self, identities: Sequence[str]) -> dict[str, str | None]: ...  # the id each DELETE takes (issue 12)
    def holders(self, api_ids: Sequence[str]) -> dict[str, list[str]]: ...  # api_id -> the identities it is the id of
    def restamp(self, identities: Sequence[str], exact: Sequence[bytes]) -> None: ...
    def forget(self, identities: Sequence[str]) -> None: ...
    def size(self) -> int: ...
    def newest_ack(self) -> int | None: ...
    def all_identities(self, chunk_size: int = 100_000) -> Iterator[pl.Series]: ...
    def compact(self) -> None: ...
    def close(self) -> None: ...
    # the retry queue (lib/ledger/retries.py)
    def queue_failures(self, entries: pl.DataFrame) -> None: ...
    def queued(self, statuses: Iterable[str] = RETRY_STATUSES) -> pl.DataFrame: ...
    def set_retry_status(self, identities: Sequence[str], status: str) -> None: ...
    def dequeue(self, identities: Sequence[str]) -> None: ...


