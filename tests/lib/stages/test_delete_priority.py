"""A soft-deleted customer is deleted under the identity the tenant matches it by: its CustomerId
under the `customerid` priority, its email under `email` (lib/stages/delete.py split_deleted)."""

import polars as pl
import pytest

from replenit_pipelines.lib.stages.delete import split_deleted
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict
from tests.helpers import TS

MAPPING = entity_mapping_from_dict(
    "customers",
    {
        "source": {"table": "customers", "window_column": "updated_at", "deleted_column": "deleted"},
        "fields": {"CustomerId": "id", "Email": "email"},
    },
)


@pytest.mark.parametrize(("priority", "identity"), [("customerid", "customerid:c1"), ("email", "email:ada@example.com")])
def test_a_deleted_customer_goes_by_the_identity_of_the_tenants_priority(priority, identity):
    rows = pl.DataFrame(
        {"id": ["c1", "c2"], "email": [" Ada@Example.com", "bo@example.com"], "updated_at": [TS, TS], "deleted": [True, False]}
    )
    split = split_deleted(MAPPING, rows, priority)
    assert split.deleted.to_dicts() == [{"identity": identity, "api_id": "c1", "rows": 1}]
    assert split.live["id"].to_list() == ["c2"]
    assert split.rows_deleted == 1
