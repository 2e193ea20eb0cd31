"""`replenit fields`' limits column, pinned whole for a field with choices: the values a mapping
may send, in the contract's order and separated as a person reads them."""

from replenit_pipelines.lib.contract.catalog import field_rows


def test_a_field_with_choices_lists_them_whole_in_its_limits():
    status = next(r for r in field_rows("orders") if r["field"] == "Status")
    assert status["limits"] == "one of completed, cancelled, refunded"
