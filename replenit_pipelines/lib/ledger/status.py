"""What the ledgers under a state folder (or in Postgres, REPLENIT_STATE_URL) hold, for
`replenit state`: per scope and entity, the ledger's size, newest acknowledgement,
acknowledgements not yet compacted, and the retry queue by status with its oldest first failure.
Read-only."""

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from replenit_pipelines.lib.ledger.postgres import PostgresLedger
from replenit_pipelines.lib.ledger.store import RETRY_STATUSES, SqliteLedger
from replenit_pipelines.lib.postgres import connect

STATUS_SCHEMA: dict[str, pl.DataType] = {
    "scope": pl.String(), "entity": pl.String(), "ledger_size": pl.Int64(), "newest_ack": pl.Datetime("ms", "UTC"),
    "age": pl.String(), "pending_compaction": pl.Int64(), **{s: pl.Int64() for s in RETRY_STATUSES},
    "oldest_failure": pl.Datetime("ms", "UTC"),
}


def ledger_files(state_dir: str | Path) -> list[Path]:
    return sorted((Path(state_dir) / "ledger").glob("*/*.sqlite"))


def _meta(path: Path) -> dict[str, str]:
    con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)  # escaped: a folder name may hold '#' or '?'
    try:
        return dict(con.execute("SELECT key, value FROM meta").fetchall())
    finally:
        con.close()


def open_file(path: Path) -> SqliteLedger:
    meta = _meta(path)
    return SqliteLedger(path, meta["scope"], meta["entity"])


def _age(at: int | None, now: datetime) -> str:
    if at is None:
        return ""
    seconds = int((now - datetime.fromtimestamp(at / 1000, UTC)).total_seconds())
    days, rest = divmod(max(seconds, 0), 86_400)
    return (f"{days}d " if days else "") + f"{rest // 3600}h {rest % 3600 // 60}m"


def _ledgers(state_dir: str | Path, state_url: Any = None) -> Iterator[AbstractContextManager[Any]]:
    """Every ledger: the SQLite files under the folder, or every scope and entity in Postgres."""
    if state_url is None:
        yield from (open_file(path) for path in ledger_files(state_dir))
        return
    with connect(state_url, "ledger status") as con:
        exists = con.execute("SELECT to_regclass('ledger_scopes') IS NOT NULL").fetchone()[0]
        scopes = con.execute("SELECT scope, entity FROM ledger_scopes ORDER BY scope, entity").fetchall() if exists else []
    for scope, entity in scopes:
        yield PostgresLedger(state_url, scope, entity)


def ledger_status(state_dir: str | Path, now: datetime | None = None, state_url: Any = None) -> pl.DataFrame:
    now = now or datetime.now(UTC)
    rows = []
    for opened in _ledgers(state_dir, state_url):
        with opened as ledger:
            queued = ledger.queued()
            newest = ledger.newest_ack()
            by_status = {s: int((queued["status"] == s).sum()) for s in RETRY_STATUSES}
            oldest = int(queued["first_failure"].min()) if queued.height else None
            rows.append({
                "scope": ledger.scope, "entity": ledger.entity, "ledger_size": ledger.size(),
                "newest_ack": datetime.fromtimestamp(newest / 1000, UTC) if newest is not None else None,
                "age": _age(newest, now), "pending_compaction": ledger.pending_compaction(), **by_status,
                "oldest_failure": datetime.fromtimestamp(oldest / 1000, UTC) if oldest is not None else None,
            })
    return pl.DataFrame(rows, schema=STATUS_SCHEMA)


def retry_queue(state_dir: str | Path, entity: str, state_url: Any = None) -> pl.DataFrame:
    """Every scope's queue of `entity`: identity, status, attempts, first and last failure, last reason."""
    frames = []
    for opened in _ledgers(state_dir, state_url):
        with opened as ledger:
            if ledger.entity != entity:
                continue
            frames.append(ledger.queued().select(
                pl.lit(ledger.scope).alias("scope"), "identity", "status", "attempts",
                pl.from_epoch("first_failure", time_unit="ms").dt.replace_time_zone("UTC"),
                pl.from_epoch("last_failure", time_unit="ms").dt.replace_time_zone("UTC"), "last_reason"))
    return pl.concat(frames) if frames else pl.DataFrame(schema={"scope": pl.String, "identity": pl.String})
