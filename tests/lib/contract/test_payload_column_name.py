"""The payload column is named `payload` whatever the frame holds: records with fields, and a frame
of bookkeeping columns only (one `{}` a row)."""

import polars as pl
from polars.testing import assert_series_equal

from replenit_pipelines.lib.validation import payload_column


def test_the_payload_column_is_named_payload_with_fields_and_without():
    frame = pl.DataFrame({"__key": ["a", "b"], "CustomerId": ["c1", "c2"]})
    assert_series_equal(payload_column(frame), pl.Series("payload", [b'{"CustomerId":"c1"}', b'{"CustomerId":"c2"}'], dtype=pl.Binary))
    assert_series_equal(payload_column(frame.select("__key")), pl.Series("payload", [b"{}", b"{}"], dtype=pl.Binary))


def test_an_empty_window_has_an_empty_binary_payload_column_with_fields_and_without():
    # No rows: still the Binary column the diff gathers from and the ledger stores, not Polars'
    # Null dtype of an empty list.
    frame = pl.DataFrame({"__key": ["a"], "CustomerId": ["c1"]}).clear()
    assert_series_equal(payload_column(frame), pl.Series("payload", [], dtype=pl.Binary))
    assert_series_equal(payload_column(frame.select("__key")), pl.Series("payload", [], dtype=pl.Binary))
