"""The API's record errors as `validate_record` reports them (the sandbox answers 400 with these,
`replenit push` prints them): each error names the path of the value to fix and a groupable code."""

import pytest

from replenit_pipelines.lib.contract import CUSTOMER, ORDER, PRODUCT, RecordError, validate_record
from replenit_pipelines.lib.contract.entities import Kind


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


def test_a_value_of_the_wrong_format_is_told_the_format_the_api_expects():
    # The sentence is what `replenit push` prints for a refused record: pinned whole, for each format.
    customer = {"CustomerId": "c1", "Email": "ada", "Phone": "12", "Language": "english"}
    assert validate_record(CUSTOMER, customer, 0) == [
        RecordError("[0].Email", "email", "The Email field is not a valid e-mail address."),
        RecordError("[0].Phone", "phone", "The Phone field is not a valid E.164 phone number."),
        RecordError("[0].Language", "language", "The field Language must be a BCP 47 language tag such as en or en-US.")]
    order = {"OrderId": "o1", "CustomerId": "c1", "Currency": "EUX", "OrderDate": "yesterday"}
    assert validate_record(ORDER, order, 1) == [
        RecordError("[1].Currency", "currency", "The field Currency must be an active ISO 4217 currency code."),
        RecordError("[1].OrderDate", "timestamp", "The field OrderDate must be an ISO 8601 date and time with Z or an offset.")]


def test_a_missing_or_blank_required_field_is_a_required_error_at_the_field():
    # "required" is the code a push's rejections are grouped by: pinned with the sentence.
    assert validate_record(PRODUCT, {"ProductId": "  ", "ProductVariants": [{"VariantId": "v1"}]}, 2) == [
        RecordError("[2].ProductId", "required", "The ProductId field is required.")]


def test_taxonomy_that_is_not_a_list_of_text_is_a_type_error_at_the_field():
    product = {"ProductId": "p1", "Taxonomy": ["shoes", 7], "ProductVariants": [{"VariantId": "v1"}]}
    assert validate_record(PRODUCT, product, 0) == [
        RecordError("[0].Taxonomy", "type", "The JSON value of Taxonomy could not be converted to System.String[].")]


def test_a_price_without_currency_names_every_field_that_needs_it():
    # Currency is required with OriginalPrice or SalePrice: the sentence names both, joined by "or".
    product = {"ProductId": "p1", "ProductVariants": [{"VariantId": "v1", "SalePrice": 3}]}
    assert validate_record(PRODUCT, product, 0) == [
        RecordError("[0].ProductVariants[0].Currency", "required_with",
                    "The Currency field is required when OriginalPrice or SalePrice has a value.")]


def test_looking_up_a_field_the_entity_has_not_names_it():
    assert PRODUCT.field("Taxonomy").kind is Kind.STRING_LIST
    with pytest.raises(KeyError) as raised:
        PRODUCT.field("Colour")
    assert raised.value.args == ("Colour",)
