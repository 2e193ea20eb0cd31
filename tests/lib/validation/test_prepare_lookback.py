"""prepare's `lookback_before`: the rows of records whose newest change is before the partition's
start (read by the run's lookback) are counted apart; and the quarantine's top reasons, ten by
default."""

from dataclasses import replace
from datetime import timedelta

import polars as pl

from tests.helpers import CUSTOMER_MAPPING, TS, customer_rows, run


def test_records_changed_before_the_partition_are_counted_as_the_lookbacks():
    rows = [
        customer_rows(id="c1", email="a@example.com", updated_at=TS - timedelta(hours=2)),
        customer_rows(id="c2", email="b@example.com", updated_at=TS),
    ]
    prepared = run(CUSTOMER_MAPPING, rows, lookback_before=TS - timedelta(hours=1))
    assert prepared.lookback_rows["rows_valid"] == 1
    assert prepared.records.sort("__key")["__lookback"].to_list() == [True, False]
    assert run(CUSTOMER_MAPPING, rows).lookback_rows == {}


def test_top_reasons_are_the_ten_most_frequent_by_default():
    prepared = run(CUSTOMER_MAPPING, [customer_rows()])
    quarantine = pl.DataFrame(
        {
            "record_id": "c1",
            "source_row": pl.Series(range(12), dtype=pl.UInt32),
            "rule": "format",
            "field": [f"F{i}" for i in range(12)],
            "value": "x",
        }
    )
    top = replace(prepared, quarantine=quarantine).top_reasons()
    assert top.height == 10
    assert top.columns == ["rule", "field", "rows", "example"]
