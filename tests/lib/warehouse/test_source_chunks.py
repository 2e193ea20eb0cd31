"""A whole file source read in chunks (lib/warehouse/chunks.py read_source_chunk, the reconciliation's
reader): every row in exactly one chunk, a record's rows (and rows without a key) together; with one
chunk, or no key column to split by, chunk 0 holds every row and the others none."""

from datetime import datetime

import duckdb
import polars as pl
import pytest

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.chunks import read_source_chunk

T = datetime(2026, 12, 1, 12)
PRODUCT_ROWS = [
    *({"product_id": f"P{i % 7}", "variant_id": f"V{i}", "price": 1.0 + i, "updated_at": T} for i in range(40)),
    {"product_id": None, "variant_id": "V-orphan-1", "price": 2.0, "updated_at": T},
    {"product_id": None, "variant_id": "V-orphan-2", "price": 3.0, "updated_at": T},
]


@pytest.fixture
def products(tmp_path):
    path = tmp_path / "variants.parquet"
    pl.DataFrame(PRODUCT_ROWS).write_parquet(path)
    return entity_mapping_from_dict(
        "products",
        {
            "source": {"path": str(path)},
            "fields": {"ProductId": "product_id"},
            "ProductVariants": {"fields": {"VariantId": "variant_id", "SalePrice": "price"}},
        },
    )


def chunked(mapping, chunks: int, columns=None) -> list[pl.DataFrame]:
    return [read_source_chunk(Warehouse(None), mapping, chunk, chunks, columns=columns) for chunk in range(chunks)]


def test_a_file_split_by_its_record_key_holds_each_row_once_and_a_record_in_one_chunk(products):
    parts = chunked(products, 3)
    assert sorted(pl.concat(parts)["variant_id"]) == sorted(r["variant_id"] for r in PRODUCT_ROWS)
    assert sum(p.height > 0 for p in parts) >= 2  # split, not all in one
    homes = pl.concat([p.with_columns(chunk=pl.lit(i)) for i, p in enumerate(parts)])
    assert homes.drop_nulls("product_id").group_by("product_id").agg(pl.col("chunk").n_unique())["chunk"].max() == 1
    assert homes.filter(pl.col("product_id").is_null())["chunk"].to_list() == [0, 0]  # no key: chunk 0


def test_one_chunk_of_a_file_is_every_row_of_the_columns_asked_for(products):
    [whole] = chunked(products, 1, columns=["variant_id"])
    assert whole.columns == ["variant_id"] and whole.height == len(PRODUCT_ROWS)


def test_a_file_without_a_key_column_is_read_whole_by_chunk_0(tmp_path):
    path = tmp_path / "customers.parquet"
    pl.DataFrame({"email": ["a@x.com", "b@x.com", "c@x.com"], "updated_at": [T] * 3}).write_parquet(path)
    # Email from an expr: no plain column to look a customer up by, so nothing to split by.
    mapping = entity_mapping_from_dict("customers", {"source": {"path": str(path)}, "fields": {"Email": {"expr": "lower(email)"}}})
    assert [p.height for p in chunked(mapping, 3)] == [3, 0, 0]


def test_customers_of_a_file_are_split_by_their_identity_each_row_once(tmp_path):
    path = tmp_path / "customers.parquet"
    rows = [{"id": f"C{i}", "email": f"u{i}@x.com", "updated_at": T} for i in range(30)]
    pl.DataFrame(rows).write_parquet(path)
    mapping = entity_mapping_from_dict("customers", {"source": {"path": str(path)}, "fields": {"CustomerId": "id", "Email": "email"}})
    parts = chunked(mapping, 3)
    assert sorted(pl.concat(parts)["id"]) == sorted(r["id"] for r in rows)
    assert all(p.height > 0 for p in parts)  # 30 identities hashed into 3 chunks


@pytest.mark.parametrize("chunks", [2, 3])
def test_customers_of_a_file_sharing_an_email_are_in_one_chunk(tmp_path, chunks):
    # Two CustomerIds of one address are one customer to the tenant (the email priority): the
    # reconciliation must meet both in one chunk to send only the newer, whatever the split.
    path = tmp_path / "customers.parquet"
    rows = [{"id": f"{side}{i}", "email": f"pair{i}@x.com" if side == "N" else f"PAIR{i}@X.com", "updated_at": T}
            for i in range(16) for side in "NO"]
    pl.DataFrame(rows).write_parquet(path)
    mapping = entity_mapping_from_dict("customers", {"source": {"path": str(path)}, "fields": {"CustomerId": "id", "Email": "email"}})
    parts = chunked(mapping, chunks)
    assert sorted(pl.concat(parts)["id"]) == sorted(r["id"] for r in rows)
    for i in range(16):
        assert next(j for j, p in enumerate(parts) if f"N{i}" in p["id"]) == next(j for j, p in enumerate(parts) if f"O{i}" in p["id"]), i
    assert all(p.height for p in parts)


@pytest.mark.parametrize("source", [{"table": "variants"}, {"query": "SELECT * FROM variants"}])
def test_a_duckdb_source_split_by_its_record_key_holds_each_row_once_and_a_record_in_one_chunk(tmp_path, source):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("rows", pl.DataFrame(PRODUCT_ROWS).to_arrow())
        con.execute("CREATE TABLE variants AS SELECT * FROM rows")
    mapping = entity_mapping_from_dict("products", {
        "source": source, "fields": {"ProductId": "product_id"},
        "ProductVariants": {"fields": {"VariantId": "variant_id", "SalePrice": "price"}}})
    parts = [read_source_chunk(Warehouse(path), mapping, chunk, 3) for chunk in range(3)]
    assert sorted(pl.concat(parts)["variant_id"]) == sorted(r["variant_id"] for r in PRODUCT_ROWS)
    assert sum(p.height > 0 for p in parts) >= 2  # split, not all in one
    homes = pl.concat([p.with_columns(chunk=pl.lit(i)) for i, p in enumerate(parts)])
    assert homes.drop_nulls("product_id").group_by("product_id").agg(pl.col("chunk").n_unique())["chunk"].max() == 1
    assert homes.filter(pl.col("product_id").is_null())["chunk"].to_list() == [0, 0]  # no key: chunk 0


@pytest.mark.parametrize(("chunk", "chunks"), [(3, 3), (-1, 3)])
def test_a_chunk_outside_the_split_is_refused_naming_the_range(products, chunk, chunks):
    with pytest.raises(ValueError, match=rf"^chunk {chunk} is not in 0\.\.{chunks - 1}$"):
        read_source_chunk(Warehouse(None), products, chunk, chunks)
