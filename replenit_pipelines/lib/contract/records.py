"""Record-level validation of JSON payload records, as the API does it.

The sandbox answers 400 with these errors; the pipeline never needs it (it validates whole
frames with pandera), but the client's tests and `replenit push` rely on the same messages.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import INT32_MAX, INT32_MIN, EntitySpec, FieldSpec, Kind


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


Check = Callable[[Any, str], list[RecordError]]  # value, path -> errors ([] when valid)
_OK: list[RecordError] = []


def _string_check(spec: FieldSpec) -> Check:
    name, max_length, choices, fmt = spec.name, spec.max_length, spec.choices, _FORMAT_CHECKS.get(spec.kind)

    def check_string(value: Any, path: str) -> list[RecordError]:
        if type(value) is not str:
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to System.String.")]
        if max_length is not None and formats.utf16_length(value) > max_length:  # UTF-16 units, as .NET counts
            return [RecordError(path, "max_length", f"The field {name} must be a string with a maximum length of {max_length}.")]
        if choices and value not in choices:
            return [RecordError(path, "choice", f"The field {name} must be one of: {', '.join(choices)}.")]
        if fmt is not None and not fmt[0](value):
            return [RecordError(path, fmt[1], fmt[2].format(f=name))]
        return _OK

    return check_string


def _bool_check(spec: FieldSpec) -> Check:
    name = spec.name

    def check_bool(value: Any, path: str) -> list[RecordError]:
        if type(value) is not bool:
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to System.Boolean.")]
        return _OK

    return check_bool


def _number_check(spec: FieldSpec) -> Check:
    name, integer, minimum = spec.name, spec.kind is Kind.INT, spec.minimum

    def check_number(value: Any, path: str) -> list[RecordError]:
        if integer and type(value) is not int:
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to System.Int32.")]
        if integer and not INT32_MIN <= value <= INT32_MAX:
            return [RecordError(path, "range", f"The JSON value of {name} could not be converted to System.Int32.")]
        if not formats.is_finite_number(value):
            return [RecordError(path, "finite" if isinstance(value, float) else "type", f"The field {name} must be a finite number.")]
        if minimum is not None and value < minimum:
            return [RecordError(path, "range", f"The field {name} must be greater than or equal to {minimum:g}.")]
        return _OK

    return check_number


def _list_check(spec: FieldSpec) -> Check:
    name = spec.name

    def check_list(value: Any, path: str) -> list[RecordError]:
        if type(value) is not list or not all(type(v) is str for v in value):
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to System.String[].")]
        return _OK

    return check_list


def _children_check(spec: FieldSpec) -> Check:
    assert spec.children is not None
    name, child = spec.name, spec.children

    def check_children(value: Any, path: str) -> list[RecordError]:
        if type(value) is not list:
            return [RecordError(path, "type", f"The JSON value of {name} could not be converted to a list.")]
        errors: list[RecordError] = []
        for i, item in enumerate(value):
            errors.extend(_validate(child, item, f"{path}[{i}]"))
        return errors

    return check_children


def _compile_field(spec: FieldSpec) -> Check:
    """One closure per field, built once: the sandbox runs it on every record it receives."""
    if spec.kind in _STRING_KINDS:
        return _string_check(spec)
    build = {Kind.BOOL: _bool_check, Kind.INT: _number_check, Kind.NUMBER: _number_check,
             Kind.STRING_LIST: _list_check, Kind.CHILDREN: _children_check}.get(spec.kind)
    if build is None:
        raise AssertionError(spec.kind)
    return build(spec)


_COMPILED: dict[int, list[tuple[FieldSpec, Check]]] = {}


def _checks(spec: EntitySpec) -> list[tuple[FieldSpec, Check]]:
    checks = _COMPILED.get(id(spec))
    if checks is None:
        checks = _COMPILED[id(spec)] = [(f, _compile_field(f)) for f in spec.fields]
    return checks


def _validate(spec: EntitySpec, record: Any, prefix: str) -> list[RecordError]:
    if type(record) is not dict:
        return [RecordError(prefix, "type", f"The JSON value could not be converted to {spec.singular or spec.name}.")]
    errors: list[RecordError] = []
    for f, check in _checks(spec):
        value = record.get(f.name)
        if value is None or (type(value) is str and not value.strip()):
            if f.required:
                errors.append(RecordError(f"{prefix}.{f.name}", "required", f"The {f.name} field is required."))
            elif value is not None and f.kind is not Kind.STRING:
                # A blank value in a formatted field is still the wrong value.
                errors.extend(check(value, f"{prefix}.{f.name}"))
            continue
        found = check(value, f"{prefix}.{f.name}") if f.kind is Kind.CHILDREN else check(value, "")
        if found:
            if f.kind is not Kind.CHILDREN:
                found = [RecordError(f"{prefix}.{f.name}", e.code, e.message) for e in found]
            errors.extend(found)
    if spec.one_of_required and not any(has_value(record.get(n)) for n in spec.one_of_required):
        errors.append(RecordError(prefix, "one_of_required", "At least one of the following properties must have a value: " + ", ".join(spec.one_of_required)))
    for target, triggers in spec.required_with.items():
        if not has_value(record.get(target)) and any(has_value(record.get(t)) for t in triggers):
            errors.append(RecordError(f"{prefix}.{target}", "required_with", f"The {target} field is required when {' or '.join(triggers)} has a value."))
    return errors


def validate_record(spec: EntitySpec, record: Any, index: int) -> list[RecordError]:
    """Every error of one request record, with paths `[index].Field` as the API reports them."""
    return _validate(spec, record, f"[{index}]")
