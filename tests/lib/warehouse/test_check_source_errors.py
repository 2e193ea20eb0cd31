"""`replenit check` on a source it cannot read, or a field it cannot evaluate over the source's types:
one error finding, in its place in the mapping, with words that say why (whole: they are what the
user reads)."""

import uuid

import polars as pl
import pytest
from helpers import duckdb_warehouse

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.check import Finding, check_entity

FIELDS = {"CustomerId": "customer_id", "Email": "email"}


def test_a_warehouse_file_that_does_not_exist_is_the_sources_error(tmp_path):
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "customers"}, "fields": FIELDS})
    missing = tmp_path / "nowhere.duckdb"
    assert check_entity(mapping, Warehouse(missing)) == [
        Finding(
            "error",
            "customers",
            "source",
            f"warehouse {missing} does not exist: set REPLENIT_WAREHOUSE to your DuckDB file, or create a demo one "
            f"there with `replenit demo-warehouse {missing}`",
        )
    ]


def test_a_python_source_raising_without_a_message_is_named_by_the_exceptions_type(tmp_path):
    module = f"crm_{uuid.uuid4().hex}"  # one module per test: Python caches imports by name
    (tmp_path / f"{module}.py").write_text("def customers():\n    raise LookupError()\n")
    mapping = entity_mapping_from_dict(
        "customers", {"source": {"python": f"{module}:customers"}, "fields": FIELDS}, origin=str(tmp_path / "mapping.yaml")
    )
    assert check_entity(mapping, Warehouse(None)) == [
        Finding("error", "customers", "source", f"python '{module}:customers' cannot be read: LookupError")
    ]


def test_an_expr_the_source_types_cannot_evaluate_is_an_error_with_polars_reason(tmp_path):
    warehouse = duckdb_warehouse(tmp_path / "w.duckdb", "CREATE TABLE customers (customer_id VARCHAR, email VARCHAR, modified TIMESTAMP)")
    mapping = entity_mapping_from_dict(
        "customers", {"source": {"table": "customers", "window_column": "modified"}, "fields": {**FIELDS, "Name": {"expr": "modified * 2"}}}
    )
    with pytest.raises(pl.exceptions.PolarsError) as polars_says:
        pl.DataFrame(schema={"modified": pl.Datetime("us")}).lazy().select(pl.sql_expr("modified * 2")).collect_schema()
    reason = str(polars_says.value).splitlines()[0]
    assert reason
    assert check_entity(mapping, warehouse) == [
        Finding("error", "customers", "Name", f"expr 'modified * 2' cannot be evaluated over the source's types: {reason}")
    ]
