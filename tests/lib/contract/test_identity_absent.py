"""A customers mapping that maps neither identifier (no CustomerId, no Email): every row has no
identity, and each is quarantined with the reason that says what to map, instead of the window
failing on an empty coalesce."""

import polars as pl
from helpers import TS, run

from replenit_pipelines.lib.contract.identity import record_key
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

NAMES_ONLY = entity_mapping_from_dict("customers", {
    "source": {"table": "customers", "window_column": "updated_at"},
    "fields": {"Name": "name", "Phone": "phone"},
})


def test_customer_rows_without_identifier_columns_have_a_null_identity():
    rows = pl.DataFrame({"Name": ["Ada", "Bob"], "Phone": ["+447911123456", None]})
    keys = rows.with_columns(record_key("customers", rows.columns).alias("key"))["key"]
    assert keys.dtype == pl.String and keys.to_list() == [None, None]


def test_a_customers_mapping_without_either_identifier_quarantines_every_row_saying_what_to_map():
    p = run(NAMES_ONLY, [{"name": "Ada", "phone": "+447911123456", "updated_at": TS},
                         {"name": "Bob", "phone": None, "updated_at": TS}])
    assert (p.rows_read, p.rows_valid, p.rows_quarantined, p.rows_superseded) == (2, 0, 2, 0)
    assert sorted(p.quarantine.select("source_row", "rule", "field").rows()) == [
        (0, "one_of_required", "CustomerId, Email"), (1, "one_of_required", "CustomerId, Email")]
