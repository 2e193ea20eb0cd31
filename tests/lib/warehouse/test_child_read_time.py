"""A child row read from its own file source is of its own time (READ_TS: the child's window value,
its parent's only when it has none): the newest version of a variant is the one sent, whatever
its content, and each row carries the time the window and lookback judge it by."""

from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest
from helpers import payloads

from replenit_pipelines.lib.validation import prepare
from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.frames import READ_TS, read_frames

T0 = datetime(2026, 12, 1, 10)
ALL = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def test_the_newest_version_of_a_variant_in_its_own_file_is_sent(tmp_path):
    pl.DataFrame({"product_id": ["p1"], "name": ["Kettle"], "updated_at": [T0]}).write_parquet(tmp_path / "products.parquet")
    # v1's newer version has the smaller price: by content alone the older one would win.
    pl.DataFrame(
        {
            "variant_id": ["v1", "v1", "v2"],
            "product_id": ["p1", "p1", "p1"],
            "price": [9.0, 5.0, 7.0],
            "updated_at": [T0 + timedelta(hours=1), T0 + timedelta(hours=2), None],
        }
    ).write_parquet(tmp_path / "variants.parquet")
    mapping = entity_mapping_from_dict(
        "products",
        {
            "source": {"path": str(tmp_path / "products.parquet"), "window_column": "updated_at"},
            "fields": {"ProductId": "product_id", "ProductName": "name"},
            "ProductVariants": {
                "source": {"path": str(tmp_path / "variants.parquet"), "window_column": "updated_at"},
                "parent_key": "product_id",
                "key": "variant_id",
                "fields": {"VariantId": "variant_id", "SalePrice": "price", "Currency": {"constant": "EUR"}},
            },
        },
    )
    rows = read_frames(Warehouse(None), mapping, *ALL)
    variant, price = "<ProductVariants.VariantId>", "<ProductVariants.SalePrice>"  # the child columns as mapped
    times = {(r[variant], r[price]): r[READ_TS] for r in rows.iter_rows(named=True)}
    assert times == {
        ("v1", 9.0): datetime(2026, 12, 1, 11, tzinfo=UTC),
        ("v1", 5.0): datetime(2026, 12, 1, 12, tzinfo=UTC),
        ("v2", 7.0): datetime(2026, 12, 1, 10, tzinfo=UTC),
    }  # v2 has no time of its own: its parent's
    [product] = payloads(prepare(mapping, rows))
    assert {v["VariantId"]: v["SalePrice"] for v in product["ProductVariants"]} == {"v1": 5.0, "v2": 7.0}


@pytest.mark.parametrize("kind", ["path", "table"])
def test_a_naive_window_column_of_a_normalized_source_is_read_in_the_sources_time_zone(tmp_path, kind):
    # Berlin's wall clock (UTC+1 in December): p1 changed at 10:30 local (09:30 UTC), p2 at 11:30
    # local (10:30 UTC). The UTC hour 09:00-10:00 is p1's alone; read as UTC it would be neither's.
    times = [T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)]
    products = pl.DataFrame({"product_id": ["p1", "p2"], "name": ["Kettle", "Toaster"], "updated_at": times})
    variants = pl.DataFrame({"variant_id": ["v1", "v2"], "product_id": ["p1", "p2"], "price": [9.0, 7.0], "updated_at": times})
    if kind == "path":
        products.write_parquet(tmp_path / "products.parquet")
        variants.write_parquet(tmp_path / "variants.parquet")
        warehouse, where = Warehouse(None), {t: {"path": str(tmp_path / f"{t}.parquet")} for t in ("products", "variants")}
    else:  # DuckDB tables: the window is pushed into the scan in the column's own terms
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            con.register("p", products.to_arrow())
            con.register("v", variants.to_arrow())
            con.execute("CREATE TABLE products AS SELECT * FROM p; CREATE TABLE variants AS SELECT * FROM v")
        warehouse, where = Warehouse(tmp_path / "w.duckdb"), {t: {"table": t} for t in ("products", "variants")}
    mapping = entity_mapping_from_dict(
        "products",
        {
            "source": {**where["products"], "window_column": "updated_at", "timezone": "Europe/Berlin"},
            "fields": {"ProductId": "product_id", "ProductName": "name"},
            "ProductVariants": {
                "source": {**where["variants"], "window_column": "updated_at", "timezone": "Europe/Berlin"},
                "parent_key": "product_id",
                "key": "variant_id",
                "fields": {"VariantId": "variant_id", "SalePrice": "price", "Currency": {"constant": "EUR"}},
            },
        },
    )
    assert mapping.read_by_frames
    hour = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert set(read_frames(warehouse, mapping, hour, hour + timedelta(hours=1))["product_id"]) == {"p1"}
    assert set(read_frames(warehouse, mapping, hour + timedelta(hours=1), hour + timedelta(hours=2))["product_id"]) == {"p2"}
