"""The diff stage, between validate and deliver: each valid record is new, changed or unchanged
against what Replenit acknowledged. A pure function of the records, their payloads and the
ledger's lookup; the caller sends `Diff.send` and acknowledges with `Diff.hashes`.

Exact hashes first (the bytes as serialized: cheap), content hashes only where the bytes differ
from the acknowledged ones (lib/ledger/hashing.py): with 1% changed, 99% of records never pay for
the canonical form. A record whose bytes changed but whose content did not (a serializer upgrade)
is unchanged, and listed in `restamp` so the ledger's exact hash catches up.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from replenit_pipelines.lib.ledger.hashing import content_hashes, exact_hashes

NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"
CHANGE_ENUM = pl.Enum([NEW, CHANGED, UNCHANGED])


@dataclass
class Diff:
    send: pl.DataFrame  # records to send, in input order: __pos (index into records/parts), __key, __rows, hash, exact, change
    restamp: pl.DataFrame  # identity, exact: unchanged content in new bytes
    full_refresh: bool
    records_new: int
    records_changed: int
    records_unchanged: int  # not sent (0 under full_refresh)
    records_refreshed: int  # unchanged but sent anyway because of full_refresh
    rows_new: int
    rows_changed: int
    rows_unchanged: int  # rows of the records not sent: this enters the run's accounting
    rows_refreshed: int

    @property
    def positions(self) -> list[int]:
        return self.send["__pos"].to_list()

    def counts(self) -> dict[str, int]:
        return {
            "records_new": self.records_new, "records_changed": self.records_changed,
            "records_unchanged": self.records_unchanged, "records_refreshed": self.records_refreshed,
            "rows_new": self.rows_new, "rows_changed": self.rows_changed,
            "rows_unchanged": self.rows_unchanged, "rows_refreshed": self.rows_refreshed,
        }


def diff(records: pl.DataFrame, parts: Sequence[bytes], acknowledged: pl.DataFrame, full_refresh: bool = False) -> Diff:
    """`records`: the valid records (their `__key` and `__rows` columns are read); `parts`: their
    payloads, one JSON document each, aligned by position; `acknowledged`: the ledger's lookup of
    their identities (identity, hash, exact). A record without identity is always new."""
    if len(parts) != records.height:
        raise ValueError(f"diff: {records.height} records but {len(parts)} payloads")
    acked = acknowledged.lazy().select(
        pl.col("identity").alias("__key"), pl.col("hash").alias("__acked_hash"), pl.col("exact").alias("__acked_exact"))
    frame = (
        records.lazy().select(pl.col("__key"), pl.col("__rows").cast(pl.Int64), exact_hashes(parts).alias("exact"))
        .with_row_index("__pos")
        .join(acked, on="__key", how="left", maintain_order="left")
        .with_columns((pl.col("exact") == pl.col("__acked_exact")).fill_null(False).alias("__same_bytes"))
        .drop("__acked_exact")
        .collect()
    )
    # Content hashes only where the bytes differ; bytes-equal records have the acknowledged hash.
    to_hash = frame["__pos"].filter(~frame["__same_bytes"])
    hashes = frame["__acked_hash"].scatter(to_hash, content_hashes([parts[i] for i in to_hash.to_list()])) \
        if to_hash.len() else frame["__acked_hash"]
    frame = frame.with_columns(hashes.alias("hash")).with_columns(
        pl.when(pl.col("__acked_hash").is_null()).then(pl.lit(NEW))
        .when(pl.col("hash") == pl.col("__acked_hash")).then(pl.lit(UNCHANGED))
        .otherwise(pl.lit(CHANGED)).cast(CHANGE_ENUM).alias("change")
    )
    change, rows = frame["change"], frame["__rows"]
    tally = {c: (int((change == c).sum()), int(rows.filter(change == c).sum())) for c in (NEW, CHANGED, UNCHANGED)}
    (n_new, r_new), (n_changed, r_changed), (n_same, r_same) = tally[NEW], tally[CHANGED], tally[UNCHANGED]
    restamp = frame.filter((pl.col("change") == UNCHANGED) & ~pl.col("__same_bytes")).select(
        pl.col("__key").alias("identity"), "exact")
    send = frame if full_refresh else frame.filter(pl.col("change") != UNCHANGED)
    return Diff(
        send=send.select("__pos", "__key", "__rows", "hash", "exact", "change"),
        restamp=restamp, full_refresh=full_refresh,
        records_new=n_new, records_changed=n_changed,
        records_unchanged=0 if full_refresh else n_same, records_refreshed=n_same if full_refresh else 0,
        rows_new=r_new, rows_changed=r_changed,
        rows_unchanged=0 if full_refresh else r_same, rows_refreshed=r_same if full_refresh else 0,
    )
