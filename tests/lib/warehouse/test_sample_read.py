"""A sample's records read whole (lib/warehouse/sample.py read_sample, `replenit sync --sample N` and
`--identity`): the first N record keys in text order, or the asked ones, with every row of each
(an order with all its lines, whatever their time); asked keys the source lacks are named. A
DuckDB table, a query over it and the same rows in a Parquet file give the same sample."""

from datetime import datetime

import duckdb
import polars as pl
import pytest

from replenit_pipelines.lib.warehouse import MappingError, Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.sample import read_sample

LINES = pl.DataFrame(
    {
        "order_id": [10, 2, 2, 10, 7, None, 30],  # text order of the keys: 10, 2, 30, 7
        "product_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7"],
        "qty": [1, 2, 3, 4, 5, 6, 7],
        "updated_at": [
            datetime(2026, 12, 1),
            datetime(2025, 1, 1),
            None,
            datetime(2026, 12, 2),
            datetime(2026, 12, 3),
            datetime(2026, 12, 4),
            datetime(2026, 12, 5),
        ],
    }
)


# A query source reads its rows for a sample over all time: its $start, $end and $all bound as such.
WINDOWED = "SELECT * FROM order_lines WHERE $all OR (updated_at >= $start AND updated_at < $end)"


@pytest.fixture(params=["table", "parquet", "query"])
def orders(request, tmp_path):
    if request.param == "parquet":
        LINES.write_parquet(tmp_path / "lines.parquet")
        warehouse, source = Warehouse(None), {"path": str(tmp_path / "lines.parquet")}
    else:
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            con.execute("CREATE TABLE order_lines AS SELECT * FROM LINES")
        warehouse = Warehouse(tmp_path / "w.duckdb")
        source = {"table": "order_lines"} if request.param == "table" else {"query": WINDOWED}
    mapping = entity_mapping_from_dict(
        "orders",
        {"source": source, "fields": {"OrderId": "order_id"}, "OrderItems": {"fields": {"ProductId": "product_id", "Quantity": "qty"}}},
    )
    return warehouse, mapping


def test_the_first_keys_in_text_order_with_every_line_of_each(orders):
    sample = read_sample(*orders, n=2)
    assert (sample.keys, sample.missing, sample.key_column) == (["10", "2"], [], "order_id")
    assert sorted(sample.rows["product_id"]) == ["p1", "p2", "p3", "p4"]  # old and undated lines too


def test_a_sample_of_one_is_the_first_key_and_of_none_is_refused(orders):
    sample = read_sample(*orders, n=1)
    assert (sample.keys, sorted(sample.rows["product_id"])) == (["10"], ["p1", "p4"])
    with pytest.raises(ValueError, match=r"^--sample must be at least 1, not 0$"):
        read_sample(*orders, n=0)


def test_asked_identities_are_read_whole_and_the_absent_ones_named(orders):
    sample = read_sample(*orders, identities=["7", "99", "2"])
    assert (sample.keys, sample.missing) == (["2", "7"], ["99"])
    assert sorted(sample.rows["product_id"]) == ["p2", "p3", "p5"]


def test_customers_known_by_an_expr_only_cannot_be_sampled_and_the_error_says_what_to_map():
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "customers"},
                                                     "fields": {"Email": {"expr": "lower(email)"}}}, origin="mapping.yaml")
    with pytest.raises(MappingError) as info:
        read_sample(Warehouse(None), mapping, n=2)
    assert str(info.value) == ("mapping.yaml: customers: a sample picks records by the column behind CustomerId or Email, "
                               "and this mapping computes it (an expr or a constant): map it to a column to sample")


@pytest.mark.parametrize("asked", [{}, {"n": 1, "identities": ["10"]}], ids=["neither", "both"])
def test_a_sample_asked_by_neither_or_both_of_n_and_identities_is_refused(orders, asked):
    with pytest.raises(ValueError, match=r"^read_sample: give either n or identities$"):
        read_sample(*orders, **asked)
