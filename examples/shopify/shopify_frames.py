"""Python sources for examples/shopify/mapping.yaml: Shopify's nested arrays as one row per child.

A `path:` source reads a file as it is: one row per order, its `line_items` a list column. The API
wants one child row per line, so the lines (and the products' variants) come from these functions,
named in the mapping as `python: shopify_frames:order_lines` (docs/configuration.md, "Python
sources"). Each returns a LazyFrame over the export: Polars explodes the array and unnests each
element's fields beside its parent's id; the run filters nothing here (children have no window).
The export's folder is `export/` beside this file, or SHOPIFY_EXPORT.
"""

import os
from pathlib import Path

import polars as pl


def export_dir() -> Path:
    return Path(os.environ.get("SHOPIFY_EXPORT") or Path(__file__).parent / "export")


def order_lines() -> pl.LazyFrame:
    """One row per line item: the order's id (`order_id`) beside the line's own fields."""
    orders = pl.scan_ndjson(export_dir() / "orders.ndjson")
    return (orders.select(pl.col("id").alias("order_id"), "line_items")
            .explode("line_items").unnest("line_items")
            .rename({"id": "line_id"}))


def product_variants() -> pl.LazyFrame:
    """One row per variant: the product's id (`product_id`) beside the variant's own fields."""
    products = pl.scan_parquet(export_dir() / "products.parquet")
    return (products.select(pl.col("id").alias("product_id"), "variants")
            .explode("variants").unnest("variants")
            .rename({"id": "variant_id"}))
