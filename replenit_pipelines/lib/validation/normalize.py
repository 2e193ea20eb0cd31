"""Normalization before validation: fixes what has one right answer, and counts each fix.

Blank strings become null; timestamps become UTC `YYYY-MM-DDTHH:MM:SS.sssZ`; currency codes are
trimmed and upper-cased; language tags are canonicalised when unambiguous (`en_us` -> `en-US`);
emails are trimmed. A list of text (Taxonomy) loses its blank and null items as a scalar blank
becomes null, and a list left empty becomes null (`[""]` is no category). Columns are also brought to the contract's types, and a value that cannot
be (`"three"` as a quantity) is kept aside as a type failure with its original text.
"""

from dataclasses import dataclass, field

import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import EntitySpec, FieldSpec, Kind
from replenit_pipelines.lib.warehouse.windows import day_start

UTC_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"
STRING_KINDS = {Kind.STRING, Kind.EMAIL, Kind.PHONE, Kind.CURRENCY, Kind.LANGUAGE, Kind.URL, Kind.TIMESTAMP}
DTYPES: dict[Kind, pl.DataType] = {Kind.BOOL: pl.Boolean(), Kind.INT: pl.Int64(), Kind.NUMBER: pl.Float64(), Kind.STRING_LIST: pl.List(pl.String)}
TYPE_FAILURE_PREFIX = "__type__"
FINITE_FAILURE_PREFIX = "__finite__"  # NaN or ±inf in a float column mapped to an integer field


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


def _timestamp_expr(col: str, dtype: pl.DataType, timezone: str, enabled: bool) -> pl.Expr:
    """Datetime columns are written as UTC text; text stays text (parsed later). A DATE column is
    midnight of that day in the mapping's timezone: a warehouse's order date (TPC-H `o_orderdate`)
    says the day, and the API takes only date-times. Text holding only a date stays refused: its
    column may mix dates and date-times, and which one the writer meant is not ours to guess."""
    c = pl.col(col)
    if isinstance(dtype, pl.Date) and enabled:
        return day_start(c, timezone).dt.convert_time_zone("UTC").dt.strftime(UTC_FORMAT)
    if not isinstance(dtype, pl.Datetime):
        return c.cast(pl.String)
    if dtype.time_zone is None:
        naive = c.dt.strftime("%Y-%m-%dT%H:%M:%S")
        if not enabled:
            return naive  # naive: left for validation to refuse
        zoned = c.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        # A wall time the zone skipped (clocks going forward) is no instant: it stays naive text, which
        # the timestamp rule refuses with its value, as it refuses such text; never sent as null.
        return pl.when(zoned.is_null() & c.is_not_null()).then(naive).otherwise(
            zoned.dt.convert_time_zone("UTC").dt.strftime(UTC_FORMAT))
    return c.dt.convert_time_zone("UTC").dt.strftime(UTC_FORMAT)


def _normalize_timestamp_strings(values: pl.Series, timezone: str) -> pl.Series:
    """Text timestamps -> UTC text, each distinct value parsed once. A value that does not parse
    is kept as it came, for validation to name."""
    distinct = values.drop_nulls().unique()
    trimmed = distinct.str.strip_chars().str.replace(" ", "T", literal=True)
    zoned = trimmed.str.replace(r"Z$", "+00:00")
    # ISO 8601 allows leaving out the seconds ("2026-11-26T11:00", as window columns accept): :00.
    with_zone = pl.coalesce(zoned.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC"),
                            zoned.str.to_datetime("%Y-%m-%dT%H:%M%:z", strict=False, time_zone="UTC"))
    naive = (
        pl.coalesce(trimmed.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False),
                    trimmed.str.to_datetime("%Y-%m-%dT%H:%M", strict=False))
        .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    )
    parsed = with_zone.fill_null(naive)
    fixed = pl.select(pl.when(parsed.is_not_null()).then(parsed.dt.strftime(UTC_FORMAT)).otherwise(distinct)).to_series()
    changed = distinct != fixed
    if not changed.any():
        return values
    return values.replace(distinct.filter(changed), fixed.filter(changed))


# A blank value: nothing but formats.WHITESPACE (what strip_chars(WHITESPACE) == "" says, at half
# its CPU: a regex test allocates no stripped copy). None of its characters is special in a class.
assert not set(formats.WHITESPACE) & set("[]\\^-&~"), "a regex class of formats.WHITESPACE as it is"
_BLANK = f"^[{formats.WHITESPACE}]*$"


def normalize(frame: pl.DataFrame, spec: EntitySpec, timezone: str = "UTC", enabled: bool = True) -> Normalized:
    out, string_cols = _typed(frame, spec, timezone, enabled)
    if not enabled:
        return Normalized(out, {})
    return _normalized_values(out, spec, frame.schema, string_cols, timezone)


def _typed(frame: pl.DataFrame, spec: EntitySpec, timezone: str, enabled: bool) -> tuple[pl.DataFrame, list[tuple[str, FieldSpec]]]:
    """Each field in its API type, and a failure column where a value could not be kept (the text
    of a value that is no number, an integer field's 1.5, a non-finite number); the text fields."""
    schema = frame.schema
    typed: list[pl.Expr] = []
    type_failures: list[pl.Expr] = []
    string_cols: list[tuple[str, FieldSpec]] = []
    for col, f in flat_fields(spec):
        if col not in schema:
            continue
        dtype = schema[col]
        c = pl.col(col)
        if f.kind in STRING_KINDS:
            typed.append((_timestamp_expr(col, dtype, timezone, enabled) if f.kind is Kind.TIMESTAMP else c.cast(pl.String)).alias(col))
            string_cols.append((col, f))
        elif f.kind in DTYPES:
            target = DTYPES[f.kind]
            if dtype == target or dtype == pl.Null:
                typed.append(c.cast(target))
                continue
            cast = c.cast(target, strict=False)
            bad = c.is_not_null() & cast.is_null()
            if f.kind is Kind.INT and dtype.is_float():
                non_finite = c.is_not_null() & ~c.is_finite()
                bad = ~non_finite & (bad | (c.is_not_null() & (c != c.round(0))))  # 1.5 is no quantity
                cast = pl.when(bad | non_finite).then(None).otherwise(cast)
                type_failures.append(pl.when(non_finite).then(c.cast(pl.String)).otherwise(None).alias(FINITE_FAILURE_PREFIX + col))
            elif f.kind is Kind.INT and dtype.is_decimal():  # DECIMAL(12,4) 1.5000 (Magento's qty_ordered): no quantity
                bad = bad | (c.is_not_null() & (c != c.round(0)))
                cast = pl.when(bad).then(None).otherwise(cast)
            typed.append(cast.alias(col))
            type_failures.append(pl.when(bad).then(c.cast(pl.String)).otherwise(None).alias(TYPE_FAILURE_PREFIX + col))
    return frame.with_columns(typed + type_failures), string_cols


def _normalized_values(out: pl.DataFrame, spec: EntitySpec, schema: pl.Schema, string_cols: list[tuple[str, FieldSpec]],
                       timezone: str) -> Normalized:
    """Values written one way: timestamps in UTC, currencies upper-cased, emails trimmed, blanks as
    null, lists of text without blank items, language tags canonical; each change counted."""
    counts: dict[str, int] = {}

    def bump(name: str, n: int) -> None:
        counts[name] = counts.get(name, 0) + n

    fixed: dict[str, pl.Expr] = {}  # trimmed (and upper-cased) text, by column
    counted_as: dict[str, str] = {}
    for col, f in string_cols:
        if f.kind is Kind.TIMESTAMP and schema[col] in (pl.String, pl.Categorical):
            before = out[col]
            after = _normalize_timestamp_strings(before, timezone)
            bump("timestamps_to_utc", int((before != after).sum()))
            out = out.with_columns(after.alias(col))
        elif f.kind is Kind.TIMESTAMP and isinstance(schema[col], pl.Datetime):
            bump("timestamps_to_utc", int(out[col].is_not_null().sum()))
        elif f.kind in (Kind.CURRENCY, Kind.EMAIL) or f.trimmed:
            trimmed = pl.col(col).str.strip_chars(formats.WHITESPACE)
            fixed[col] = trimmed.str.to_uppercase() if f.kind is Kind.CURRENCY else trimmed
            counted_as[col] = "currencies_upper_cased" if f.kind is Kind.CURRENCY else "emails_trimmed"
    blanks = [col for col, _ in string_cols]
    if fixed or blanks:
        # The fixed values, and which rows each fix changed and each column has blank (on the fixed
        # values), in one pass over the text columns. Eager on purpose: a lazy collect (either
        # engine) re-materialised the whole frame, ~200 MB more peak on 1M customers.
        changed = [(pl.col(c) != e).alias(f"__changed {c}") for c, e in fixed.items()]
        blank = [fixed.get(c, pl.col(c)).str.contains(_BLANK).alias(f"__blank {c}") for c in blanks]
        out = out.with_columns(*changed, *blank).with_columns(e.alias(c) for c, e in fixed.items())
        flagged = out.select(pl.col(f"__changed {c}").sum() for c in fixed).row(0) if fixed else ()
        for c, n in zip(fixed, flagged, strict=True):
            bump(counted_as[c], int(n or 0))
        blank_counts = out.select(pl.col(f"__blank {c}").sum() for c in blanks).row(0) if blanks else ()
        bump("blank_to_null", int(sum(n or 0 for n in blank_counts)))
        with_blanks = [c for c, n in zip(blanks, blank_counts, strict=True) if n]
        out = out.with_columns(pl.when(pl.col(f"__blank {c}")).then(None).otherwise(pl.col(c)).alias(c) for c in with_blanks) \
            .drop(*(f"__changed {c}" for c in fixed), *(f"__blank {c}" for c in blanks))
    for col, f in flat_fields(spec):
        if f.kind is Kind.STRING_LIST and col in out.columns:
            out, dropped, emptied = _normalize_string_list(out, col)
            bump("blank_list_items_dropped", dropped)
            bump("empty_lists_to_null", emptied)
    for col, f in string_cols:
        if f.kind is Kind.LANGUAGE:
            out, n = _canonical_languages(out, col)
            bump("languages_canonicalised", n)
    return Normalized(out, counts)


def _normalize_string_list(frame: pl.DataFrame, col: str) -> tuple[pl.DataFrame, int, int]:
    """A list of text without its null and blank items (blank as for a scalar: formats.WHITESPACE
    only); a list left empty is null. Returns the frame, the items dropped and the lists emptied."""
    values = pl.col(col)
    blank = pl.element().is_null() | (pl.element().str.strip_chars(formats.WHITESPACE) == "")
    dropped, empty = frame.select(
        values.list.eval(blank).list.sum().sum().alias("dropped"),
        (values.list.eval(~blank).list.sum() == 0).sum().alias("empty"),
    ).row(0)
    dropped, empty = int(dropped or 0), int(empty or 0)
    if not dropped and not empty:
        return frame, 0, 0
    kept = values.list.eval(pl.element().filter(~blank))
    return frame.with_columns(pl.when(kept.list.len() > 0).then(kept).otherwise(None).alias(col)), dropped, empty


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
