"""Customers known by an expr only (no plain CustomerId or Email column to look a record up by), in a
mapping read by frames (lib/warehouse/frames.py read_frames): a window reads the rows whose time is
in it, nothing else, whether the source is a DuckDB table or a file."""

from datetime import UTC, datetime

import duckdb
import polars as pl
import pytest

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict

START, END = datetime(2026, 12, 7, 3, tzinfo=UTC), datetime(2026, 12, 7, 4, tzinfo=UTC)
ROWS = pl.DataFrame(
    {
        "email": ["IN@x.com", "in.too@x.com", "before@x.com", "after@x.com", "no.time@x.com"],
        # Text times: the window column is converted, so the mapping is read by frames.
        "changed": ["2026-12-07T03:00:00Z", "2026-12-07T03:59:59Z", "2026-12-07T02:59:59Z", "2026-12-07T04:00:00Z", None],
    }
)


@pytest.fixture(params=["table", "parquet"])
def source(request, tmp_path):
    if request.param == "parquet":
        ROWS.write_parquet(tmp_path / "customers.parquet")
        return Warehouse(None), {"path": str(tmp_path / "customers.parquet")}
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE customers AS SELECT * FROM ROWS")
    return Warehouse(path), {"table": "customers"}


def test_a_window_reads_only_its_own_rows(source):
    warehouse, where = source
    mapping = entity_mapping_from_dict(
        "customers",
        {"source": {**where, "window_column": {"column": "changed", "format": "iso8601"}}, "fields": {"Email": {"expr": "lower(email)"}}},
    )
    assert mapping.read_by_frames
    frame = warehouse.read(mapping, START, END)
    assert sorted(frame["email"]) == ["IN@x.com", "in.too@x.com"]
