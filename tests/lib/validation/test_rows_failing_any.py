"""The one-pass search for failing rows (schemas.rows_failing_any) that narrows what pandera judges:
it must find every row pandera would fail, on the demo warehouse's dirty rows of every entity
(each kind of bad value it plants), and stand aside (None) where it cannot judge."""

from datetime import UTC, datetime, timedelta

import pandera.polars as pa
import polars as pl
import pytest

from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.validation.prepare import map_rows
from replenit_pipelines.lib.validation.schemas import checks_for, rows_failing_any
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("failing") / "demo.duckdb"
    build_demo_warehouse(path, customers=3000, seed=5, days=2, end=END, dirty_share=0.05)
    return path


def pandera_failing_rows(flat: pl.DataFrame, entity: str) -> set[int]:
    try:
        checks_for(load_mapping(DEMO_MAPPING)[entity].spec).schema.validate(flat, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return set(flat["__row"].gather(exc.failure_cases["index"].drop_nulls().cast(pl.UInt32)).to_list())
    return set()


@pytest.mark.parametrize("entity", ["customers", "orders", "products"])
def test_the_one_pass_finds_exactly_the_rows_pandera_fails(demo_db, entity):
    mapping = load_mapping(DEMO_MAPPING)[entity]
    flat = map_rows(mapping, Warehouse(demo_db).read(mapping, END - timedelta(days=2), END)).flat
    failing = rows_failing_any(flat, checks_for(mapping.spec))
    assert failing is not None and failing.len() == flat.height
    expected = pandera_failing_rows(flat, entity)
    assert expected, "the demo's dirty rows fail some rule"
    assert set(flat["__row"].filter(failing).to_list()) == expected


def test_a_column_of_another_dtype_leaves_the_whole_frame_to_pandera():
    mapping = load_mapping(DEMO_MAPPING)["customers"]
    flat = pl.DataFrame({"__row": pl.Series([0, 1], dtype=pl.UInt32), "CustomerId": [1, 2], "Email": ["a@example.com", None]})
    assert rows_failing_any(flat, checks_for(mapping.spec)) is None
