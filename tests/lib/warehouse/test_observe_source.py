"""A warehouse table observed without reading its rows (lib/warehouse/observe.py, the observable
source assets' look): its row count and its newest update, in UTC, from the window column where the
source lives; no window column, no newest update. A query or a Python source is not observed (it
would have to run), and saying so names it."""

from datetime import UTC, datetime

import polars as pl
import pytest
from helpers import duckdb_warehouse

from replenit_pipelines.lib.warehouse import Warehouse
from replenit_pipelines.lib.warehouse.mapping import SourceSpec
from replenit_pipelines.lib.warehouse.observe import SourceObservation, observe_source


def warehouse(tmp_path) -> Warehouse:
    return duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE customers (customer_id VARCHAR, updated_at TIMESTAMP, signed_up DATE)",
        "INSERT INTO customers VALUES ('c1', '2026-12-07 03:10:00', '2026-12-01'), "
            "('c2', '2026-12-07 01:00:00', '2026-12-05'), ('c3', NULL, NULL)",
    )


def test_a_table_gives_its_row_count_and_newest_update_in_utc(tmp_path):
    seen = observe_source(warehouse(tmp_path), SourceSpec(table="customers", timezone="Europe/Berlin"))
    # Naive times are Berlin's (UTC+1 in December): 03:10 there is 02:10 UTC.
    assert seen == SourceObservation(3, datetime(2026, 12, 7, 2, 10, tzinfo=UTC))


def test_a_date_window_column_is_midnight_where_the_source_lives(tmp_path):
    seen = observe_source(warehouse(tmp_path), SourceSpec(table="customers", window_column="signed_up", timezone="Europe/Berlin"))
    assert seen == SourceObservation(3, datetime(2026, 12, 4, 23, tzinfo=UTC))


def test_a_table_without_a_window_column_gives_its_row_count_alone(tmp_path):
    assert observe_source(warehouse(tmp_path), SourceSpec(table="customers", window_column=None)) == SourceObservation(3, None)


def test_a_file_is_observed_the_same_way(tmp_path):
    path = tmp_path / "customers.parquet"
    pl.DataFrame({"customer_id": ["c1", "c2"], "updated_at": [datetime(2026, 12, 7, 3), datetime(2026, 12, 6)]}).write_parquet(path)
    wh = Warehouse(tmp_path / "absent.duckdb")
    assert observe_source(wh, SourceSpec(path=str(path))) == SourceObservation(2, datetime(2026, 12, 7, 3, tzinfo=UTC))
    assert observe_source(wh, SourceSpec(path=str(path), window_column=None)) == SourceObservation(2, None)


@pytest.mark.parametrize(("src", "named"), [(SourceSpec(query="SELECT 1 AS x"), "the source query"), (SourceSpec(python="crm:frame"), "python crm:frame")])
def test_a_query_or_a_python_source_is_refused_by_name(tmp_path, src, named):
    with pytest.raises(ValueError) as info:
        observe_source(warehouse(tmp_path), src)
    assert str(info.value) == f"{named} is not observed: only tables and files are"
