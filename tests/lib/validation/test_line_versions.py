"""Each line of an order has its own versions: two versions of each of two lines supersede only
their own line's older version, and the order is sent with both lines at their newest."""

from datetime import timedelta

from tests.helpers import ORDER_MAPPING, TS, order_rows, run


def test_two_versions_of_each_of_two_lines_keep_the_newest_of_each_line():
    old = order_rows(2, updated_at=TS - timedelta(hours=1), qty=1)
    new = order_rows(2, updated_at=TS, qty=5)
    prepared = run(ORDER_MAPPING, [old[0], new[0], old[1], new[1]])
    assert (prepared.rows_read, prepared.rows_valid, prepared.rows_superseded) == (4, 2, 2)
    (order,) = prepared.records.to_dicts()
    assert sorted((i["ProductId"], i["Quantity"]) for i in order["OrderItems"]) == [("p0", 5), ("p1", 5)]
