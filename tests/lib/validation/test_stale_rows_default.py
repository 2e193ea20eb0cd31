"""supersede.stale_rows without `may_share`: it finds which rows may share their identity itself,
and supersedes the same rows as when it is given (prepare always gives it)."""

import polars as pl

from replenit_pipelines.lib.validation.supersede import duplicated, stale_rows

ROWS = pl.DataFrame(
    {
        "__row": pl.Series([0, 1, 2, 3, 4, 5], dtype=pl.UInt32),
        "__ts": [1, 3, 2, 1, 5, 4],
        "__tie": [0, 0, 0, 0, 0, 0],
        "id": ["a", "a", "a", "b", None, None],
    }
)


def test_the_older_versions_of_a_shared_identity_are_stale_without_may_share():
    # a's rows 0 and 2 are older than row 1; b is alone; rows without an identity share none.
    assert sorted(stale_rows(ROWS, pl.col("id")).to_list()) == [0, 2]


def test_the_default_finds_what_a_given_may_share_would():
    given = pl.lit(duplicated(ROWS.select(pl.col("id").hash()).to_series()))
    assert sorted(stale_rows(ROWS, pl.col("id"), may_share=given).to_list()) == sorted(stale_rows(ROWS, pl.col("id")).to_list())
