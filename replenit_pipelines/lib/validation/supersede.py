"""Supersession's machinery (lib/validation/prepare.py): which rows are older versions of a
record (`stale_rows`: the newest by the window column, then by content), the content hash that
breaks ties between rows of one time (`content_ties`), and the customers the tenant merges by a
shared email (`customer_merges`)."""

import polars as pl
import polars_hash as plh

# One row per identity under which the tenant merges customers: the CustomerId sent (the newest
# row's; null when it has none), the CustomerIds merged into it, and their rows.
MERGES_SCHEMA = pl.Schema({"identity": pl.String(), "kept": pl.String(), "merged": pl.List(pl.String()), "rows": pl.UInt32()})
# The order in which a record's rows age: by the window column, then by content (`_content_ties`);
# the row's position only between rows equal in everything (which one wins then changes nothing).
NEWEST_LAST = ("__ts", "__tie", "__row")


def content_ties(flat: pl.DataFrame, groups: list[tuple[list[str], list[str]]],
                 shared: dict[tuple[str, ...], pl.Series] | None = None) -> pl.Series:
    """`__tie`: for rows that share a timestamp with another row of one of `groups` (identity
    columns: the record's, a child's, the CustomerId) and differ from it in that group's content
    columns, a hash of the row's whole content (XXH3-64 of its values as JSON: frozen, the same in
    every process), else 0. Sorting by (__ts, __tie) makes "the newest row" a function of the
    rows' values, never of their position in the read: a warehouse's scan order varies between
    runs, and two versions with one timestamp must not win in turn (a re-send each time, a dry run
    that disagrees with the run). Ties are found with Polars' own hashes (cheap: the lines of one
    order share a time but rarely differ in the order's fields); only those rows are hashed for good.
    `shared` (`shared_identities`): for an identity, the rows that may share it with another row;
    only they can share it and a time."""
    found = []
    for identity, content in groups:
        within = (shared or {}).get(tuple(identity))
        if within is None:
            g = flat.select(row_hash([*identity, "__ts"]).alias("g"))["g"]
            is_tied = duplicated(g)
            candidates, candidate_groups = is_tied.arg_true(), g.filter(is_tied)  # few, except lines of an order
        else:
            rows = within.arg_true()
            g = flat.select([*identity, "__ts"])[rows].select(row_hash([*identity, "__ts"]).alias("g"))["g"]
            is_tied = duplicated(g)
            candidates, candidate_groups = rows.filter(is_tied), g.filter(is_tied)
        if candidates.len():
            # The content hashed for the candidates alone (a row's hash is its own values'): hashing
            # every row's content cost most of this function on a window of customers.
            pairs = pl.concat([candidate_groups.to_frame(), flat[candidates].select(row_hash(content).alias("v"))], how="horizontal")
            differs = pairs.select(pl.col("v").min().over("g") != pl.col("v").max().over("g")).to_series()
            found.append(candidates.filter(differs))
    where = pl.concat(found).unique().sort() if found else pl.Series(dtype=pl.UInt32)
    ties = pl.zeros(flat.height, pl.Int64, eager=True).alias("__tie")  # signed: pandera's failure cases build Int64 series
    if not where.len():
        return ties
    hashed = flat[where].select(pl.struct(content_columns(flat)).struct.json_encode().alias("__json")).select(
        plh.col("__json").nchash.xxh3_64().reinterpret(signed=True)).to_series()
    return ties.scatter(where, hashed)


def row_hash(columns: list[str]) -> pl.Expr:
    """A cheap hash of a row's values in `columns` (Polars' per-column hashes, seeded by position,
    summed: a struct's hash costs several times more). For finding ties only: not stable across
    Polars releases, and a collision only adds or misses a tie among rows of one time."""
    return pl.sum_horizontal([pl.col(c).hash(seed=i) for i, c in enumerate(columns)])


def content_columns(flat: pl.DataFrame) -> list[str]:
    """What a row says: its payload columns and its child key."""
    return [c for c in flat.columns if not c.startswith("__") or c == "__child_key"]


def stale_rows(rows: pl.DataFrame, ident: pl.Expr, present: pl.Expr | None = None, may_share: pl.Expr | None = None) -> pl.Series:
    """`__row` of the rows whose identity `ident` (non-null `present`, by default ident itself) is
    shared, all but the newest (by the window column, then row): the superseded ones.
    `may_share`: which rows may share their identity (any superset: `shared_identities` over a
    frame `rows` was taken from); found here by default."""
    present = ident if present is None else present
    # Only the duplicated rows are sorted: most windows have few or none. Candidates by hash (5x
    # faster than hashing strings into a set); a collision only adds a row that is_last_distinct
    # below, on the real values, keeps.
    if may_share is None:
        may_share = pl.lit(duplicated(rows.select(ident.hash()).to_series()))
    shared = rows.filter(may_share & present.is_not_null())
    if not shared.height:
        return pl.Series("__row", [], pl.UInt32)
    return shared.sort(*NEWEST_LAST, nulls_last=False).filter(~ident.is_last_distinct()).get_column("__row")


def shared_identities(flat: pl.DataFrame, identities: list[list[str]]) -> dict[tuple[str, ...], pl.Series]:
    """For each identity (its columns), which rows of `flat` may share it with another row: equal
    values, or a hash collision (which only adds a row the exact steps then look at). Found once
    for the ties and the supersession both: each is a sort of the window's hashes."""
    return {tuple(cols): duplicated(flat.select(row_hash(cols)).to_series()) for cols in identities}


def duplicated(hashes: pl.Series) -> pl.Series:
    """Which of `hashes` (UInt64, never null) occur more than once: the sorted hashes equal to
    their predecessor, looked up. A third of `is_duplicated`'s CPU on a million rows (its hash
    table costs more than a sort of integers), and the same answer."""
    ordered = hashes.sort()
    return hashes.is_in(ordered.filter(ordered == ordered.shift(1)).implode())


def customer_merges(by_customer: pl.DataFrame, rows: pl.DataFrame, stale: pl.Series) -> pl.DataFrame:
    """Of the rows `stale` superseded by identity in `rows` (one row per CustomerId by then), those
    of another CustomerId than the row that won: customers the tenant merges into it. One row per
    identity (MERGES_SCHEMA); `rows` counts every row of the merged CustomerIds in `by_customer`
    (their older versions too: none of them is sent). A superseded row without a CustomerId is an
    older version of the identity, not a merge."""
    is_stale = pl.col("__row").is_in(stale.implode())
    lost = rows.filter(is_stale).select("__key", "CustomerId")
    kept = rows.filter(~is_stale & pl.col("__key").is_in(lost["__key"].unique().implode())).select(
        "__key", pl.col("CustomerId").alias("kept"))
    merged = lost.join(kept, on="__key", how="left").filter(
        pl.col("CustomerId").is_not_null() & (pl.col("CustomerId") != pl.col("kept")).fill_null(True))
    if not merged.height:
        return pl.DataFrame(schema=MERGES_SCHEMA)
    ids = merged["CustomerId"].implode()
    versions = by_customer.filter(pl.col("CustomerId").is_in(ids)).group_by("CustomerId").agg(pl.len().alias("__n"))
    return (merged.join(versions, on="CustomerId")
            .group_by("__key").agg(pl.col("kept").first(), pl.col("CustomerId").sort().alias("merged"), pl.col("__n").sum().alias("rows"))
            .rename({"__key": "identity"}).sort("identity").select(MERGES_SCHEMA.names()).cast(MERGES_SCHEMA))
