"""The mapping applied (the map stage's machinery; lib/stages/map.py is its door): warehouse rows
-> API-shaped rows and records, as the mapping file (declared in lib/warehouse/mapping.py) says.
`apply_mapping` evaluates every field's column, expr or constant, casts and normalizes the values
and computes each row's identity; `nest_records` turns the valid rows into records (children
nested, derived totals computed). Validation (lib/validation/prepare.py) runs between the two, so
a record is only ever built from valid rows.
"""

import json

import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import Kind
from replenit_pipelines.lib.contract.identity import record_key
from replenit_pipelines.lib.validation.normalize import flat_fields, normalize
from replenit_pipelines.lib.warehouse.mapping import (
    CHILD_PARENT_KEY,
    EntityMapping,
    FieldMapping,
    MappingError,
)

CAST_FAILURE_PREFIX = "__cast__"  # the source text of a value its mapping cast could not keep


def apply_mapping(
    mapping: EntityMapping, raw: pl.DataFrame, normalize_values: bool, customer_priority: str
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Source rows -> flat rows of API fields (children as `Child.Field` columns) with `__row`,
    `__ts` (the window column), `__key` (the record's identity) and failure columns; and the
    normalization counts. A field the mapping cannot produce raises MappingError naming it."""
    # A normalized or converted source's frame has each child field's value and the row's time as
    # columns of their own (frames.read_frames); the mapping over it says so.
    mapping = mapping.as_read()
    spec = mapping.spec
    window = mapping.source.time_column
    exprs = [pl.col("__row"), pl.col(window).alias("__ts"), *(f.expression() for f in mapping.all_fields),
             *_unmapped_required(mapping)]
    if mapping.child_key:
        exprs.append(pl.col(mapping.child_key).cast(pl.String).alias("__child_key"))
    if CHILD_PARENT_KEY in raw.columns:  # a child source's rows: the parent id each one names
        exprs.append(pl.col(CHILD_PARENT_KEY).alias("__parent_key"))
    no_child = _no_child(mapping)
    if no_child is not None:
        exprs.append(no_child)
    try:
        _refuse_nested_values(mapping, raw)  # (an expr that fails on the source's types: _mapping_error says so)
        exprs += _cast_failures(mapping, raw)
        flat = raw.with_row_index("__row").select(exprs)
        normalized = normalize(flat, spec, mapping.source.timezone, normalize_values)
    except pl.exceptions.PolarsError as exc:
        raise _mapping_error(mapping, raw, normalize_values, exc) from None
    flat = normalized.frame
    flat = flat.with_columns(record_key(spec.name, flat.columns, customer_priority, normalize_values).alias("__key"))

    return flat, normalized.counts


def _unmapped_required(mapping: EntityMapping) -> list[pl.Expr]:
    """A field the contract requires that the mapping leaves out is null on every row, so each row is
    quarantined as `required` on it (a line without Quantity, an order without Currency, a variant
    without VariantId): never sent without it, and never a crash where lines are totalled."""
    return [pl.lit(None, pl.Int64 if f.kind is Kind.INT else pl.String).alias(name) for name, f in mapping.unmapped_required()]


def nest_records(valid: pl.DataFrame, mapping: EntityMapping) -> pl.DataFrame:
    """Valid flat rows -> one row per record: children nested as arrays, the record's own fields
    from its newest row, the totals the contract declares as derived (`EntitySpec.derived`)."""
    spec = mapping.spec
    child = spec.children_field
    parent_cols = [f.target for f in mapping.fields]
    if child is None:
        return valid.select("__key", *parent_cols, pl.lit(1, pl.UInt32).alias("__rows"))
    prefix = f"{child.name}."
    child_cols = [f.target for f in mapping.children]
    lines = is_line(valid)
    # The record's own fields come from its newest row: a window reads the whole record, so its
    # other rows may be older versions (an order's status before its refund).
    # Between rows of one time, the content decides (prepare's `__tie`), never the read's order.
    newest_last = [c for c in ("__ts", "__tie", "__row") if c in valid.columns]
    firsts = {c: pl.col(c).sort_by(*newest_last, nulls_last=False).last() for c in parent_cols}
    derived: dict[str, pl.Expr] = {}
    if spec.name == "orders":
        # Totals come from the lines: the API would default a missing revenue to 1. A line without
        # a price was quarantined (total_underivable), so every price here is known. An order with
        # no lines has 0 revenue, 0 quantity and 0 unique products.
        q = pl.col(f"{prefix}Quantity").filter(lines)
        price = pl.col(f"{prefix}Price").filter(lines) if f"{prefix}Price" in child_cols else pl.lit(None, pl.Float64)
        derived = {
            # Summed in the children's canonical order (below), not the read's: a float sum depends on it.
            "TotalRevenue": (q * price).sum().cast(pl.Float64).round(6),  # no float noise
            "TotalQuantity": q.sum().cast(pl.Int64),
            "UniqueQuantity": pl.col(f"{prefix}ProductId").filter(lines).n_unique().cast(pl.Int64),
        }
        if "TotalRevenue" in firsts:
            # The warehouse's total wins; where it is null, the lines give it (never sent missing).
            firsts["TotalRevenue"] = pl.coalesce(firsts["TotalRevenue"], derived["TotalRevenue"])
    aggs = [e.alias(c) for c, e in firsts.items()]
    # A parent with only "no child" rows nests as an empty array; those rows still count in __rows.
    aggs.append(pl.struct([pl.col(c).alias(c[len(prefix):]) for c in child_cols]).filter(lines).alias(child.name))
    aggs.append(pl.len().cast(pl.UInt32).alias("__rows"))
    assert set(derived) <= set(spec.derived), "every derived field is declared in the contract"
    aggs += [e.alias(name) for name, e in derived.items() if name not in firsts]
    # The children in one canonical order (child_order), never the read's: a warehouse returns rows
    # in scan order, which varies between runs, and the payload's bytes and hash must not. One sort
    # of the frame (a sort per record costs five times as much); records keep the read's order.
    ordered = valid.sort(child_order(valid, mapping), nulls_last=True, maintain_order=True)
    records = ordered.group_by("__key", maintain_order=True).agg(*aggs, pl.col("__row").min().alias("__first"))
    return records.sort("__first").drop("__first")


def child_order(valid: pl.DataFrame, mapping: EntityMapping) -> list[pl.Expr]:
    """The canonical order of a record's children: by the mapping's child key, else by the
    contract's child identity (VariantId), shorter first and then as text (so `O1-2` comes before
    `O1-10`, and integer keys in their numeric order: the order most tables were loaded in, so
    that fewer records acknowledged before this order existed differ from it); then by every
    mapped child field, so that two children never tie unless they are equal in everything sent."""
    child = mapping.spec.children_field
    assert child is not None and child.children is not None
    prefix = f"{child.name}."
    fields = [f.target for f in mapping.children]
    first = (["__child_key"] if "__child_key" in valid.columns else
             [c for c in (prefix + n for n in child.children.identity_fields) if c in fields])
    keys = [e for c in first for e in (pl.col(c).cast(pl.String).str.len_bytes(), pl.col(c).cast(pl.String))]
    return [*keys, *(pl.col(c) for c in fields)]


def _describe(f: FieldMapping) -> str:
    if f.label is not None:
        return f.label
    if f.column is not None:
        return f"column {f.column}"
    if f.expr is not None:
        return f"expr {f.expr!r}"
    return f"constant {f.constant!r}"


_CASTS_FOR = {Kind.BOOL: "bool", Kind.INT: "int", Kind.NUMBER: "float"}


def _what_to_write(f: FieldMapping, kind: Kind | None) -> str:
    name = f.target.split(".")[-1]
    if kind is Kind.STRING_LIST:
        return f"a list is written as an expr that builds one, e.g. {name}: {{expr: \"string_to_array(category, '/')\"}}"
    cast = _CASTS_FOR.get(kind, "string") if kind is not None else "string"
    source = (f"column: {f.label.split()[1].strip(chr(39))}" if f.label is not None and f.label.startswith("column ")
              else f"column: {f.column}" if f.column is not None else f"expr: {f.expr!r}" if f.expr is not None
              else f"constant: {f.constant!r}")
    reads = " (reads true/false, yes/no, y/n, t/f, 1/0; other spellings are quarantined)" if cast == "bool" else ""
    return f"write {name}: {{{source}, cast: {cast}}}{reads}"


def _refuse_nested_values(mapping: EntityMapping, raw: pl.DataFrame) -> None:
    """A struct or list where a field takes one value stops the run with the expr that picks it:
    cast to text it would be sent as its JSON-like rendering ('{"Ada"}'), to a bool or a number
    lost, never the value the field means."""
    kinds = {col: f.kind for col, f in flat_fields(mapping.spec)}
    fields = [f for f in mapping.all_fields if kinds.get(f.target) not in (None, Kind.STRING_LIST, Kind.CHILDREN)]
    types = raw.lazy().select(f.source_expression().alias(f.target) for f in fields).collect_schema()
    for f in fields:
        dtype = types[f.target]
        if dtype == pl.String and f.column is not None and f.expr is None:
            _refuse_json_objects(mapping, f, raw.select(f.source_expression()).to_series(), kinds[f.target])
        if not dtype.is_nested():
            continue
        name, value = f.target.split(".")[-1], f.column if f.column is not None else f"({f.expr})"
        pick = (f"{{expr: \"{value}.{dtype.fields[0].name}\"}} (a struct's field by name)"
                if isinstance(dtype, pl.Struct) and dtype.fields else f"{{expr: \"{value}[1]\"}} (a list's item by its place, from 1)")
        raise MappingError(f"{mapping.origin}: {mapping.entity}.{f.target} ({_describe(f)}) is {dtype}, which {f.target} "
                           f"({kinds[f.target].value}) takes as one value: no cast picks one out of it; "
                           f"pick it with an expr, e.g. {name}: {pick}")


def _refuse_json_objects(mapping: EntityMapping, f: FieldMapping, column: pl.Series, kind: Kind) -> None:
    """A text column whose every value is a JSON object (a DuckDB JSON column, Odoo's translated
    `name` {"en_US": ...}: Polars reads JSON as text) stops the run as a struct does: its text would
    be sent as the value. Judged on the values (the reader's frame has no JSON type), cheaply: a
    column is looked at whole only if its first values all start with '{'."""
    head = column.head(1000).drop_nulls()  # most columns are judged on their first values alone
    if head.len() and not head.str.starts_with("{").all():
        return
    values = column.drop_nulls()
    if not values.len() or not values.str.starts_with("{").all() or not values.str.ends_with("}").all():
        return
    try:
        first = json.loads(values[0])
    except ValueError:
        return
    if not isinstance(first, dict) or not first:
        return
    key = next(iter(first))
    raise MappingError(f"{mapping.origin}: {mapping.entity}.{f.target} ({_describe(f)}) holds JSON objects "
                       f"({values[0][:60]!r}), which {f.target} ({kind.value}) takes as one value: their text would be "
                       f"sent. Pick the value in a query source, e.g. `{f.column}->>'{key}' AS {f.column}` (DuckDB), "
                       f"or in the warehouse")


def _mapping_error(mapping: EntityMapping, raw: pl.DataFrame, normalize_values: bool, exc: Exception) -> MappingError:
    """A Polars error while mapping, turned into one line naming the file, the field and what to write."""
    spec = mapping.spec
    kinds = {col: f.kind for col, f in flat_fields(spec)}
    for f in mapping.all_fields:
        where = f"{mapping.origin}: {mapping.entity}.{f.target} ({_describe(f)})"
        source_type = None
        try:
            source_type = raw.lazy().select(f.source_expression()).collect_schema().dtypes()[0]
            mapped = raw.select(f.expression())
        except pl.exceptions.PolarsError as field_exc:
            reason = str(field_exc).splitlines()[0]
            hint = ("fix the expr: it is Polars SQL over the source's columns" if f.expr is not None
                    else f"cast: {f.cast} cannot read a {source_type}: drop the cast or compute the value in an expr")
            return MappingError(f"{where} cannot be evaluated: {reason}; {hint}")
        try:
            normalize(mapped, spec, mapping.source.timezone, normalize_values)
        except pl.exceptions.PolarsError as field_exc:
            kind = kinds.get(f.target)
            reason = str(field_exc).splitlines()[0]
            hint = _what_to_write(f, kind)
            return MappingError(f"{where} is {source_type}, which {f.target} ({kind.value if kind else '?'}) cannot take "
                                f"({reason}): {hint}")
    return MappingError(f"{mapping.origin}: {mapping.entity}: the mapping cannot be applied: {str(exc).splitlines()[0]}")


# The first integer a float may hold in place of its neighbour: 2^24 in a FLOAT, 2^53 in a DOUBLE.
_FLOAT32_EXACT_INTEGERS, _FLOAT64_EXACT_INTEGERS = 2**24, 2**53


def _cast_failures(mapping: EntityMapping, raw: pl.DataFrame) -> list[pl.Expr]:
    """For each field with a cast: the source value as text where the cast lost it (a non-blank
    value that became null, or a number that changed, as 1.5 (float or DECIMAL) cast to int), else null."""
    cast_fields = [f for f in mapping.all_fields if f.cast is not None]
    if not cast_fields:
        return []
    types = raw.lazy().select(f.source_expression().alias(f.target) for f in cast_fields).collect_schema()
    out = []
    for f in cast_fields:
        src, dtype = f.source_expression(), types[f.target]
        present = src.is_not_null()
        if dtype == pl.String:
            present = present & (src.str.strip_chars(formats.WHITESPACE) != "")  # a blank is no value, not a failed cast
        lost = present & f.cast_expression().is_null()
        if f.cast == "int" and (dtype.is_float() or dtype.is_decimal()):  # a DECIMAL(12,4) 1.5000 is no int
            lost = lost | (present & (src != src.round(0)))
        if f.cast == "int" and dtype.is_float():
            # From 2^53 (2^24 in a FLOAT) a float holds not every integer: a BIGINT id 2^53 + 1 kept as a
            # DOUBLE reads 2^53, another record's id. Which one it was is lost: not guessed.
            exact = _FLOAT32_EXACT_INTEGERS if dtype == pl.Float32 else _FLOAT64_EXACT_INTEGERS
            lost = lost | (present & (src.abs() >= exact))
        text = pl.lit(f"<{dtype}>") if dtype.is_nested() else src.cast(pl.String)
        out.append(pl.when(lost).then(text).alias(CAST_FAILURE_PREFIX + f.target))
    return out


def _no_child(mapping: EntityMapping) -> pl.Expr | None:
    """True where every source column the child fields read, and the child key, is NULL: the row
    is a parent without a child (a left join that matched nothing). A column the parent's fields
    read too still counts (`VariantId: i_item_id` beside `ProductId: i_item_id`, one variant per
    item): a child value beside NULLs is a child, never dropped. Constants and defaults do not."""
    if not mapping.children:
        return None
    child_cols = set().union(*(f.source_columns() for f in mapping.children))
    if mapping.child_key:
        child_cols.add(mapping.child_key)
    if not child_cols:
        return None
    return pl.all_horizontal([pl.col(c).is_null() for c in sorted(child_cols)]).alias("__no_child")


def is_line(flat: pl.DataFrame) -> pl.Expr:
    return ~pl.col("__no_child") if "__no_child" in flat.columns else pl.lit(True)



