"""The API's record errors as `validate_record` reports them (the sandbox answers 400 with these,
`replenit push` prints them): each error names the path of the value to fix and a groupable code."""

from replenit_pipelines.lib.contract import CUSTOMER, ORDER, RecordError, validate_record


def test_a_blank_boolean_is_a_type_error_at_its_own_path():
    # A blank string in a non-string field is checked as the wrong value (not skipped as absent);
    # the error still points at the field, the path a user looks up in the request.
    assert validate_record(CUSTOMER, {"CustomerId": "c1", "GdprOptin": "  "}, 3) == [
        RecordError("[3].GdprOptin", "type", "The JSON value of GdprOptin could not be converted to System.Boolean.")]


def test_a_record_that_is_not_an_object_is_one_type_error_at_the_record():
    assert validate_record(ORDER, ["o1"], 2) == [
        RecordError("[2]", "type", "The JSON value could not be converted to Order.")]


def test_a_line_that_is_not_an_object_is_a_type_error_at_the_line():
    record = {"OrderId": "o1", "OrderItems": [7]}
    assert [(e.path, e.code) for e in validate_record(ORDER, record, 0) if e.path.startswith("[0].OrderItems")] == [
        ("[0].OrderItems[0]", "type")]



def test_order_items_that_are_not_a_list_are_one_type_error_at_the_field():
    record = {"OrderId": "o1", "CustomerId": "c1", "OrderItems": "p1"}
    assert [e for e in validate_record(ORDER, record, 4) if e.path.startswith("[4].OrderItems")] == [
        RecordError("[4].OrderItems", "type", "The JSON value of OrderItems could not be converted to a list.")]


def test_an_unknown_order_status_names_the_statuses_the_api_accepts():
    record = {"OrderId": "o1", "CustomerId": "c1", "Status": "shipped"}
    assert [e for e in validate_record(ORDER, record, 1) if e.path == "[1].Status"] == [
        RecordError("[1].Status", "choice", "The field Status must be one of: completed, cancelled, refunded.")]
