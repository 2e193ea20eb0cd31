"""A Shopify-style export (NDJSON and Parquet files with nested arrays: line items, variants,
addresses; built from TPC-H by examples/shopify/export.py) through examples/shopify/mapping.yaml:
files read by Polars (`path:` sources), the arrays turned into child rows by the example's
`python:` sources. Every stored record equals what DuckDB reads from the files themselves
(tests/world/reference.py), and an unchanged export costs nothing the second time."""

import math
import shutil
import sys

import pytest
import reference
from conftest import EXAMPLES

from replenit_pipelines.lib.contract.entities import ENTITIES


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The example's mapping and Python sources beside an export built from TPC-H sf 0.002
    (300 customers, 400 products, 3,000 orders with 11,957 lines)."""
    import tpcgen
    from shopify.export import build

    folder = tmp_path_factory.mktemp("shop")
    for name in ("mapping.yaml", "shopify_frames.py"):
        shutil.copy(EXAMPLES / "shopify" / name, folder / name)
    build(tpcgen.warehouse("tpch", 0.002), folder / "export")
    return folder


def test_a_shopify_export_with_nested_arrays_is_stored_as_the_files_say(world, shop, monkeypatch, request):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the mapping's Python sources are imported from its folder ...
    request.addfinalizer(lambda: sys.modules.pop("shopify_frames", None))  # ... and forgotten after the test
    monkeypatch.delenv("SHOPIFY_EXPORT", raising=False)
    world.use(None, shop / "mapping.yaml")
    expected = reference.shopify(str(shop / "export"))
    assert len(expected["orders"]) == 3000 and sum(len(o["OrderItems"]) for o in expected["orders"].values()) == 11957
    assert any(o["Status"] == "cancelled" for o in expected["orders"].values())
    # Half the customers have no phone of their own: theirs is their default address's (of 1 to 3).
    assert all(c["Phone"].startswith("+") for c in expected["customers"].values())
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        records = len(expected[entity])
        assert (code, counts["records_sent"], counts["rows_quarantined"], counts["rows_superseded"]) == (0, records, 0, 0)
        assert len(sent) == math.ceil(records / ENTITIES[entity].hard_max)
        result = reference.compare(world.stored(entity), expected[entity])
        assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity
