"""The diff stage, between validate and deliver: each valid record is new, changed or unchanged
against what Replenit acknowledged. A pure function of the records, their payloads and the
ledger's lookup; the caller sends `Diff.send` and acknowledges with `Diff.hashes`.

Exact hashes first (the bytes as serialized: cheap), content hashes only where the bytes differ
from the acknowledged ones (lib/ledger/hashing.py): with 1% changed, 99% of records never pay for
the canonical form. A record whose bytes changed but whose content did not (a serializer upgrade)
is unchanged, and listed in `restamp` so the ledger's exact hash catches up.

Records meet the ledger on a 64-bit integer key of the identity (hashing.identity_keys), not on the
identity string: the ledger's whole-ledger lookup then reads no strings and the join is an integer
join. Two identities sharing a key is harmless: the ledger side keeps one entry per key (no record
is duplicated), and a record matched to another identity's entry has other bytes and another
content hash (its payload carries its identity), so it is sent as changed.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from replenit_pipelines.lib.ledger.hashing import (
    content_hashes,
    exact_hashes_int128,
    hashes_as_binary,
    hashes_as_int128,
    identity_keys,
)

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


def diff(records: pl.DataFrame, parts: Sequence[bytes] | pl.Series, acknowledged: pl.DataFrame, full_refresh: bool = False) -> Diff:
    """`records`: the valid records (their `__key` and `__rows` columns are read); `parts`: their
    payloads, one JSON document each, aligned by position (bytes, or a Binary column); `acknowledged`: the ledger's lookup of
    their identities, `Ledger.lookup_keys` (idkey, hash, exact) or `Ledger.lookup` (identity, hash,
    exact; keyed here). A record without identity is always new."""
    if len(parts) != records.height:
        raise ValueError(f"diff: {records.height} records but {len(parts)} payloads")
    if "idkey" not in acknowledged.columns:
        acknowledged = acknowledged.with_columns(identity_keys(acknowledged["identity"]))
    if acknowledged["exact"].dtype != pl.Int128:
        acknowledged = acknowledged.with_columns(hashes_as_int128(acknowledged["exact"]))
    acked_hash = acknowledged["hash"]
    # The join carries integers only (the ledger's row, exact hashes as Int128): binary columns
    # would double its memory. A hash that is not 16 bytes reads as null: the slow path.
    acked = acknowledged.select(
        pl.col("idkey").alias("__idkey"), pl.col("exact").alias("__acked_exact"),
    ).with_row_index("__acked_row")
    if acked["__idkey"].n_unique() != acked.height:  # a 64-bit collision in the ledger must not duplicate a record
        acked = acked.unique("__idkey", keep="any")  # (checked first: de-duplicating 1M entries costs 0.4 s, the check 0.03 s)
    exact = exact_hashes_int128(parts)
    frame = (
        pl.DataFrame({"__idkey": identity_keys(records["__key"]), "__exact": exact}).lazy()
        .with_row_index("__pos")
        .join(acked.lazy(), on="__idkey", how="left", maintain_order="left")
        .select("__pos", "__acked_row", (pl.col("__exact") == pl.col("__acked_exact")).fill_null(False).alias("__same_bytes"))
        .collect()
    )
    # Bytes-equal records are unchanged (their content hash is the acknowledged one); only the
    # others pay for the canonical form, and only they can be new, changed or restamped.
    slow = frame.filter(~pl.col("__same_bytes")).select("__pos", "__acked_row")
    slow_pos = slow["__pos"]
    slow = slow.with_columns(
        content_hashes(parts.gather(slow_pos).to_list() if isinstance(parts, pl.Series)
                       else [parts[i] for i in slow_pos.to_list()]).alias("__hash"),
        acked_hash.gather(slow["__acked_row"]).alias("__acked_hash"),
    ).with_columns(
        pl.when(pl.col("__acked_hash").is_null()).then(pl.lit(NEW))
        .when(pl.col("__hash") == pl.col("__acked_hash")).then(pl.lit(UNCHANGED))
        .otherwise(pl.lit(CHANGED)).cast(CHANGE_ENUM).alias("change")
    )
    change = pl.Series("change", [UNCHANGED], dtype=CHANGE_ENUM).new_from_index(0, records.height)
    if slow.height:
        change = change.scatter(slow_pos, slow["change"])
    rows = records["__rows"].cast(pl.Int64)
    tally = {c: (int((change == c).sum()), int(rows.filter(change == c).sum())) for c in (NEW, CHANGED, UNCHANGED)}
    (n_new, r_new), (n_changed, r_changed), (n_same, r_same) = tally[NEW], tally[CHANGED], tally[UNCHANGED]
    restamp_pos = slow.filter(pl.col("change") == UNCHANGED)["__pos"]
    restamp = pl.DataFrame({"identity": records["__key"].gather(restamp_pos), "exact": hashes_as_binary(exact.gather(restamp_pos))})
    send_pos = frame["__pos"] if full_refresh else slow.filter(pl.col("change") != UNCHANGED)["__pos"]
    send = (
        pl.DataFrame({"__pos": send_pos, "__acked_hash": acked_hash.gather(frame["__acked_row"].gather(send_pos))})
        .join(slow.select("__pos", "__hash"), on="__pos", how="left", maintain_order="left")
        .select(
            "__pos", records["__key"].gather(send_pos).alias("__key"), rows.gather(send_pos).alias("__rows"),
            pl.coalesce("__hash", "__acked_hash").alias("hash"),
            hashes_as_binary(exact.gather(send_pos)).alias("exact"), change.gather(send_pos).alias("change"),
        )
    )
    return Diff(
        send=send,
        restamp=restamp, full_refresh=full_refresh,
        records_new=n_new, records_changed=n_changed,
        records_unchanged=0 if full_refresh else n_same, records_refreshed=n_same if full_refresh else 0,
        rows_new=r_new, rows_changed=r_changed,
        rows_unchanged=0 if full_refresh else r_same, rows_refreshed=r_same if full_refresh else 0,
    )
