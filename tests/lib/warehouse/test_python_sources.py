"""Python sources (`source: {python: module:function}`, lib/warehouse/python_sources.py): the module
is imported from the Python path, else from the mapping file's folder (a package there too); a
name that is not a function is said with the closest function's name."""

import sys
import uuid

import pytest

from replenit_pipelines.lib.warehouse import MappingError
from replenit_pipelines.lib.warehouse.mapping import SourceSpec
from replenit_pipelines.lib.warehouse.python_sources import load_python_source

FRAMES = "import polars as pl\n\ncustomers_rows = [{'id': 'c1'}, {'id': 'c2'}]\n\n\ndef customers_frame():\n    return pl.DataFrame(customers_rows).lazy()\n"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"  # one module per test: Python caches imports by name


def test_a_package_beside_the_mapping_file_is_imported_from_there(tmp_path):
    package = unique("crm_exports")
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "frames.py").write_text(FRAMES)
    frame = load_python_source(SourceSpec(python=f"{package}.frames:customers_frame"), str(tmp_path / "mapping.yaml"))
    assert frame.collect()["id"].to_list() == ["c1", "c2"]
    assert str(tmp_path) not in sys.path  # the folder is on the path only while importing


def test_a_name_that_is_not_a_function_suggests_the_closest_function(tmp_path):
    module = unique("crm")
    (tmp_path / f"{module}.py").write_text(FRAMES)
    # customers_rows is the module's data, not a function: the suggestion is a function to call.
    with pytest.raises(MappingError) as info:
        load_python_source(SourceSpec(python=f"{module}:customers_rows"), str(tmp_path / "mapping.yaml"))
    assert str(info.value) == (
        f"{tmp_path / 'mapping.yaml'}: source python {module}:customers_rows: {module} has no function "
        "'customers_rows' (did you mean 'customers_frame'?)"
    )


def test_a_module_neither_on_the_path_nor_beside_the_mapping_file_says_where_to_put_it(tmp_path):
    module = unique("nowhere")
    with pytest.raises(MappingError) as info:
        load_python_source(SourceSpec(python=f"{module}:frame"), str(tmp_path / "mapping.yaml"))
    assert str(info.value) == (
        f"{tmp_path / 'mapping.yaml'}: source python {module}:frame: cannot import {module}: No module named '{module}'; "
        "put the module on PYTHONPATH or beside the mapping file"
    )


def test_a_mapping_built_in_python_says_where_to_put_a_module_it_cannot_import():
    module = unique("nowhere")  # no mapping file: no folder to look beside
    with pytest.raises(MappingError) as info:
        load_python_source(SourceSpec(python=f"{module}:frame"), "<python>")
    assert str(info.value) == (
        f"<python>: source python {module}:frame: cannot import {module}: No module named '{module}'; "
        "put the module on PYTHONPATH or beside the mapping file"
    )
