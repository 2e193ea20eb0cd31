"""A child row read from its own file source is of its own time (READ_TS: the child's window value,
its parent's only when it has none): the newest version of a variant is the one sent, whatever
its content, and each row carries the time the window and lookback judge it by."""

from datetime import UTC, datetime, timedelta

import polars as pl
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
