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

