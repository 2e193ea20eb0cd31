"""The retry queue: records a run could not deliver, re-sent by later runs of their entity.

Statuses (stored beside the ledger, lib/ledger/store.py `retries`):
- `failed`: retries ran out (5xx, timeouts, dropped connections). Re-sent at the start of the
  next run of the entity, whatever its partition, before new work, until `max_attempts`
  deliveries in all have failed; then `needs_attention`.
- `rejected`: the API answered 400. A 400 repeats for the same payload, so it is re-sent only
  when its content changes (a new hash for the identity reaches the normal path, and is sent
  there) or by an explicit replay after a fix.
- `needs_attention`: failed `max_attempts` times; only a replay re-sends it.

The rule that matters most: a queued payload never overwrites newer data. Before a re-send it is
dropped if the ledger holds a version read from the warehouse after the payload was (entries
queued before read times were recorded: acknowledged after the failure), or the very same content, and set aside when the current run carries the identity: the run's own version, read
from the warehouse now, is sent by the normal path instead.
"""

from dataclasses import dataclass

import polars as pl

from replenit_pipelines.lib.ledger.base import RETRY_SCHEMA

DEFAULT_MAX_ATTEMPTS = 5
HOLD_STATUSES = ("rejected", "needs_attention")


@dataclass
class RetryPlan:
    send: pl.DataFrame  # queue entries to re-send now, oldest failure first
    stale: pl.DataFrame  # acknowledged after the failure (or already held): leave the queue
    deferred: pl.DataFrame  # the current run carries the identity: its own version goes instead
    exhausted: pl.DataFrame  # failed `max_attempts` times: becomes needs_attention, not sent
    waiting: pl.DataFrame  # rejected / needs_attention: not sent until the content changes or a replay


def plan_retries(
    queued: pl.DataFrame,
    acknowledged: pl.DataFrame,
    current_identities: pl.Series | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    replay: bool = False,
) -> RetryPlan:
    """`queued`: the queue (RETRY_SCHEMA); `acknowledged`: the ledger's lookup of the queued
    identities (identity, hash, acked_at); `current_identities`: the `__key` of this run's valid
    records. `replay`: re-send rejected and needs_attention entries as well (after a fix), with
    no attempts cap. Every entry lands in exactly one of the plan's frames."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if "read_at" not in queued.columns:
        queued = queued.with_columns(pl.lit(None, dtype=pl.Int64).alias("read_at"))
    acked_read = pl.col("read_at") if "read_at" in acknowledged.columns else pl.col("acked_at")
    frame = queued.join(
        acknowledged.select("identity", pl.col("hash").alias("__acked_hash"), pl.col("acked_at").alias("__acked_at"),
                            acked_read.fill_null(pl.col("acked_at")).alias("__acked_read")),
        on="identity", how="left", maintain_order="left",
    )
    # Newer data is stored: the version acknowledged was read after the queued payload was (when the
    # queue knows its read time), or was acknowledged after the failure (an entry queued before read
    # times were recorded); or the very same content is stored.
    newer = pl.when(pl.col("read_at").is_not_null()).then(pl.col("__acked_read") > pl.col("read_at")) \
        .otherwise(pl.col("__acked_at") > pl.col("first_failure"))
    stale = newer.fill_null(False) | (pl.col("__acked_hash") == pl.col("hash")).fill_null(False)
    current = pl.Series("c", [] if current_identities is None else current_identities, dtype=pl.String)
    in_run = pl.col("identity").is_in(current.implode())
    failed = pl.col("status") == "failed"
    resendable = pl.lit(True) if replay else failed & (pl.col("attempts") < max_attempts)
    exhausted = pl.lit(False) if replay else failed & (pl.col("attempts") >= max_attempts)
    frame = frame.with_columns(
        pl.when(stale).then(pl.lit("stale"))
        .when(in_run).then(pl.lit("deferred"))
        .when(resendable).then(pl.lit("send"))
        .when(exhausted).then(pl.lit("exhausted"))
        .otherwise(pl.lit("waiting")).alias("__plan")
    )

    def part(name: str) -> pl.DataFrame:
        return frame.filter(pl.col("__plan") == name).select(list(RETRY_SCHEMA)).sort("first_failure", "identity")

    return RetryPlan(send=part("send"), stale=part("stale"), deferred=part("deferred"), exhausted=part("exhausted"),
                     waiting=part("waiting"))


def hold_unchanged_rejections(send: pl.DataFrame, queued: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split the diff's records to send (`__key`, `hash`, ...) into (still to send, held): a
    record whose identity waits in the queue as rejected or needs_attention with the SAME content
    hash is held (it would be refused again); new content for it goes through."""
    waiting = queued.filter(pl.col("status").is_in(HOLD_STATUSES)).select(
        pl.col("identity").alias("__key"), pl.col("hash").alias("__held_hash"))
    if waiting.height == 0:
        return send, send.clear()
    marked = send.join(waiting, on="__key", how="left", maintain_order="left").with_columns(
        (pl.col("hash") == pl.col("__held_hash")).fill_null(False).alias("__held"))
    return (marked.filter(~pl.col("__held")).drop("__held_hash", "__held"),
            marked.filter(pl.col("__held")).drop("__held_hash", "__held"))


def failures_to_queue(identities: list[str], payloads: list[bytes], hashes: list[bytes], statuses: list[str],
                      reasons: list[str], run_id: str, read_at: list[int | None] | int | None = None) -> pl.DataFrame:
    """The frame `Ledger.queue_failures` takes, from a run's rejected and failed records."""
    bad = sorted(set(statuses) - {"failed", "rejected"})
    if bad:
        raise ValueError(f"a run queues only failed or rejected records, not {', '.join(bad)}")
    return pl.DataFrame({
        "identity": identities, "payload": payloads, "hash": hashes, "status": statuses, "last_reason": reasons,
        "run_id": [run_id] * len(identities),
        "read_at": read_at if isinstance(read_at, list) else [read_at] * len(identities),
    }, schema={"identity": pl.String, "payload": pl.Binary, "hash": pl.Binary, "status": pl.String,
               "last_reason": pl.String, "run_id": pl.String, "read_at": pl.Int64})
