"""`replenit push`, pass 2's checks: what the API would refuse (the contract's `validate_record`),
what a JSON serializer would send wrong (NaN and Infinity as null, integers beyond 64 bits), what
the API would store wrong (an order without `TotalRevenue`, stored as revenue 1) and properties the
contract does not have (the API matches names case-sensitively and drops the others)."""

import json
import math
from typing import Any

from replenit_pipelines.lib.contract.records import has_value, validate_record
from replenit_pipelines.lib.errors import close_names


def non_finite_fields(value: Any, path: str = "") -> list[str]:
    """Paths of NaN, Infinity and -Infinity anywhere in a record (JSON serializers send them as null)."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path or "(record)"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite_fields(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in non_finite_fields(v, f"{path}[{i}]")]
    return []


def _field_of(error_path: str) -> str:
    """`[3].OrderItems[1].Price` -> `OrderItems[1].Price`; `[3]` -> ``."""
    return error_path.split("]", 1)[1].lstrip(".") if "]" in error_path else error_path


FINITE_REASON = "not a finite number (NaN or Infinity): write a number, or leave the field out"
# Fields the API fills with a wrong value when they are missing: a reason never suggests leaving them out.
_ALWAYS_SENT = {"orders": {"TotalRevenue"}}
FINITE_REASON_ALWAYS_SENT = ("not a finite number (NaN or Infinity): write a number (the API stores an order "
                             "without TotalRevenue as revenue 1)")
MISSING_REVENUE_REASON = ("missing: the API stores an order without TotalRevenue as revenue 1; send the "
                          "order's revenue (0 for none)")


def problems(spec: Any, value: Any, index: int) -> list[tuple[str, str, str, str]]:
    """(rule, field, raw value, reason) for each reason the record cannot be sent; [] when it can."""
    always_sent = _ALWAYS_SENT.get(spec.name, set())
    problems = [("finite", p, str(_get(value, p)), FINITE_REASON_ALWAYS_SENT if p in always_sent else FINITE_REASON)
                for p in non_finite_fields(value)]
    seen = {p for _, p, _, _ in problems}
    for e in validate_record(spec, value, index):
        fld = _field_of(e.path)
        if e.code == "finite" and fld in seen:
            continue  # already named as NaN/Infinity
        problems.append((e.code, fld, _short(_get(value, fld)), e.message))
    problems.extend(_unknown_fields(spec, value))
    if type(value) is dict:
        for name in sorted(always_sent):
            if not has_value(value.get(name)) and name not in {p for _, p, _, _ in problems}:
                problems.append(("required", name, _short(value.get(name)), MISSING_REVENUE_REASON))
    return problems


def _unknown_fields(spec: Any, value: Any) -> list[tuple[str, str, str, str]]:
    """Properties the contract does not have, in the record and in its children: JSON names are
    case-sensitive at the API, so `email` for `Email` would be dropped and the record stored
    without it."""
    if type(value) is not dict:
        return []
    found = [(name, name) for name in value if name not in _field_names(spec)]
    children = spec.children_field
    if children is not None and type(value.get(children.name)) is list:
        child_names = _field_names(children.children)
        for i, item in enumerate(value[children.name]):
            if type(item) is dict:
                found += [(f"{children.name}[{i}].{name}", name) for name in item if name not in child_names]
    problems = []
    for path, name in found:
        known = children.children if children is not None and "[" in path else spec
        problems.append(("unknown_field", path, _short(_get(value, path)),
                         f"not a field of {known.singular or known.name + ' items'}{_did_you_mean(name, known)}: the API "
                         f"matches property names case-sensitively and would drop it"))
    return problems


def _field_names(spec: Any) -> frozenset[str]:
    return frozenset(f.name for f in spec.fields)


def _did_you_mean(name: str, spec: Any) -> str:
    names = sorted(_field_names(spec))
    close = close_names(name, names, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else f" (its fields: {', '.join(names)})"


_INT_RANGE = (-(1 << 63), (1 << 64) - 1)  # what a JSON serializer (orjson) writes as an integer


def unserializable(value: Any, exc: Exception, path: str = "") -> list[tuple[str, str, str]]:
    """(field, raw value, reason) for what the serializer cannot write: integers beyond 64 bits by
    field; anything else as the serializer's own message for the record."""
    found: list[tuple[str, str, str]] = []

    def walk(v: Any, at: str) -> None:
        if type(v) is int and not _INT_RANGE[0] <= v <= _INT_RANGE[1]:
            found.append((at or "(record)", _short(v),
                          "an integer beyond 64 bits, which cannot be written as JSON: write the real value"))
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(item, f"{at}.{k}" if at else str(k))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                walk(item, f"{at}[{i}]")

    walk(value, path)
    return found or [("(record)", "", f"cannot be written as JSON ({exc})")]


def _get(value: Any, dotted: str) -> Any:
    """The value at `OrderItems[1].Price` in a record (None when absent)."""
    cur = value
    for part in dotted.replace("[", ".[").split("."):
        if not part:
            continue
        try:
            cur = cur[int(part[1:-1])] if part.startswith("[") else cur.get(part)
        except (AttributeError, IndexError, TypeError, ValueError):
            return None
    return cur


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:197] + "..."
