"""A superseded row (an older or duplicate version of a record's row) leaves before the checks over
a record's rows: the quarantine never names it, so its rows add up (read = valid + quarantined +
superseded, each quarantined row named once). Found by the property test (test_properties.py) on a
mutant; here as one fixed case."""

from datetime import UTC, datetime

import polars as pl
from helpers import PRODUCT_MAPPING

from replenit_pipelines.lib.validation import prepare

T = datetime(2020, 1, 1, tzinfo=UTC)
SCHEMA = {
    "product_id": pl.String,
    "name": pl.String,
    "variant_id": pl.String,
    "price": pl.Float64,
    "currency": pl.String,
    "url": pl.String,
    "locale": pl.String,
    "updated_at": pl.Datetime("us", "UTC"),
}


def row(product: str, variant: str | None, url: str | None = None) -> dict:
    return {
        "product_id": product,
        "name": None,
        "variant_id": variant,
        "price": None,
        "currency": None,
        "url": url,
        "locale": None,
        "updated_at": T,
    }


def test_a_duplicate_row_without_a_variant_is_superseded_not_quarantined():
    # p2: a variant with a bad URL, and one row without a variant written twice (the second a duplicate).
    rows = [row("p1", "v1")] * 4 + [row("p2", "v1", "shop.example.com"), row("p2", None), row("p2", None)]
    p = prepare(PRODUCT_MAPPING, pl.DataFrame(rows, schema=SCHEMA))
    assert (p.rows_read, p.rows_valid, p.rows_quarantined, p.rows_superseded) == (7, 1, 2, 4)
    assert p.records["ProductId"].to_list() == ["p1"]
    named = set(p.quarantine["source_row"])
    assert len(named) == p.rows_quarantined == 2 and 4 in named and named <= {4, 5, 6}
