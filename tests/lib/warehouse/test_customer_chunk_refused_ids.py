"""Customers are chunked by their identity, and the rows that share a CustomerId are one customer
(lib/warehouse/customer_chunks.py): but only a CustomerId the contract accepts ties rows together, as
prepare groups rows by it. A blank or over-long CustomerId (refused) shared by customers of other
emails joins none of them. Real DuckDB warehouse, a `query:` source."""

import pytest
from test_ledger_sync import customers, write_table

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.customer_chunks import customer_chunking

MAPPING = entity_mapping_from_dict("customers", {
    "source": {"query": "SELECT * FROM customers", "window_column": "updated_at"},
    "fields": {"CustomerId": "id", "Email": "email", "Name": "name", "Phone": "phone", "Language": "locale",
               "GdprOptin": "gdpr"},
})


@pytest.mark.parametrize("refused", [" \t ", "x" * 101], ids=["blank", "over-long"])
def test_only_an_accepted_customerid_joins_customers_of_other_emails(tmp_path, refused):
    rows = customers(12)
    for row in rows[:10]:
        row["id"] = refused  # ten emails under one refused CustomerId: ten customers
    rows[11]["id"] = "c10"  # c10's id under another email: one customer, two identities
    write_table(tmp_path / "wh.duckdb", "customers", rows)
    chunking = customer_chunking(Warehouse(tmp_path / "wh.duckdb"), MAPPING, 4)
    assert chunking.overrides.height == 1  # the user11 identity goes where user10's customer is
