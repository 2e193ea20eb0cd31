"""Every field the contract knows, as rows a person reads (`replenit fields`): its name as a mapping
writes it (a child's as `OrderItems.Price`), type, limits and whether it is required. Read from
the entity specs (contract/entities.py), so it cannot drift from what the pipeline validates."""

from replenit_pipelines.lib.contract.entities import ENTITIES, INT32_MAX, EntitySpec, FieldSpec, Kind

TYPE_NAMES = {
    Kind.STRING: "text", Kind.BOOL: "true/false", Kind.INT: "integer", Kind.NUMBER: "number",
    Kind.TIMESTAMP: "date and time (ISO 8601)", Kind.CURRENCY: "currency (ISO 4217)", Kind.LANGUAGE: "language (BCP 47)",
    Kind.EMAIL: "email", Kind.PHONE: "phone (E.164)", Kind.URL: "URL (http/https)", Kind.STRING_LIST: "list of text",
    Kind.CHILDREN: "list of objects",
}


def _limits(f: FieldSpec) -> str:
    parts = []
    if f.max_length is not None:
        parts.append(f"at most {f.max_length:,} characters")
    if f.minimum is not None:
        parts.append(f">= {f.minimum:g}")
    if f.kind is Kind.INT:
        parts.append(f"<= {INT32_MAX:,}")
    if f.kind is Kind.NUMBER:
        parts.append("finite")
    if f.choices:
        parts.append("one of " + ", ".join(f.choices))
    return "; ".join(parts)


def _required(spec: EntitySpec, f: FieldSpec) -> str:
    if f.required:
        return "yes"
    if f.name in spec.one_of_required:
        return "one of " + " or ".join(spec.one_of_required)
    if f.name in spec.required_with:
        return "with " + " or ".join(spec.required_with[f.name])
    return "no"


def field_rows(entity: str | None = None) -> list[dict[str, str]]:
    """One row per field of `entity` (all entities when None), children after their parent's fields."""
    rows: list[dict[str, str]] = []
    for spec in ENTITIES.values():
        if entity is not None and spec.name != entity:
            continue
        for f in spec.fields:
            note = spec.derived.get(f.name, "")
            if f.name == spec.key_field:
                note = "the record's identity" + (" (or Email, by the tenant's priority)" if spec.name == "customers" else "")
            rows.append({"entity": spec.name, "field": f.name, "type": TYPE_NAMES[f.kind], "limits": _limits(f),
                         "required": _required(spec, f), "note": note})
            if f.children is not None:
                child = f.children
                for c in child.fields:
                    rows.append({"entity": spec.name, "field": f"{f.name}.{c.name}", "type": TYPE_NAMES[c.kind],
                                 "limits": _limits(c), "required": _required(child, c),
                                 "note": "the child's identity" if c.name in child.identity_fields else ""})
    return rows
