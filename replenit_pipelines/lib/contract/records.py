"""Record-level validation of JSON payload records, as the API does it.

The sandbox answers 400 with these errors; the pipeline never needs it (it validates whole
frames with pandera), but the client's tests and `replenit push` rely on the same messages.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import EntitySpec, FieldSpec, Kind


@dataclass(frozen=True)
class RecordError:
    path: str  # "[3].Email", "[3].OrderItems[1].Quantity", "[3]"
    code: str  # short, groupable: "required", "max_length", "currency", ...
    message: str  # the API's sentence


def has_value(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


_FORMAT_CHECKS: dict[Kind, tuple[Callable[[str], bool], str, str]] = {
    Kind.EMAIL: (formats.is_email, "email", "The {f} field is not a valid e-mail address."),
    Kind.PHONE: (formats.is_phone, "phone", "The {f} field is not a valid E.164 phone number."),
    Kind.CURRENCY: (
        formats.is_currency,
        "currency",
        "The field {f} must be an active ISO 4217 currency code.",
    ),
    Kind.LANGUAGE: (
        formats.is_language_tag,
        "language",
        "The field {f} must be a BCP 47 language tag such as en or en-US.",
    ),
    Kind.TIMESTAMP: (
        formats.is_timestamp,
        "timestamp",
        "The field {f} must be an ISO 8601 date and time with Z or an offset.",
    ),
    Kind.URL: (formats.is_url, "url", "The field {f} must be an absolute http or https URL."),
}

_STRING_KINDS = {Kind.STRING, *_FORMAT_CHECKS}


def _check_value(spec: FieldSpec, value: Any, path: str) -> list[RecordError]:
    name = spec.name
    kind = spec.kind
    if kind in _STRING_KINDS:
        if not isinstance(value, str):
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to System.String.")]
        if spec.max_length is not None and len(value) > spec.max_length:
            return [RecordError(path, "max_length", f"The field {name} must be a string with a maximum length of {spec.max_length}.")]
        if spec.choices and value not in spec.choices:
            return [RecordError(path, "choice", f"The field {name} must be one of: {', '.join(spec.choices)}.")]
        check = _FORMAT_CHECKS.get(kind)
        if check is not None and not check[0](value):
            return [RecordError(path, check[1], check[2].format(f=name))]
        return []
    if kind is Kind.BOOL:
        if not isinstance(value, bool):
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to System.Boolean.")]
        return []
    if kind is Kind.INT or kind is Kind.NUMBER:
        if kind is Kind.INT and (not isinstance(value, int) or isinstance(value, bool)):
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to System.Int32.")]
        if not formats.is_finite_number(value):
            return [RecordError(path, "non_finite" if isinstance(value, float) else "type", f"The field {name} must be a finite number.")]
        if spec.minimum is not None and value < spec.minimum:
            return [RecordError(path, "range", f"The field {name} must be greater than or equal to {spec.minimum:g}.")]
        return []
    if kind is Kind.STRING_LIST:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to System.String[].")]
        return []
    if kind is Kind.CHILDREN:
        if not isinstance(value, list):
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to a list.")]
        assert spec.children is not None
        errors: list[RecordError] = []
        for i, child in enumerate(value):
            errors.extend(_validate(spec.children, child, f"{path}[{i}]"))
        return errors
    raise AssertionError(kind)


def _validate(spec: EntitySpec, record: Any, prefix: str) -> list[RecordError]:
    if not isinstance(record, dict):
        return [RecordError(prefix, "type", f"The JSON value could not be converted to {spec.singular or spec.name}.")]
    errors: list[RecordError] = []
    for f in spec.fields:
        value = record.get(f.name)
        path = f"{prefix}.{f.name}"
        if not has_value(value):
            if f.required and not (f.kind is Kind.CHILDREN and value is not None):
                errors.append(RecordError(path, "required", f"The {f.name} field is required."))
            elif value is not None and f.kind not in (Kind.STRING,):
                # A blank value in a typed field is still the wrong value.
                errors.extend(_check_value(f, value, path))
            continue
        errors.extend(_check_value(f, value, path))
    if spec.one_of_required and not any(has_value(record.get(n)) for n in spec.one_of_required):
        errors.append(RecordError(prefix, "one_of_required", "At least one of the following properties must have a value: " + ", ".join(spec.one_of_required)))
    for target, triggers in spec.required_with.items():
        if not has_value(record.get(target)) and any(has_value(record.get(t)) for t in triggers):
            errors.append(RecordError(f"{prefix}.{target}", "required_with", f"The {target} field is required when {' or '.join(triggers)} has a value."))
    return errors


def validate_record(spec: EntitySpec, record: Any, index: int) -> list[RecordError]:
    """Every error of one request record, with paths `[index].Field` as the API reports them."""
    return _validate(spec, record, f"[{index}]")
