"""The quota ledger in Postgres (REPLENIT_STATE_URL): one key's request counts shared by every run
worker of a deployment, whatever machine it runs on.

Tables: `quota_keys` (one row per key: its digest, its label, `blocked_until` after a 429, the server's
clock skew learned from 429s) and
`quota_counts` (one row per key, window length and window index: the requests counted in it).
`quota_lane_counts` (the same per lane, fresh or bulk: what the quota view shows per lane) and
`quota_waiters` (one row per request waiting now: its lane, tenant, the time its entry expires and the
time before which it is not to be served), `quota_tenant_counts` (per lane, tenant and window: the
requests granted and whether it waited: the tenants' fair share and the quota view).
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
CREATE TABLE IF NOT EXISTS quota_lane_counts (
    key_id TEXT NOT NULL REFERENCES quota_keys (key_id), lane TEXT NOT NULL, window_seconds DOUBLE PRECISION NOT NULL,
    window_index BIGINT NOT NULL, requests INTEGER NOT NULL,
    PRIMARY KEY (key_id, lane, window_seconds, window_index));
CREATE TABLE IF NOT EXISTS quota_waiters (
    key_id TEXT NOT NULL REFERENCES quota_keys (key_id), waiter_id TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (key_id, waiter_id));
ALTER TABLE quota_waiters ADD COLUMN IF NOT EXISTS lane TEXT NOT NULL DEFAULT 'fresh';
ALTER TABLE quota_waiters ADD COLUMN IF NOT EXISTS tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE quota_waiters ADD COLUMN IF NOT EXISTS held_until DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS quota_tenant_counts (
    key_id TEXT NOT NULL REFERENCES quota_keys (key_id), lane TEXT NOT NULL, tenant_id TEXT NOT NULL,
    window_seconds DOUBLE PRECISION NOT NULL, window_index BIGINT NOT NULL, requests INTEGER NOT NULL,
    waited BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (key_id, lane, tenant_id, window_seconds, window_index));
ALTER TABLE quota_keys ADD COLUMN IF NOT EXISTS server_skew DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE quota_keys ADD COLUMN IF NOT EXISTS server_skew_margin DOUBLE PRECISION NOT NULL DEFAULT 0;
"""

_LOCK_KEY = "SELECT blocked_until, server_skew, server_skew_margin FROM quota_keys WHERE key_id = %s FOR UPDATE"
_READ_KEY = "SELECT blocked_until, server_skew, server_skew_margin FROM quota_keys WHERE key_id = %s"


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
        def begin(con: Any) -> tuple[Any, Any, tuple[list, list, list, list]]:
            # By hand (the connection is in autocommit): a connection the server dropped fails here, before
            # anything is yielded, and the transaction is begun again on a new one (Reconnecting.run).
            con.execute("BEGIN")
            if write:
                # Not waiting for the WAL flush: a reservation costs ~0.1 ms instead of an fsync (4-12 ms
                # here), and the key's row lock is held that much shorter. A server crash can lose the
                # last ~0.6 s of counts; the API's X-RateLimit headers and 429s correct them, as for
                # clients elsewhere. (The ledger's acknowledgements do not wait either, but a run's end
                # does: lib/ledger/postgres.py.)
                con.execute("SET LOCAL synchronous_commit = off")
            # The key's row lock: held to the commit, it makes every writer of this key wait its turn.
            row = con.execute(_LOCK_KEY if write else _READ_KEY, [self.key_id]).fetchone()
            rows = con.execute("SELECT window_seconds, window_index, requests FROM quota_counts WHERE key_id = %s",
                               [self.key_id]).fetchall()
            lane_rows = con.execute("SELECT lane, window_seconds, window_index, requests FROM quota_lane_counts "
                                    "WHERE key_id = %s", [self.key_id]).fetchall()
            waiters = con.execute("SELECT waiter_id, expires_at, lane, tenant_id, held_until FROM quota_waiters "
                                  "WHERE key_id = %s", [self.key_id]).fetchall()
            tenant_rows = con.execute("SELECT lane, tenant_id, window_seconds, window_index, requests, waited "
                                      "FROM quota_tenant_counts WHERE key_id = %s", [self.key_id]).fetchall()
            return con, row, (rows, lane_rows, waiters, tenant_rows)

        con, row, (rows, lane_rows, waiter_rows, tenant_rows) = self._connection.run(begin)
        try:
            counts: dict[str, dict[str, int]] = {}
            for seconds, index, requests in rows:
                counts.setdefault(repr(float(seconds)), {})[str(index)] = int(requests)
            lanes: dict[str, dict[str, dict[str, int]]] = {}
            for lane, seconds, index, requests in lane_rows:
                lanes.setdefault(lane, {}).setdefault(repr(float(seconds)), {})[str(index)] = int(requests)
            tenants: dict[str, dict[str, dict[str, dict[str, list[int]]]]] = {}
            for lane, tenant, seconds, index, requests, waited in tenant_rows:
                tenants.setdefault(lane, {}).setdefault(tenant, {}).setdefault(repr(float(seconds)), {})[str(index)] = \
                    [int(requests), int(bool(waited))]
            state = {"counts": counts, "blocked_until": float(row[0]) if row else 0.0, "lanes": lanes, "tenants": tenants,
                     "server_skew": [float(row[1]), float(row[2])] if row else [0.0, 0.0],
                     "waiters": {w: {"until": float(until), "lane": lane, "tenant": tenant, "held_until": float(held)}
                                 for w, until, lane, tenant, held in waiter_rows}}
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
        def counts(state: dict) -> dict[tuple, tuple]:
            return {(float(s), int(i)): (n,) for s, windows in state["counts"].items() for i, n in windows.items()}

        def lanes(state: dict) -> dict[tuple, tuple]:
            return {(lane, float(s), int(i)): (n,) for lane, ws in state["lanes"].items() for s, windows in ws.items()
                    for i, n in windows.items()}

        def waiters(state: dict) -> dict[tuple, tuple]:
            return {(w,): (e["until"], e["lane"], e["tenant"], e["held_until"]) for w, e in state["waiters"].items()}

        for table, keys, values, rows in (
                ("quota_counts", ("window_seconds", "window_index"), ("requests",), counts),
                ("quota_lane_counts", ("lane", "window_seconds", "window_index"), ("requests",), lanes),
                ("quota_waiters", ("waiter_id",), ("expires_at", "lane", "tenant_id", "held_until"), waiters),
                ("quota_tenant_counts", ("lane", "tenant_id", "window_seconds", "window_index"), ("requests", "waited"),
                 self._tenant_rows)):
            self._write_changes(con, table, keys, values, rows(before), rows(after))
        if after["blocked_until"] != before["blocked_until"]:
            con.execute("UPDATE quota_keys SET blocked_until = %s WHERE key_id = %s", [after["blocked_until"], self.key_id])
        if after["server_skew"] != before["server_skew"]:
            con.execute("UPDATE quota_keys SET server_skew = %s, server_skew_margin = %s WHERE key_id = %s",
                        [*after["server_skew"], self.key_id])

    def _write_changes(self, con: Any, table: str, keys: tuple[str, ...], values: tuple[str, ...],
                       old: dict[tuple, tuple], new: dict[tuple, tuple]) -> None:
        """One table of the key's state written as a diff: rows gone deleted, rows new or changed
        upserted (fixed table and column names, never values, in the SQL)."""
        gone = [(self.key_id, *k) for k in old if k not in new]
        changed = [(self.key_id, *k, *v) for k, v in new.items() if old.get(k) != v]
        where = " AND ".join(f"{c} = %s" for c in ("key_id", *keys))
        if gone:
            con.cursor().executemany(f"DELETE FROM {table} WHERE {where}", gone)  # noqa: S608 - fixed names
        if changed:
            columns = ("key_id", *keys, *values)
            con.cursor().executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "  # noqa: S608
                f"ON CONFLICT ({', '.join(('key_id', *keys))}) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in values), changed)

    @staticmethod
    def _tenant_rows(state: dict) -> dict[tuple, tuple]:
        return {(lane, tenant, float(s), int(i)): (int(entry[0]), bool(entry[1]))
                for lane, tenants in state.get("tenants", {}).items() for tenant, windows in tenants.items()
                for s, indexes in windows.items() for i, entry in indexes.items()}
