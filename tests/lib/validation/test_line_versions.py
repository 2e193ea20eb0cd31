"""Each line of an order has its own versions: two versions of each of two lines supersede only
their own line's older version, and the order is sent with both lines at their newest; and rows of
one identity and one time that differ get a content hash (`__tie`) that orders them."""

from datetime import timedelta

import polars as pl

from replenit_pipelines.lib.validation.supersede import content_ties, shared_identities
from tests.helpers import ORDER_MAPPING, TS, order_rows, run


def test_two_versions_of_each_of_two_lines_keep_the_newest_of_each_line():
    old = order_rows(2, updated_at=TS - timedelta(hours=1), qty=1)
    new = order_rows(2, updated_at=TS, qty=5)
    prepared = run(ORDER_MAPPING, [old[0], new[0], old[1], new[1]])
    assert (prepared.rows_read, prepared.rows_valid, prepared.rows_superseded) == (4, 2, 2)
    (order,) = prepared.records.to_dicts()
    assert sorted((i["ProductId"], i["Quantity"]) for i in order["OrderItems"]) == [("p0", 5), ("p1", 5)]


def test_content_ties_without_shared_identities_hash_only_rows_of_one_time_that_differ():
    flat = pl.DataFrame({"__key": ["a", "a", "b", "c", "c"], "__ts": [TS, TS, TS, TS, TS], "Name": ["x", "y", "x", "z", "z"]})
    ties = content_ties(flat, [(["__key"], ["Name"])])
    assert [t != 0 for t in ties.to_list()] == [True, True, False, False, False]
    assert ties[0] != ties[1]
    assert ties.to_list() == content_ties(flat, [(["__key"], ["Name"])], shared_identities(flat, [["__key"]])).to_list()
