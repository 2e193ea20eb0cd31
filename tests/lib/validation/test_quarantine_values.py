"""The value a quarantine row shows is the one to fix, as the warehouse holds it: a naive date-time
refused with normalization off, and the line of an unknown product whose missing Price leaves the
order's total underivable."""

from datetime import datetime

from helpers import ORDER_MAPPING, order_rows, run


def test_a_naive_datetime_refused_with_normalization_off_is_shown_as_iso_text():
    rows = order_rows(1)
    rows[0]["ordered_at"] = datetime(2026, 11, 26, 12, 30, 5)  # no zone: the API needs one
    p = run(ORDER_MAPPING, rows, normalize_values=False)
    assert p.quarantine.rows() == [("o1", 0, "timestamp", "OrderDate", "2026-11-26T12:30:05")]


def test_a_line_without_product_and_price_names_the_product_as_unknown():
    rows = order_rows(2)
    rows[0].update(product_id=None, price=None)
    p = run(ORDER_MAPPING, rows)
    assert p.quarantine.rows() == [("o1", 0, "required", "OrderItems.ProductId", None),
                                   ("o1", 0, "total_underivable", "TotalRevenue", "line of product ? has no Price")]
