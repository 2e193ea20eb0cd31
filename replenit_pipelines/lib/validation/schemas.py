"""pandera (polars backend) schemas built from the contract, one per entity.

Every check has a short name (the rule code a quarantined row carries). Checks are Polars
expressions; code lists and BCP 47 tags are checked once per distinct value, then mapped back.
"""

from collections.abc import Callable
from typing import Any

import pandera.polars as pa
import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import INT32_MAX, INT32_MIN, EntitySpec, FieldSpec, Kind
from replenit_pipelines.lib.validation.normalize import DTYPES, STRING_KINDS, flat_fields

# The formats as Polars regexes (Rust syntax: no lookarounds, which the patterns do not use).
_REGEX = {Kind.EMAIL: formats.EMAIL_PATTERN, Kind.PHONE: formats.E164_PATTERN, Kind.URL: "(?i)" + formats.URL_PATTERN}


utf16_length = formats.utf16_units  # length in UTF-16 code units, as the .NET service counts


def _max_length_check(n: int) -> pa.Check:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        values = data.lazyframe.select(pl.col(data.key)).collect().to_series()
        ok = values.str.len_bytes() <= n
        # UTF-8 never takes fewer bytes than UTF-16 takes code units: only the values longer than
        # n bytes (few) are counted, so the regex count does not run over every value.
        longer = (~ok).arg_true()
        if longer.len():
            units = pl.select(utf16_length(pl.lit(values.gather(longer)))).to_series()
            ok = ok.scatter(longer, units <= n)
        return pl.LazyFrame({data.key: ok.fill_null(True)})

    return pa.Check(check, name="max_length")


def _expr_check(name: str, build: Callable[[pl.Expr], pl.Expr]) -> pa.Check:
    """A column check from an expression builder over pl.col(key); nulls pass (required is separate)."""
    return pa.Check(lambda data: data.lazyframe.select(build(pl.col(data.key)) | pl.col(data.key).is_null()), name=name)


def _distinct_check(name: str, predicate: Callable[[Any], bool]) -> pa.Check:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        distinct = data.lazyframe.select(pl.col(data.key).drop_nulls().unique()).collect().to_series().to_list()
        good = [v for v in distinct if predicate(v)]
        return data.lazyframe.select(pl.col(data.key).is_in(good) | pl.col(data.key).is_null())

    return pa.Check(check, name=name)


def _timestamp_ok(c: pl.Expr) -> pl.Expr:
    # The shape, then the calendar: 2024-02-30 has the shape of a date and is none.
    zoned = c.str.replace(r"Z$", "+00:00")
    parsed = pl.coalesce(
        zoned.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC"),
        zoned.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False, time_zone="UTC"),
    )
    return c.str.contains(formats.ISO8601_PATTERN) & parsed.is_not_null()


def _column(f: FieldSpec, required: bool) -> pa.Column:
    checks: list[pa.Check] = []
    if f.kind in STRING_KINDS:
        dtype: pl.DataType = pl.String()
        if required:
            checks.append(_expr_check("required", lambda c: c.str.strip_chars(formats.WHITESPACE).str.len_chars() > 0))
        if f.max_length is not None:
            n = f.max_length
            checks.append(_max_length_check(n))
        if f.choices:
            choices = list(f.choices)
            checks.append(_expr_check("choice", lambda c: c.is_in(choices)))
        if f.kind in _REGEX:
            pattern = _REGEX[f.kind]
            checks.append(_expr_check(f.kind.value, lambda c: c.str.contains(pattern)))
        elif f.kind is Kind.CURRENCY:
            checks.append(_expr_check("currency", lambda c: c.is_in(list(formats.CURRENCIES))))
        elif f.kind is Kind.LANGUAGE:
            checks.append(_distinct_check("language", formats.is_language_tag))
        elif f.kind is Kind.TIMESTAMP:
            checks.append(_expr_check("timestamp", _timestamp_ok))
    else:
        dtype = DTYPES[f.kind]
        if f.kind is Kind.NUMBER:
            checks.append(_expr_check("finite", lambda c: c.is_finite()))
        if f.kind is Kind.INT:
            # The service's integers are Int32 (entities.INT32_MAX): one range check for both bounds.
            low_int = max(INT32_MIN, f.minimum) if f.minimum is not None else INT32_MIN
            checks.append(_expr_check("range", lambda c: c.is_between(low_int, INT32_MAX)))
        elif f.minimum is not None:
            low = f.minimum
            checks.append(_expr_check("range", lambda c: c >= low))
    return pa.Column(dtype, nullable=not required, checks=checks, required=False)


def _one_of(names: tuple[str, ...]) -> pa.Check:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        cols = set(data.lazyframe.collect_schema().names())
        present = [pl.col(n).is_not_null() for n in names if n in cols] or [pl.lit(False)]
        return data.lazyframe.select(pl.any_horizontal(present).alias("one_of_required"))

    return pa.Check(check, name="one_of_required:" + ", ".join(names))


def _required_with(target: str, triggers: tuple[str, ...]) -> pa.Check:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        cols = set(data.lazyframe.collect_schema().names())
        fired = pl.any_horizontal([pl.col(t).is_not_null() for t in triggers if t in cols] or [pl.lit(False)])
        # A target the mapping leaves out is null on every row: a price without its currency is refused.
        present = pl.col(target).is_not_null() if target in cols else pl.lit(False)
        return data.lazyframe.select((~fired | present).alias("required_with"))

    return pa.Check(check, name=f"required_with:{target}")


_SCHEMAS: dict[str, pa.DataFrameSchema] = {}


def schema_for(spec: EntitySpec) -> pa.DataFrameSchema:
    """The row-level schema of an entity over its flat frame (one row per child for nested ones)."""
    if spec.name not in _SCHEMAS:
        _SCHEMAS[spec.name] = _build_schema(spec)
    return _SCHEMAS[spec.name]


def _build_schema(spec: EntitySpec) -> pa.DataFrameSchema:
    columns = {}
    frame_checks = []
    for col, f in flat_fields(spec):
        columns[col] = _column(f, f.required)
    if spec.one_of_required:
        frame_checks.append(_one_of(spec.one_of_required))
    child = spec.children_field
    if child is not None and child.children is not None:
        for target, triggers in child.children.required_with.items():
            frame_checks.append(_required_with(f"{child.name}.{target}", tuple(f"{child.name}.{t}" for t in triggers)))
    return pa.DataFrameSchema(columns, checks=frame_checks, name=spec.name, strict=False)
