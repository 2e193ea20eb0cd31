"""The quota ledger in Postgres (REPLENIT_STATE_URL): one key's request counts shared by every run
worker of a deployment, whatever machine it runs on.

Tables: `quota_keys` (one row per key: its digest, its label, `blocked_until` after a 429) and
`quota_counts` (one row per key, window length and window index: the requests counted in it).
`state()` reads and writes them in one transaction that first locks the key's `quota_keys` row
(SELECT ... FOR UPDATE), so two workers never both take the last request of a window. The key
is never stored: it is named by `ledger_name`'s digest, and labelled by REPLENIT_KEY_NAME.
Window indexes come from each worker's clock, as on one machine: keep the machines on NTP.
"""

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from replenit_pipelines.lib.postgres import Reconnecting, StateUrl, ensure_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS quota_keys (
    key_id TEXT PRIMARY KEY, key_label TEXT NOT NULL, blocked_until DOUBLE PRECISION NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS quota_counts (
    key_id TEXT NOT NULL REFERENCES quota_keys (key_id), window_seconds DOUBLE PRECISION NOT NULL,
    window_index BIGINT NOT NULL, requests INTEGER NOT NULL,
    PRIMARY KEY (key_id, window_seconds, window_index));
"""

_LOCK_KEY = "SELECT blocked_until FROM quota_keys WHERE key_id = %s FOR UPDATE"
_READ_KEY = "SELECT blocked_until FROM quota_keys WHERE key_id = %s"


class PostgresQuotaStore:
    def __init__(self, url: StateUrl, key_id: str, key_label: str | None = None):
        self.url = url
        self.key_id = key_id
        self.key_label = key_label or os.environ.get("REPLENIT_KEY_NAME") or "default"
        self._connection = Reconnecting(url, "quota ledger", self._prepare)
        self._connection.get()

    def _prepare(self, con: Any) -> None:
        ensure_schema(con, self.url, "quota", SCHEMA)
        con.execute("INSERT INTO quota_keys (key_id, key_label) VALUES (%s, %s) ON CONFLICT (key_id) DO NOTHING",
                    [self.key_id, self.key_label])

    def __repr__(self) -> str:
        return f"PostgresQuotaStore({self.url.masked!r}, key_id={self.key_id!r})"

    @contextmanager
    def state(self, write: bool = True) -> Iterator[dict]:
        """The key's counts as the file ledger's dict ({"counts": {repr(seconds): {str(index): n}},
        "blocked_until": t}); what the caller changed is written back in the same transaction."""
        def begin(con: Any) -> tuple[Any, Any, list]:
            # By hand (the connection is in autocommit): a connection the server dropped fails here, before
            # anything is yielded, and the transaction is begun again on a new one (Reconnecting.run).
            con.execute("BEGIN")
            if write:
                # Not waiting for the WAL flush: a reservation costs ~0.1 ms instead of an fsync (4-12 ms
                # here), and the key's row lock is held that much shorter. A server crash can lose the
                # last ~0.6 s of counts; the API's X-RateLimit headers and 429s correct them, as for
                # clients elsewhere. Durability matters for the ledger (synchronous there), not here.
                con.execute("SET LOCAL synchronous_commit = off")
            # The key's row lock: held to the commit, it makes every writer of this key wait its turn.
            row = con.execute(_LOCK_KEY if write else _READ_KEY, [self.key_id]).fetchone()
            rows = con.execute("SELECT window_seconds, window_index, requests FROM quota_counts WHERE key_id = %s",
                               [self.key_id]).fetchall()
            return con, row, rows

        con, row, rows = self._connection.run(begin)
        try:
            counts: dict[str, dict[str, int]] = {}
            for seconds, index, requests in rows:
                counts.setdefault(repr(float(seconds)), {})[str(index)] = int(requests)
            state = {"counts": counts, "blocked_until": float(row[0]) if row else 0.0}
            before = copy.deepcopy(state)
            yield state
            if write:
                self._write_back(con, before, state)
            con.execute("COMMIT")
        except BaseException:
            if not con.broken:
                con.execute("ROLLBACK")
            raise

    def _write_back(self, con: Any, before: dict, after: dict) -> None:
        old = {(float(s), int(i)): n for s, windows in before["counts"].items() for i, n in windows.items()}
        new = {(float(s), int(i)): n for s, windows in after["counts"].items() for i, n in windows.items()}
        gone = [(self.key_id, s, i) for (s, i) in old if (s, i) not in new]
        changed = [(self.key_id, s, i, n) for (s, i), n in new.items() if old.get((s, i)) != n]
        if gone:
            con.cursor().executemany(
                "DELETE FROM quota_counts WHERE key_id = %s AND window_seconds = %s AND window_index = %s", gone)
        if changed:
            con.cursor().executemany(
                "INSERT INTO quota_counts (key_id, window_seconds, window_index, requests) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (key_id, window_seconds, window_index) DO UPDATE SET requests = excluded.requests", changed)
        if after["blocked_until"] != before["blocked_until"]:
            con.execute("UPDATE quota_keys SET blocked_until = %s WHERE key_id = %s", [after["blocked_until"], self.key_id])
