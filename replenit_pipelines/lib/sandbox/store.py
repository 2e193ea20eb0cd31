"""What the sandbox received: records per tenant and entity, and a request log.

In memory by default; with a path, every change is written through to a SQLite file and read
back at start, so a restarted sandbox still holds what it was sent.
"""

import sqlite3
import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from replenit_pipelines.lib.contract.identity import record_identity


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_key(entity: str, record: dict, customer_priority: str) -> str:
    """The identity a record is upserted under, by the tenant's identifier priority."""
    key = record_identity(entity, record, customer_priority)
    assert key is not None, "validated records always carry an identifier"
    return key


class Store:
    def __init__(self, path: str | Path | None = None, request_log_size: int = 200_000):
        self._lock = threading.RLock()
        self.records: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=request_log_size)
        self.request_count = 0
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records (tenant TEXT, entity TEXT, key TEXT,"
                " record TEXT, written_at TEXT, writes INTEGER, PRIMARY KEY (tenant, entity, key))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS requests (seq INTEGER PRIMARY KEY, entry TEXT)"
            )
            for tenant, entity, key, rec, written_at, writes in self._db.execute(
                "SELECT tenant, entity, key, record, written_at, writes FROM records"
            ):
                self._bucket(tenant, entity)[key] = {
                    "record": orjson.loads(rec), "written_at": written_at, "writes": writes
                }
            for (entry,) in self._db.execute("SELECT entry FROM requests ORDER BY seq"):
                self.requests.append(orjson.loads(entry))
            self.request_count = len(self.requests)

    def _bucket(self, tenant: str, entity: str) -> dict[str, dict[str, Any]]:
        return self.records.setdefault(tenant, {}).setdefault(entity, {})

    def upsert(self, tenant: str, entity: str, keyed: Iterable[tuple[str, dict]]) -> int:
        now = utc_now_iso()
        changed = []
        with self._lock:
            bucket = self._bucket(tenant, entity)
            for key, record in keyed:
                old = bucket.get(key)
                if old is None:
                    entry = {"record": record, "written_at": now, "writes": 1}
                else:
                    # Fields merge; nested arrays arrive whole and so replace the old ones.
                    entry = {
                        "record": {**old["record"], **record},
                        "written_at": now,
                        "writes": old["writes"] + 1,
                    }
                bucket[key] = entry
                changed.append((key, entry))
            if self._db is not None:
                self._db.executemany(
                    "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (tenant, entity, k, orjson.dumps(e["record"]).decode(), e["written_at"], e["writes"])
                        for k, e in changed
                    ],
                )
        return len(changed)

    def replace(self, tenant: str, entity: str, key: str, record: dict) -> None:
        """Store a record changed by a delete of its children (counts as a write)."""
        self.upsert(tenant, entity, [(key, record)])

    def delete(self, tenant: str, entity: str, key: str) -> None:
        with self._lock:
            self._bucket(tenant, entity).pop(key, None)
            if self._db is not None:
                self._db.execute(
                    "DELETE FROM records WHERE tenant = ? AND entity = ? AND key = ?",
                    (tenant, entity, key),
                )

    def find(self, tenant: str, entity: str, field: str, value: str) -> list[str]:
        with self._lock:
            return [
                k for k, e in self._bucket(tenant, entity).items()
                if str(e["record"].get(field)) == value
            ]

    def get(self, tenant: str, entity: str, key: str) -> dict | None:
        with self._lock:
            entry = self._bucket(tenant, entity).get(key)
            return entry["record"] if entry else None

    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.request_count += 1
            entry = {"seq": self.request_count, **entry}
            self.requests.append(entry)
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO requests VALUES (?, ?)", (entry["seq"], orjson.dumps(entry).decode())
                )

    def snapshot(self, tenant: str, entity: str) -> list[dict[str, Any]]:
        with self._lock:
            return [{"key": k, **e} for k, e in self._bucket(tenant, entity).items()]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_status: dict[str, int] = {}
            records_in = 0
            for r in self.requests:
                by_status[str(r["status"])] = by_status.get(str(r["status"]), 0) + 1
                records_in += r.get("records", 0)
            return {
                "requests": self.request_count,
                "requests_by_status": by_status,
                "records_received": records_in,
                "records": {
                    t: {e: len(b) for e, b in ents.items()} for t, ents in self.records.items()
                },
            }

    def reset(self) -> None:
        with self._lock:
            self.records.clear()
            self.requests.clear()
            self.request_count = 0
            if self._db is not None:
                self._db.execute("DELETE FROM records")
                self._db.execute("DELETE FROM requests")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
