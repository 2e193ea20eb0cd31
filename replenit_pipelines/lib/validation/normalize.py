"""Normalization before validation: fixes what has one right answer, and counts each fix.

Blank strings become null; timestamps become UTC `YYYY-MM-DDTHH:MM:SS.sssZ`; currency codes are
trimmed and upper-cased; language tags are canonicalised when unambiguous (`en_us` -> `en-US`);
emails are trimmed. Columns are also brought to the contract's types, and a value that cannot
be (`"three"` as a quantity) is kept aside as a type failure with its original text.
"""

from dataclasses import dataclass, field

import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import EntitySpec, FieldSpec, Kind

UTC_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"
STRING_KINDS = {Kind.STRING, Kind.EMAIL, Kind.PHONE, Kind.CURRENCY, Kind.LANGUAGE, Kind.URL, Kind.TIMESTAMP}
DTYPES = {Kind.BOOL: pl.Boolean, Kind.INT: pl.Int64, Kind.NUMBER: pl.Float64, Kind.STRING_LIST: pl.List(pl.String)}
TYPE_FAILURE_PREFIX = "__type__"


@dataclass
class Normalized:
    frame: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def flat_fields(spec: EntitySpec) -> list[tuple[str, FieldSpec]]:
    """(column name, field) for the record's fields and, prefixed, its children's."""
    out: list[tuple[str, FieldSpec]] = []
    for f in spec.fields:
        if f.kind is Kind.CHILDREN:
            assert f.children is not None
            out += [(f"{f.name}.{c.name}", c) for c in f.children.fields]
        else:
            out.append((f.name, f))
    return out


def _timestamp_expr(col: str, dtype: pl.DataType, timezone: str, normalize: bool) -> pl.Expr:
    c = pl.col(col)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            if not normalize:
                return c.dt.strftime("%Y-%m-%dT%H:%M:%S")  # naive: left for validation to refuse
            c = c.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        return c.dt.convert_time_zone("UTC").dt.strftime(UTC_FORMAT)
    if isinstance(dtype, pl.Date):
        return c.cast(pl.String)  # a date alone is not a timestamp: validation says so
    text = c.cast(pl.String)
    if not normalize:
        return text
    trimmed = text.str.strip_chars()
    with_zone = trimmed.str.replace(r"Z$", "+00:00").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC")
    with_zone_whole = trimmed.str.replace(r"Z$", "+00:00").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False, time_zone="UTC")
    naive = pl.coalesce(
        trimmed.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False),
        trimmed.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False),
        trimmed.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False),
        trimmed.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False),
    ).dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    parsed = pl.coalesce(with_zone, with_zone_whole, naive)
    # A value that does not parse is kept as it came, for validation to name.
    return pl.when(parsed.is_not_null()).then(parsed.dt.strftime(UTC_FORMAT)).otherwise(text)


def normalize(frame: pl.DataFrame, spec: EntitySpec, timezone: str = "UTC", enabled: bool = True) -> Normalized:
    counts: dict[str, int] = {}
    schema = frame.schema
    exprs: list[pl.Expr] = []
    type_failures: list[pl.Expr] = []
    changed: list[tuple[str, str]] = []  # (count name, column)
    for col, f in flat_fields(spec):
        if col not in schema:
            continue
        dtype = schema[col]
        c = pl.col(col)
        if f.kind in STRING_KINDS:
            if f.kind is Kind.TIMESTAMP:
                e = _timestamp_expr(col, dtype, timezone, enabled)
            else:
                e = c.cast(pl.String)
            if enabled:
                if f.kind is Kind.CURRENCY:
                    e = e.str.strip_chars().str.to_uppercase()
                elif f.kind is Kind.EMAIL:
                    e = e.str.strip_chars()
                e = pl.when(e.str.strip_chars() == "").then(None).otherwise(e)
            exprs.append(e.alias(col))
        elif f.kind in DTYPES:
            target = DTYPES[f.kind]
            if dtype == target or dtype == pl.Null:
                exprs.append(c.cast(target))
                continue
            cast = c.cast(target, strict=False)
            bad = c.is_not_null() & cast.is_null()
            if f.kind is Kind.INT and dtype.is_float():
                bad = bad | (c.is_not_null() & (c != c.round(0)))  # 1.5 is no quantity
                cast = pl.when(bad).then(None).otherwise(cast)
            exprs.append(cast.alias(col))
            type_failures.append(pl.when(bad).then(c.cast(pl.String)).otherwise(None).alias(TYPE_FAILURE_PREFIX + col))
        if enabled:
            changed.append((f.kind.value, col))
    out = frame.with_columns(exprs + type_failures)
    if enabled:
        for kind, col in changed:
            before, after = frame[col], out[col]
            if kind in ("bool", "int", "number", "string_list"):
                continue
            if before.dtype == pl.String:
                was_blank = (before.str.strip_chars() == "").fill_null(False)
                counts["blank_to_null"] = counts.get("blank_to_null", 0) + int(was_blank.sum())
                diff = (before != after).fill_null(False) & ~was_blank
            else:
                diff = after.is_not_null() & (before.cast(pl.String) != after).fill_null(True)
            name = {"timestamp": "timestamps_to_utc", "currency": "currencies_upper_cased",
                    "email": "emails_trimmed"}.get(kind)
            if name:
                counts[name] = counts.get(name, 0) + int(diff.sum())
        for col, f in flat_fields(spec):
            if f.kind is Kind.LANGUAGE and col in out.columns:
                out, n = _canonical_languages(out, col)
                counts["languages_canonicalised"] = counts.get("languages_canonicalised", 0) + n
    return Normalized(out, counts)


def _canonical_languages(frame: pl.DataFrame, col: str) -> tuple[pl.DataFrame, int]:
    """Each distinct tag is looked at once, then mapped back: a set lookup, not a Python loop per row."""
    distinct = frame[col].drop_nulls().unique().to_list()
    fixes = {}
    for tag in distinct:
        if not formats.is_language_tag(tag):
            canonical = formats.canonical_language_tag(tag)
            if canonical is not None and canonical != tag:
                fixes[tag] = canonical
    if not fixes:
        return frame, 0
    n = int(frame[col].is_in(list(fixes)).sum())
    return frame.with_columns(pl.col(col).replace(fixes)), n
