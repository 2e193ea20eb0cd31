"""`read_frames_whole`, every row of a customer mapping read by frames: in chunks without a chunking
given, it finds the customers' chunking itself, so every version of a customer (an older row under
another CustomerId, the same email) is in one chunk, and the chunks together are every row once; a
table without a window column is read with a NULL time of the type every read's time has (a UTC
datetime). Real DuckDB files."""

from datetime import UTC, datetime

import polars as pl
import pytest
from helpers import duckdb_warehouse

from replenit_pipelines.lib.warehouse import entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.chunks import read_frames_whole
from replenit_pipelines.lib.warehouse.mapping import READ_TS


@pytest.mark.parametrize("chunks", [2, 3])
def test_chunks_read_without_a_chunking_keep_each_customers_versions_together(tmp_path, chunks):
    values = [f"('N{i}', 'pair{i}@x.com', '2026-06-01T12:00:00Z'), ('O{i}', 'PAIR{i}@X.COM', '2026-01-01T12:00:00Z')" for i in range(12)]
    warehouse = duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE customers (id VARCHAR, email VARCHAR, updated_at VARCHAR)",
        f"INSERT INTO customers VALUES {', '.join(values)}, ('solo', NULL, NULL)",  # noqa: S608 - test rows
    )
    mapping = entity_mapping_from_dict(
        "customers",
        {
            "source": {"table": "customers", "window_column": {"column": "updated_at", "format": "iso8601"}},
            "fields": {"CustomerId": "id", "Email": "email"},
        },
    )
    assert mapping.read_by_frames
    parts = [read_frames_whole(warehouse, mapping, chunk, chunks) for chunk in range(chunks)]
    every = pl.concat(parts)
    assert sorted(every["id"].to_list()) == sorted([f"N{i}" for i in range(12)] + [f"O{i}" for i in range(12)] + ["solo"])
    for i in range(12):
        # The tenant matches by email (the default priority): N{i} and O{i} are one customer.
        assert [sorted(c.filter(pl.col("email").str.to_lowercase() == f"pair{i}@x.com")["id"]) for c in parts].count(
            [f"N{i}", f"O{i}"]
        ) == 1, i
    assert sum(1 for c in parts if c.height) > 1  # the customers are spread over the chunks


def test_a_table_without_a_window_column_is_read_whole_with_a_null_utc_time(tmp_path):
    warehouse = duckdb_warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE customer (id VARCHAR, email VARCHAR, changed TIMESTAMP)",
        "INSERT INTO customer VALUES ('c1', 'a@x.com', '2026-11-26 10:00'), ('c2', 'b@x.com', NULL)",
    )

    def customers(window_column):
        return entity_mapping_from_dict(
            "customers", {"source": {"table": "customer", "window_column": window_column}, "fields": {"CustomerId": "id", "Email": "email"}}
        )

    assert customers(None).read_by_frames
    rows = read_frames_whole(warehouse, customers(None))
    assert rows.select("id", READ_TS).rows() == [("c1", None), ("c2", None)]
    # The type a window column's time has (a UTC datetime): the reads of both concatenate.
    timed = read_frames_whole(warehouse, customers("changed"))
    assert rows.schema[READ_TS] == timed.schema[READ_TS] == pl.Datetime("us", "UTC")
    assert timed[READ_TS].to_list() == [datetime(2026, 11, 26, 10, tzinfo=UTC), None]
