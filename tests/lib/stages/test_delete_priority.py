"""A soft-deleted customer is deleted under the identity the tenant matches it by: its CustomerId
under the `customerid` priority, its email under `email` (lib/stages/delete.py split_deleted)."""

from datetime import datetime

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


@pytest.mark.parametrize(("deleted_on", "case"), [(5, "deleted before the new account"), (20, "touched after it")])
def test_a_soft_deleted_account_whose_email_a_live_account_took_again_is_deleted_alone(deleted_on, case):
    """Spree frees a soft-deleted user's email: a new account (y) registers with it. Under the
    `email` priority both are one identity. Only the deleted account leaves (a deleted row, not a
    merge of y); the identity stays, y's, and is never deleted, whichever row is newer."""
    rows = pl.DataFrame({"id": ["y", "x"], "email": ["e@example.com", "E@example.com"],
                         "updated_at": [datetime(2026, 10, 10), datetime(2026, 10, deleted_on)], "deleted": [False, True]})
    split = split_deleted(MAPPING, rows, "email")
    assert (split.deleted.height, split.live["id"].to_list(), split.rows_deleted) == (0, ["y"], 1), case


def test_an_identity_whose_every_account_is_deleted_is_deleted_by_its_newest_account():
    rows = pl.DataFrame({"id": ["y", "x"], "email": ["e@example.com", "e@example.com"],
                         "updated_at": [datetime(2026, 10, 10), datetime(2026, 10, 20)], "deleted": [True, True]})
    split = split_deleted(MAPPING, rows, "email")
    assert split.deleted.to_dicts() == [{"identity": "email:e@example.com", "api_id": "x", "rows": 2}]
    assert (split.live.height, split.rows_deleted) == (0, 2)


def test_an_older_deleted_version_of_a_restored_account_stays_an_older_version():
    rows = pl.DataFrame({"id": ["y", "y"], "email": ["e@example.com", "e@example.com"],
                         "updated_at": [datetime(2026, 10, 10), datetime(2026, 10, 20)], "deleted": [True, False]})
    split = split_deleted(MAPPING, rows, "email")
    assert (split.deleted.height, split.live.height, split.rows_deleted) == (0, 2, 0)


def test_an_account_that_moved_to_another_email_keeps_no_deleted_account_of_its_old_one_alive():
    """b used e@, then changed to f@; later a registered with e@ (freed) and was soft-deleted. b's
    old row is an older version of b, who lives at f@ now: no live account is left at e@, and a
    (its newest row, the identity's) is deleted there. Kept, Replenit would hold a deleted customer."""
    rows = pl.DataFrame({"id": ["b", "b", "a"], "email": ["e@example.com", "f@example.com", "e@example.com"],
                         "updated_at": [datetime(2026, 10, 1), datetime(2026, 10, 5), datetime(2026, 10, 20)],
                         "deleted": [False, False, True]})
    split = split_deleted(MAPPING, rows, "email")
    assert split.deleted.to_dicts() == [{"identity": "email:e@example.com", "api_id": "a", "rows": 2}]
    assert (split.live["email"].to_list(), split.rows_deleted) == (["f@example.com"], 2)
    # b back at e@ (its newest row there): a live account of e@ again, and a leaves alone
    back = pl.concat([rows, pl.DataFrame({"id": ["b"], "email": ["e@example.com"], "updated_at": [datetime(2026, 10, 25)],
                                          "deleted": [False]})])
    split = split_deleted(MAPPING, back, "email")
    assert (split.deleted.height, split.rows_deleted) == (0, 1)


def test_an_account_deleted_by_a_row_without_its_email_is_deleted_at_the_address_it_was_held_by():
    """Stripe lists a deleted customer as a stub: its id, `deleted: true`, no email. Under the `email`
    priority that row's identity falls back to `customerid:g`, which Replenit never held; the
    customer is held at `email:e@...`, whose only row is g's older, live-looking one. g is deleted
    there (by its CustomerId), not kept in Replenit for ever while its rows count as deleted."""
    rows = pl.DataFrame({"id": ["g", "g"], "email": ["e@example.com", None],
                         "updated_at": [datetime(2026, 10, 1), datetime(2026, 10, 20)], "deleted": [None, True]})
    split = split_deleted(MAPPING, rows, "email")
    assert {"identity": "email:e@example.com", "api_id": "g", "rows": 1} in split.deleted.to_dicts()
    assert (split.live.height, split.rows_deleted) == (0, 2)
