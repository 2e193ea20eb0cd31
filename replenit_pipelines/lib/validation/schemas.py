"""pandera (polars backend) schemas built from the contract, one per entity.

Every check has a short name (the rule code a quarantined row carries). Checks are Polars
expressions; code lists and BCP 47 tags are checked once per distinct value, then mapped back.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandera.polars as pa
import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import INT32_MAX, INT32_MIN, EntitySpec, FieldSpec, Kind
from replenit_pipelines.lib.validation.normalize import DTYPES, STRING_KINDS, flat_fields

# The formats as Polars regexes (Rust syntax: no lookarounds, which the patterns do not use).
_REGEX = {Kind.EMAIL: formats.EMAIL_PATTERN, Kind.PHONE: formats.E164_PATTERN, Kind.URL: "(?i)" + formats.URL_PATTERN}


utf16_length = formats.utf16_units  # length in UTF-16 code units, as the .NET service counts


CheckFn = Callable[[pa.PolarsData], pl.LazyFrame]


def _max_length_check(n: int) -> tuple[str, CheckFn]:
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

    return "max_length", check


def _expr_check(name: str, build: Callable[[pl.Expr], pl.Expr]) -> tuple[str, CheckFn]:
    """A column check from an expression builder over pl.col(key); nulls pass (required is separate)."""
    return name, lambda data: data.lazyframe.select(build(pl.col(data.key)) | pl.col(data.key).is_null())


def _distinct_check(name: str, predicate: Callable[[Any], bool]) -> tuple[str, CheckFn]:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        distinct = data.lazyframe.select(pl.col(data.key).drop_nulls().unique()).collect().to_series().to_list()
        good = [v for v in distinct if predicate(v)]
        return data.lazyframe.select(pl.col(data.key).is_in(good) | pl.col(data.key).is_null())

    return name, check


def _timestamp_ok(c: pl.Expr) -> pl.Expr:
    # The shape, then the calendar: 2024-02-30 has the shape of a date and is none.
    zoned = c.str.replace(r"Z$", "+00:00")
    parsed = pl.coalesce(
        zoned.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC"),
        zoned.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False, time_zone="UTC"),
    )
    return c.str.contains(formats.ISO8601_PATTERN) & parsed.is_not_null()


def _column_checks(f: FieldSpec, required: bool) -> tuple[pl.DataType, list[tuple[str, CheckFn]]]:
    """A field's dtype and its checks, (rule name, function of the frame and column)."""
    checks: list[tuple[str, CheckFn]] = []
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
    return dtype, checks


def _every_row(value: bool) -> pl.Expr:
    """A constant with one value per row (a literal is one value: a check's outcome has a row each)."""
    return pl.repeat(value, pl.len(), dtype=pl.Boolean)


def _one_of(names: tuple[str, ...]) -> tuple[str, CheckFn]:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        cols = set(data.lazyframe.collect_schema().names())
        present = [pl.col(n).is_not_null() for n in names if n in cols] or [_every_row(False)]
        return data.lazyframe.select(pl.any_horizontal(present).alias("one_of_required"))

    return "one_of_required:" + ", ".join(names), check


def _required_with(target: str, triggers: tuple[str, ...]) -> tuple[str, CheckFn]:
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        cols = set(data.lazyframe.collect_schema().names())
        fired = pl.any_horizontal([pl.col(t).is_not_null() for t in triggers if t in cols] or [_every_row(False)])
        # A target the mapping leaves out is null on every row: a price without its currency is refused.
        present = pl.col(target).is_not_null() if target in cols else _every_row(False)
        return data.lazyframe.select((~fired | present).alias("required_with"))

    return f"required_with:{target}", check


@dataclass(frozen=True)
class EntityChecks:
    """An entity's rules over its flat frame (one row per child for nested ones): the pandera
    schema that validates and explains, and the same checks as plain functions, for
    `rows_failing_any`."""

    schema: pa.DataFrameSchema
    columns: dict[str, tuple[pl.DataType, bool, list[tuple[str, CheckFn]]]]  # column: dtype, required, checks
    frame: list[tuple[str, CheckFn]]


_CHECKS: dict[str, EntityChecks] = {}


def checks_for(spec: EntitySpec) -> EntityChecks:
    if spec.name not in _CHECKS:
        _CHECKS[spec.name] = _build_checks(spec)
    return _CHECKS[spec.name]


def schema_for(spec: EntitySpec) -> pa.DataFrameSchema:
    """The row-level schema of an entity over its flat frame (one row per child for nested ones)."""
    return checks_for(spec).schema


def _build_checks(spec: EntitySpec) -> EntityChecks:
    columns = {}
    for col, f in flat_fields(spec):
        dtype, checks = _column_checks(f, f.required)
        columns[col] = (dtype, f.required, checks)
    frame: list[tuple[str, CheckFn]] = []
    if spec.one_of_required:
        frame.append(_one_of(spec.one_of_required))
    child = spec.children_field
    if child is not None and child.children is not None:
        for target, triggers in child.children.required_with.items():
            frame.append(_required_with(f"{child.name}.{target}", tuple(f"{child.name}.{t}" for t in triggers)))
    schema = pa.DataFrameSchema(
        {col: pa.Column(dtype, nullable=not required, checks=[pa.Check(fn, name=name) for name, fn in checks], required=False)
         for col, (dtype, required, checks) in columns.items()},
        checks=[pa.Check(fn, name=name) for name, fn in frame], name=spec.name, strict=False)
    return EntityChecks(schema, columns, frame)


def rows_failing_any(flat: pl.DataFrame, checks: EntityChecks) -> pl.Series | None:
    """Which rows fail at least one of the entity's rules, from every check evaluated in one
    parallel pass (pandera runs and collects them one by one: 0.4 s on a million customers, where
    the explanation is needed for the few rows that fail). A null outcome counts as a failure (the
    rows found may be more than pandera's, never fewer). None when a column's dtype is not the
    schema's or a check cannot run: pandera must judge the whole frame then (a mapping error)."""
    if any(col in flat.columns and flat.schema[col] != dtype for col, (dtype, _, _) in checks.columns.items()):
        return None
    lf = flat.lazy()
    try:
        outcomes = []
        for col, (_, required, column_checks) in checks.columns.items():
            if col in flat.columns:
                outcomes += [lf.select(pl.col(col).is_not_null())] if required else []
                outcomes += [fn(pa.PolarsData(lf, col)) for _, fn in column_checks]
        outcomes += [fn(pa.PolarsData(lf)) for _, fn in checks.frame]
        if not outcomes:
            return pl.Series("failing", [False] * flat.height)
        every = pl.concat([o.select(pl.first().alias(str(i))) for i, o in enumerate(outcomes)], how="horizontal")
        # The streaming engine spreads the rows over every core (an eager select runs each check on one).
        return every.select(~pl.all_horizontal(pl.all().fill_null(False)).alias("failing")).collect(engine="streaming").to_series()
    except pl.exceptions.PolarsError:  # a check that cannot run here: pandera runs it, and says so
        return None
