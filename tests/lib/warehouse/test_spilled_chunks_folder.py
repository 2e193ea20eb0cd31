"""A table split into chunk files (lib/warehouse/chunks.py SpilledChunks) makes its folder, parents
too, and removes it at exit; every row is read back in exactly one chunk. Real DuckDB warehouse."""

from helpers import CUSTOMER_MAPPING
from test_ledger_sync import customers, write_table

from replenit_pipelines.lib.warehouse import Warehouse
from replenit_pipelines.lib.warehouse.chunks import SpilledChunks


def test_a_spill_folder_whose_parents_do_not_exist_is_made_and_removed(tmp_path):
    write_table(tmp_path / "wh.duckdb", "customers", customers(12))
    folder = tmp_path / "not" / "yet" / "spill"
    with SpilledChunks(Warehouse(tmp_path / "wh.duckdb"), CUSTOMER_MAPPING, 3, folder) as spilled:
        assert folder.is_dir()
        ids = sorted(i for chunk in range(3) for i in spilled.read(chunk, ["id"])["id"].to_list())
    assert ids == sorted(f"c{i}" for i in range(12))
    assert not folder.exists()
