"""prepare's `lookback_before`: the rows of records whose newest change is before the partition's
start (read by the run's lookback) are counted apart; and the quarantine's top reasons, ten by
default; a field whose column has a type no cast reads fails the whole frame, saying to add a cast."""

from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest

from replenit_pipelines.lib.validation import prepare
from replenit_pipelines.lib.warehouse import MappingError, entity_mapping_from_dict
from tests.helpers import CUSTOMER_MAPPING, ORDER_MAPPING, TS, customer_rows, order_rows, run


def test_records_changed_before_the_partition_are_counted_as_the_lookbacks():
    rows = [
        customer_rows(id="c1", email="a@example.com", updated_at=TS - timedelta(hours=2)),
        customer_rows(id="c2", email="b@example.com", updated_at=TS),
    ]
    prepared = run(CUSTOMER_MAPPING, rows, lookback_before=TS - timedelta(hours=1))
    assert prepared.lookback_rows["rows_valid"] == 1
    assert prepared.records.sort("__key")["__lookback"].to_list() == [True, False]
    assert run(CUSTOMER_MAPPING, rows).lookback_rows == {}


def test_a_date_window_column_counts_a_record_by_its_newest_day():
    # o1's lines both changed two days before the partition's day: the lookback's. o2 has one line
    # changed on the partition's day itself, so the whole order is the window's.
    rows = order_rows(order_id="o1", updated_at=date(2026, 11, 24)) + order_rows(order_id="o2", updated_at=date(2026, 11, 24))
    rows[3]["updated_at"] = date(2026, 11, 26)
    prepared = run(ORDER_MAPPING, rows, lookback_before=TS)
    assert prepared.lookback_rows == {"rows_read": 2, "rows_valid": 2, "rows_quarantined": 0, "rows_superseded": 0}
    assert prepared.records.sort("__key")["__lookback"].to_list() == [True, False]


def test_a_text_window_column_counts_nothing_as_the_lookbacks_but_still_counts_the_lookback():
    # A text (or epoch) window value is no time prepare compares: every record is the window's, and
    # the lookback's counts are there, all 0 (not missing, as for a run without a lookback).
    rows = [
        customer_rows(id="c1", email="a@example.com", updated_at="2026-11-24 10:00"),
        customer_rows(id="c2", email="b@example.com", updated_at="2026-11-26 10:00"),
    ]
    prepared = run(CUSTOMER_MAPPING, rows, lookback_before=TS)
    assert prepared.lookback_rows == {"rows_read": 0, "rows_valid": 0, "rows_quarantined": 0, "rows_superseded": 0}
    assert prepared.records["__lookback"].to_list() == [False, False]


def test_a_record_without_a_window_value_is_the_windows_not_the_lookbacks():
    rows = [
        customer_rows(id="c1", email="a@example.com", updated_at=None),
        customer_rows(id="c2", email="b@example.com", updated_at=TS - timedelta(hours=2)),
        customer_rows(id="c3", email="c@example.com", updated_at=TS),
    ]
    prepared = run(CUSTOMER_MAPPING, rows, lookback_before=TS - timedelta(hours=1))
    assert prepared.lookback_rows == {"rows_read": 1, "rows_valid": 1, "rows_quarantined": 0, "rows_superseded": 0}
    assert prepared.records.sort("__key")["__lookback"].to_list() == [False, True, False]


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


def test_a_struct_mapped_to_a_bool_field_fails_the_whole_frame_with_what_to_write():
    mapping = entity_mapping_from_dict(
        "customers", {"source": {"table": "t", "window_column": "updated_at"}, "fields": {"CustomerId": "id", "GdprOptin": "g"}}
    )
    with pytest.raises(MappingError) as caught:
        prepare(mapping, pl.DataFrame({"id": ["c1"], "g": [{"a": True}], "updated_at": [TS]}))
    assert str(caught.value) == (
        "<python>: customers.GdprOptin (column g) is Struct({'a': Boolean}), which GdprOptin (bool) takes as one value: "
        'no cast picks one out of it; pick it with an expr, e.g. GdprOptin: {expr: "g.a"} (a struct\'s field by name)'
    )


def test_a_row_without_an_identity_in_a_zoned_window_column_is_the_lookbacks_by_its_own_instant():
    # A window column with its own zone (a Parquet or CSV source's TIMESTAMP WITH TIME ZONE in
    # Europe/Berlin): a row with neither CustomerId nor Email has no record to take its newest
    # change from, so its own time decides, compared as an instant with the partition's start (UTC).
    rows = [
        customer_rows(id=None, email=None, updated_at=TS - timedelta(minutes=30)),  # 11:30 UTC, 12:30 in Berlin
        customer_rows(id="c2", email="b@example.com", updated_at=TS + timedelta(minutes=30)),
    ]
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.col("updated_at").dt.convert_time_zone("Europe/Berlin"))
    assert frame.schema["updated_at"] == pl.Datetime("us", "Europe/Berlin")
    prepared = prepare(CUSTOMER_MAPPING, frame, lookback_before=TS - timedelta(hours=1))  # 11:00 UTC
    # the identity-less row is quarantined (required) and, at 11:30 UTC, after 11:00: the window's
    assert prepared.lookback_rows == {"rows_read": 0, "rows_valid": 0, "rows_quarantined": 0, "rows_superseded": 0}
    assert prepared.rows_quarantined == 1
    earlier = prepare(CUSTOMER_MAPPING, frame, lookback_before=TS)  # 12:00 UTC: 11:30 UTC is before it (12:30 in Berlin is not)
    assert earlier.lookback_rows["rows_quarantined"] == 1 and earlier.lookback_rows["rows_read"] == 1
