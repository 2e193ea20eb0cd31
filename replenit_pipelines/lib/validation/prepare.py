"""Warehouse rows of one window -> valid payload records and quarantined rows with reasons.

map -> normalize -> supersede duplicates (latest by the window column wins, per the identity the
tenant matches records by) -> validate (pandera) -> nest children -> split. A record is valid
only whole: an order with one bad line, or a product with one bad variant, is quarantined with all
its rows. Nothing is dropped silently: rows read = rows valid + rows quarantined + rows superseded.

A row whose child columns are all NULL (a left join that found no line or variant) is a parent
with no child: it nests as an empty array and counts in the record's `__rows`.
"""

from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import ENTITIES, Kind
from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, check_customer_priority
from replenit_pipelines.lib.contract.payload import serialize
from replenit_pipelines.lib.validation.normalize import FINITE_FAILURE_PREFIX, TYPE_FAILURE_PREFIX, flat_fields, normalize
from replenit_pipelines.lib.validation.schemas import schema_for
from replenit_pipelines.lib.warehouse.mapping import EntityMapping, FieldMapping, MappingError

VALUE_MAX_CHARS = 80
QUARANTINE_SCHEMA = {"record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String, "field": pl.String, "value": pl.String}
_PANDERA_RULES = {"not_nullable": "required"}
CAST_FAILURE_PREFIX = "__cast__"  # the source text of a value its mapping cast could not keep
_FAILURE_COLUMNS = {TYPE_FAILURE_PREFIX: "type", CAST_FAILURE_PREFIX: "type", FINITE_FAILURE_PREFIX: "finite"}


@dataclass
class Prepared:
    entity: str
    records: pl.DataFrame  # valid payload records; "__key" and "__rows" are bookkeeping columns
    quarantine: pl.DataFrame  # one row per failed rule: record_id, source_row, rule, field, value
    rows_read: int
    rows_valid: int
    rows_quarantined: int
    rows_superseded: int
    records_quarantined: int
    normalization: dict[str, int] = field(default_factory=dict)

    @property
    def records_valid(self) -> int:
        return self.records.height

    def top_reasons(self, n: int = 10) -> pl.DataFrame:
        return (
            self.quarantine.group_by("rule", "field").agg(pl.len().alias("rows"), pl.col("value").first().alias("example"))
            .sort("rows", descending=True).head(n)
        )

    def payload_columns(self) -> list[str]:
        return [c for c in self.records.columns if not c.startswith("__")]


def record_key(
    entity: str, columns: list[str], customer_priority: str = DEFAULT_CUSTOMER_PRIORITY, normalized: bool = False
) -> pl.Expr:
    """`contract.identity.record_identity` as a Polars expression over mapped rows: for customers
    `email:<trimmed, lowercased email>` or `customerid:<id>` by the tenant's priority, falling back
    to the other identifier; the id for orders and products; null when there is none. The
    namespaces keep an id that looks like an email from merging with an email. `normalized`: the
    rows have been normalized (blanks are null, emails trimmed), so neither is done again."""

    def text(c: pl.Expr) -> pl.Expr:
        return c if normalized else c.str.strip_chars(formats.WHITESPACE)

    def has_value(c: pl.Expr) -> pl.Expr:
        return c.is_not_null() if normalized else c.is_not_null() & (text(c) != "")

    if entity == "customers":
        email, cid = pl.col("Email"), pl.col("CustomerId")
        by_email = pl.when(has_value(email)).then(pl.concat_str(pl.lit("email:"), text(email).str.to_lowercase()))
        by_id = pl.when(has_value(cid)).then(pl.concat_str(pl.lit("customerid:"), cid))
        ordered = [("CustomerId", by_id), ("Email", by_email)]
        if customer_priority != "customerid":
            ordered.reverse()
        parts = [e for name, e in ordered if name in columns]
        return pl.coalesce(parts) if parts else pl.lit(None, pl.String)
    key = pl.col(ENTITIES[entity].key_field or "").cast(pl.String)
    return pl.when(has_value(key)).then(key)


def _failures(flat: pl.DataFrame, entity_schema: pa.DataFrameSchema, origin: str) -> pl.DataFrame:
    """Every failed rule of every row, in one pass: (__row, rule, field, value)."""
    try:
        entity_schema.validate(flat, lazy=True)
        cases = None
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    frames = []
    if cases is not None and cases.height:
        frame_level = cases.filter(pl.col("index").is_null())
        if frame_level.height:
            first = frame_level.row(0, named=True)
            raise MappingError(
                f"{origin}: {entity_schema.name}.{first['column']} fails {first['check']} for the whole frame "
                f"({first['failure_case']}): give the field a cast in the mapping"
            )
        rows = flat["__row"]
        is_frame_check = pl.col("schema_context") == "DataFrameSchema"
        frames.append(
            cases.select(
                pl.col("index").cast(pl.UInt32).alias("__index"),
                # Frame-level checks are named "rule:fields" (see schemas.py): the field is in the name.
                pl.col("check").str.split(":").list.first().replace(_PANDERA_RULES).alias("rule"),
                pl.when(is_frame_check).then(pl.col("check").str.split(":").list.get(1, null_on_oob=True))
                .otherwise(pl.col("column")).alias("field"),
                pl.when(is_frame_check).then(None).otherwise(pl.col("failure_case")).cast(pl.String).alias("value"),
            )
            .with_columns(pl.col("__index").map_batches(lambda s: rows.gather(s), return_dtype=pl.UInt32).alias("__row"))
            .drop("__index")
        )
    for col in flat.columns:
        prefix = next((p for p in _FAILURE_COLUMNS if col.startswith(p)), None)
        if prefix is None:
            continue
        frames.append(
            flat.filter(pl.col(col).is_not_null()).select(
                pl.col("__row"), pl.lit(_FAILURE_COLUMNS[prefix]).alias("rule"), pl.lit(col[len(prefix):]).alias("field"),
                pl.col(col).alias("value"),
            )
        )
    if not frames:
        return pl.DataFrame(schema={"rule": pl.String, "field": pl.String, "value": pl.String, "__row": pl.UInt32})
    failures = pl.concat([f.select("rule", "field", "value", "__row") for f in frames])
    # A value refused for its type was nulled: "required" on the same field would say it twice.
    explained = failures.filter(pl.col("rule").is_in(list(set(_FAILURE_COLUMNS.values())))).select("__row", "field")
    if explained.height:
        doubled = failures.filter(pl.col("rule") == "required").join(explained, on=["__row", "field"], how="semi")
        if doubled.height:
            failures = failures.join(doubled, on=failures.columns, how="anti", nulls_equal=True)
    return failures


def _is_line(flat: pl.DataFrame) -> pl.Expr:
    return ~pl.col("__no_child") if "__no_child" in flat.columns else pl.lit(True)


def _underivable_totals(flat: pl.DataFrame) -> pl.DataFrame:
    """Order lines without a Price where the order's TotalRevenue must be derived from its lines:
    a total summed over the other lines would be understated, and a missing one is stored by the
    API as 1. One quarantine row per such line."""
    price, total = "OrderItems.Price", "TotalRevenue"
    no_price = pl.col(price).is_null() if price in flat.columns else pl.lit(True)
    no_total = pl.col(total).is_null() if total in flat.columns else pl.lit(True)
    return flat.filter(_is_line(flat) & no_price & no_total).select(
        pl.lit("total_underivable").alias("rule"), pl.lit(total).alias("field"),
        pl.format("line of product {} has no Price", pl.col("OrderItems.ProductId").fill_null("?")).alias("value")
        if "OrderItems.ProductId" in flat.columns else pl.lit("a line has no Price").alias("value"), "__row",
    )


def _nest(valid: pl.DataFrame, mapping: EntityMapping) -> pl.DataFrame:
    spec = mapping.spec
    child = spec.children_field
    parent_cols = [f.target for f in mapping.fields]
    if child is None:
        return valid.select("__key", *parent_cols, pl.lit(1, pl.UInt32).alias("__rows"))
    prefix = f"{child.name}."
    child_cols = [f.target for f in mapping.children]
    is_line = _is_line(valid)
    # The record's own fields come from its newest row: a window reads the whole record, so its
    # other rows may be older versions (an order's status before its refund).
    firsts = {c: pl.col(c).sort_by("__ts", "__row", nulls_last=False).last() for c in parent_cols}
    derived: dict[str, pl.Expr] = {}
    if spec.name == "orders":
        # Totals come from the lines: the API would default a missing revenue to 1. A line without
        # a price was quarantined (total_underivable), so every price here is known. An order with
        # no lines has 0 revenue, 0 quantity and 0 unique products.
        q = pl.col(f"{prefix}Quantity").filter(is_line)
        price = pl.col(f"{prefix}Price").filter(is_line) if f"{prefix}Price" in child_cols else pl.lit(None, pl.Float64)
        derived = {
            "TotalRevenue": (q * price).sum().cast(pl.Float64).round(6),  # no float noise
            "TotalQuantity": q.sum().cast(pl.Int64),
            "UniqueQuantity": pl.col(f"{prefix}ProductId").filter(is_line).n_unique().cast(pl.Int64),
        }
        if "TotalRevenue" in firsts:
            # The warehouse's total wins; where it is null, the lines give it (never sent missing).
            firsts["TotalRevenue"] = pl.coalesce(firsts["TotalRevenue"], derived["TotalRevenue"])
    aggs = [e.alias(c) for c, e in firsts.items()]
    # A parent with only "no child" rows nests as an empty array; those rows still count in __rows.
    aggs.append(pl.struct([pl.col(c).alias(c[len(prefix):]) for c in child_cols]).filter(is_line).alias(child.name))
    aggs.append(pl.len().cast(pl.UInt32).alias("__rows"))
    assert set(derived) <= set(spec.derived), "every derived field is declared in the contract"
    aggs += [e.alias(name) for name, e in derived.items() if name not in firsts]
    return valid.group_by("__key", maintain_order=True).agg(aggs)


def _describe(f: FieldMapping) -> str:
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
    cast = _CASTS_FOR.get(kind, "string")  # type: ignore[arg-type]
    source = f"column: {f.column}" if f.column is not None else f"expr: {f.expr!r}" if f.expr is not None else f"constant: {f.constant!r}"
    reads = " (reads true/false, yes/no, y/n, t/f, 1/0; other spellings are quarantined)" if cast == "bool" else ""
    return f"write {name}: {{{source}, cast: {cast}}}{reads}"


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


def _cast_failures(mapping: EntityMapping, raw: pl.DataFrame) -> list[pl.Expr]:
    """For each field with a cast: the source value as text where the cast lost it (a non-blank
    value that became null, or a number that changed, as 1.5 cast to int), else null."""
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
        if f.cast == "int" and dtype.is_float():
            lost = lost | (present & (src != src.round(0)))
        text = pl.lit(f"<{dtype}>") if dtype.is_nested() else src.cast(pl.String)
        out.append(pl.when(lost).then(text).alias(CAST_FAILURE_PREFIX + f.target))
    return out


def _no_child(mapping: EntityMapping) -> pl.Expr | None:
    """True where every source column of the child fields is NULL: the row is a parent without a
    child (a left join that matched nothing). Columns the parent fields also read do not count."""
    if not mapping.children:
        return None
    child_cols = set().union(*(f.source_columns() for f in mapping.children))
    if mapping.child_key:
        child_cols.add(mapping.child_key)
    child_cols -= set().union(*(f.source_columns() for f in mapping.fields), {mapping.source.window_column})
    if not child_cols:
        return None
    return pl.all_horizontal([pl.col(c).is_null() for c in sorted(child_cols)]).alias("__no_child")


def _split(flat: pl.DataFrame, failures: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows of records with any failure, rows of whole valid records)."""
    bad_rows = failures["__row"].unique()
    bad_row_mask = pl.col("__row").is_in(bad_rows.implode())
    bad_keys = flat.filter(bad_row_mask & pl.col("__key").is_not_null())["__key"].unique()
    in_bad_record = bad_row_mask | pl.col("__key").is_in(bad_keys.implode())
    return flat.filter(in_bad_record), flat.filter(~in_bad_record)


def _derived_failures(records: pl.DataFrame, valid_rows: pl.DataFrame) -> pl.DataFrame | None:
    """Derived totals that are no valid number (a sum overflowing to inf, or wrapping below 0):
    one failure on the first row of each such order, or None when there are none."""
    checks = []
    if "TotalRevenue" in records.columns:
        checks.append(("finite", "TotalRevenue", ~pl.col("TotalRevenue").is_finite()))
    if "TotalQuantity" in records.columns:
        checks.append(("range", "TotalQuantity", pl.col("TotalQuantity") < 0))
    frames = []
    for rule, name, bad in checks:
        keys = records.filter(bad.fill_null(False)).select("__key", pl.col(name).cast(pl.String).alias("value"))
        if keys.height:
            first_rows = valid_rows.group_by("__key").agg(pl.col("__row").min())
            frames.append(keys.join(first_rows, on="__key").select(
                pl.lit(rule).alias("rule"), pl.lit(name).alias("field"), "value", pl.col("__row").cast(pl.UInt32)))
    return pl.concat(frames) if frames else None


def prepare(
    mapping: EntityMapping,
    raw: pl.DataFrame,
    normalize_values: bool = True,
    customer_priority: str = DEFAULT_CUSTOMER_PRIORITY,
) -> Prepared:
    """One window's rows -> valid records and explained quarantine. `customer_priority` is the
    identifier the tenant matches customers by (`email` or `customerid`): duplicates are found,
    and the newest kept, under that identity."""
    spec = mapping.spec
    customer_priority = check_customer_priority(customer_priority)
    targets = {f.target for f in mapping.all_fields}
    if spec.name == "orders" and not targets & {"TotalRevenue", "OrderItems.Price"}:
        raise MappingError(
            f"{mapping.origin}: orders maps neither TotalRevenue nor OrderItems.Price: map one of them "
            "(the API stores a missing revenue as 1)"
        )
    mapping.check_columns(raw.columns)  # a missing column is named with its mapping file, not a Polars trace
    rows_read = raw.height
    window = mapping.source.window_column
    exprs = [pl.col("__row"), pl.col(window).alias("__ts"), *(f.expression() for f in mapping.all_fields)]
    if mapping.child_key:
        exprs.append(pl.col(mapping.child_key).cast(pl.String).alias("__child_key"))
    no_child = _no_child(mapping)
    if no_child is not None:
        exprs.append(no_child)
    try:
        exprs += _cast_failures(mapping, raw)
        flat = raw.with_row_index("__row").select(exprs)
        normalized = normalize(flat, spec, mapping.source.timezone, normalize_values)
    except pl.exceptions.PolarsError as exc:
        raise _mapping_error(mapping, raw, normalize_values, exc) from None
    flat = normalized.frame
    flat = flat.with_columns(record_key(spec.name, flat.columns, customer_priority, normalize_values).alias("__key"))

    # Duplicates within the window: the latest version of a record (or of a child) wins. Only the
    # duplicated rows are sorted: most windows have few or none.
    identity = ["__key"]
    if spec.children_field is not None:
        if mapping.child_key:
            identity.append("__child_key")
        else:
            child = spec.children_field.name
            identity += [c for c in (f"{child}.VariantId", f"{child}.ProductId", f"{child}.Sku") if c in flat.columns]
    ident = pl.col("__key") if len(identity) == 1 else pl.struct(identity)
    # Candidates by hash (5x faster than hashing strings into a set); a collision only adds a row
    # that is_last_distinct below, on the real values, keeps.
    duplicated = flat.filter(ident.hash().is_duplicated() & pl.col("__key").is_not_null())
    rows_superseded = 0
    if duplicated.height:
        stale = (
            duplicated.sort("__ts", "__row", nulls_last=False)
            .filter(~ident.is_last_distinct())
            .get_column("__row")
        )
        rows_superseded = stale.len()
        flat = flat.filter(~pl.col("__row").is_in(stale.implode()))

    failures = _failures(flat, schema_for(spec), mapping.origin)
    if "__no_child" in flat.columns:
        # A parent without a child has NULL child fields by design: they break no child rule.
        no_child_rows = flat.filter(pl.col("__no_child"))["__row"]
        if no_child_rows.len():
            prefix = f"{spec.children_field.name}."
            failures = failures.filter(~(pl.col("field").str.starts_with(prefix) & pl.col("__row").is_in(no_child_rows.implode())))
    if spec.name == "orders":
        failures = pl.concat([failures, _underivable_totals(flat).cast(failures.schema)])
    quarantined_rows, valid_rows = _split(flat, failures)
    records = _nest(valid_rows, mapping)
    derived = _derived_failures(records, valid_rows)
    if derived is not None:
        failures = pl.concat([failures, derived.cast(failures.schema)])
        quarantined_rows, valid_rows = _split(flat, failures)
        records = _nest(valid_rows, mapping)

    # record_id: the identity the record is upserted under (as in the dead letters and the
    # sandbox), or "row N" for a row without any identifier.
    keys = flat.select("__row", pl.coalesce(pl.col("__key"), pl.format("row {}", pl.col("__row"))).alias("record_id"))
    quarantine = (
        failures.join(keys, on="__row", how="left")
        .select(
            "record_id",
            pl.col("__row").alias("source_row"),
            "rule",
            "field",
            pl.when(pl.col("value").str.len_chars() > VALUE_MAX_CHARS)
            .then(pl.col("value").str.slice(0, VALUE_MAX_CHARS) + "…")
            .otherwise(pl.col("value"))
            .alias("value"),
        )
        .sort("source_row", "field")
        .cast(QUARANTINE_SCHEMA)
    )
    return Prepared(
        entity=spec.name,
        records=records,
        quarantine=quarantine,
        rows_read=rows_read,
        rows_valid=valid_rows.height,
        rows_quarantined=quarantined_rows.height,
        rows_superseded=rows_superseded,
        records_quarantined=quarantined_rows.select(pl.coalesce("__key", pl.col("__row").cast(pl.String))).n_unique()
        if quarantined_rows.height else 0,
        normalization=normalized.counts,
    )


payload_parts = serialize  # the pipeline's name for the one serializer (lib/contract/payload.py)
