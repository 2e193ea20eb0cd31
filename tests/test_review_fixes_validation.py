"""Review findings on the map and validate stages: each test failed before its fix."""

from datetime import timedelta

from helpers import TS, run

from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

TOTAL_MAPPING = entity_mapping_from_dict("orders", {
    "source": {"table": "order_lines", "window_column": "updated_at"},
    "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "TotalRevenue": "total"},
    "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
})


def _line(line_id, product, qty, price, total, minutes, order_id="o9"):
    return {"order_id": order_id, "customer_id": "c1", "currency": "EUR", "total": total, "line_id": line_id,
            "product_id": product, "qty": qty, "price": price, "updated_at": TS + timedelta(minutes=minutes)}


def _balanced(p) -> bool:
    return p.rows_read == p.rows_valid + p.rows_quarantined + p.rows_superseded


# 1. The order's total is its newest row's: underivability is decided per order, not per row.

def test_a_line_without_price_under_a_newest_null_total_is_quarantined_not_understated():
    # The newest row has no total, so the total is derived from the lines; the older row's line has
    # no price: the sum would be 5 where the order is worth more.
    p = run(TOTAL_MAPPING, [_line(1, "p1", 1, 5.0, None, 1), _line(2, "p2", 3, None, 100.0, 0)])
    assert p.records.height == 0
    assert {(r["rule"], r["field"], r["source_row"]) for r in p.quarantine.to_dicts()} == {
        ("total_underivable", "TotalRevenue", 1)}
    assert p.rows_quarantined == 2 and _balanced(p)


def test_a_line_without_price_under_a_newest_known_total_is_sent_with_that_total():
    p = run(TOTAL_MAPPING, [_line(1, "p1", 1, None, None, 0), _line(2, "p2", 2, 5.0, 100.0, 1)])
    assert p.quarantine.height == 0
    assert p.records.select("OrderId", "TotalRevenue").to_dicts() == [{"OrderId": "o9", "TotalRevenue": 100.0}]

