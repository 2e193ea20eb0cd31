"""Warehouse rows of one window -> valid payload records and quarantined rows with reasons.

map -> normalize -> supersede duplicates (latest by the window column wins) -> validate (pandera)
-> nest children -> split. A record is valid only whole: an order with one bad line, or a
product with one bad variant, is quarantined with all its rows. Nothing is dropped silently:
rows read = rows valid + rows quarantined + rows superseded.
"""

import io
from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

from replenit_pipelines.lib.validation.normalize import TYPE_FAILURE_PREFIX, normalize
from replenit_pipelines.lib.validation.schemas import schema_for
from replenit_pipelines.lib.warehouse.mapping import EntityMapping, MappingError

VALUE_MAX_CHARS = 80
QUARANTINE_SCHEMA = {"record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String, "field": pl.String, "value": pl.String}
_PANDERA_RULES = {"not_nullable": "required"}


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


def _record_key(entity: str, columns: list[str]) -> pl.Expr:
    if entity == "customers":
        parts = [pl.col("CustomerId")] if "CustomerId" in columns else []
        if "Email" in columns:
            parts.append(pl.col("Email").str.to_lowercase())
        return pl.coalesce(parts) if parts else pl.lit(None, pl.String)
    key = {"orders": "OrderId", "products": "ProductId"}[entity]
    return pl.col(key).cast(pl.String)


def _failures(flat: pl.DataFrame, entity_schema: pa.DataFrameSchema) -> pl.DataFrame:
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
                f"column {first['column']} fails {first['check']} for the whole frame ({first['failure_case']}): "
                "give the mapping a cast for it"
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
    for col in [c for c in flat.columns if c.startswith(TYPE_FAILURE_PREFIX)]:
        field_name = col[len(TYPE_FAILURE_PREFIX):]
        frames.append(
            flat.filter(pl.col(col).is_not_null()).select(
                pl.col("__row"), pl.lit("type").alias("rule"), pl.lit(field_name).alias("field"), pl.col(col).alias("value")
            )
        )
    if not frames:
        return pl.DataFrame(schema={"rule": pl.String, "field": pl.String, "value": pl.String, "__row": pl.UInt32})
    return pl.concat([f.select("rule", "field", "value", "__row") for f in frames])


def _nest(valid: pl.DataFrame, mapping: EntityMapping) -> pl.DataFrame:
    spec = mapping.spec
    child = spec.children_field
    parent_cols = [f.target for f in mapping.fields]
    if child is None:
        return valid.select("__key", *parent_cols, pl.lit(1, pl.UInt32).alias("__rows"))
    prefix = f"{child.name}."
    child_cols = [f.target for f in mapping.children]
    aggs = [pl.col(c).first() for c in parent_cols]
    aggs.append(pl.struct([pl.col(c).alias(c[len(prefix):]) for c in child_cols]).alias(child.name))
    aggs.append(pl.len().cast(pl.UInt32).alias("__rows"))
    if spec.name == "orders":
        # Totals come from the lines when the warehouse has none: the API would default revenue to 1.
        q, price = pl.col(f"{prefix}Quantity"), pl.col(f"{prefix}Price") if f"{prefix}Price" in child_cols else pl.lit(0.0)
        derived = {
            "TotalRevenue": (q * price.fill_null(0.0)).sum().cast(pl.Float64).round(6),  # no float noise
            "TotalQuantity": q.sum().cast(pl.Int64),
            "UniqueQuantity": pl.col(f"{prefix}ProductId").n_unique().cast(pl.Int64),
        }
        aggs += [e.alias(name) for name, e in derived.items() if name not in parent_cols]
    return valid.group_by("__key", maintain_order=True).agg(aggs)


def prepare(mapping: EntityMapping, raw: pl.DataFrame, normalize_values: bool = True) -> Prepared:
    spec = mapping.spec
    mapping.check_columns(raw.columns)  # a missing column is named with its mapping file, not a Polars trace
    rows_read = raw.height
    window = mapping.source.window_column
    exprs = [pl.col("__row"), pl.col(window).alias("__ts"), *(f.expression() for f in mapping.all_fields)]
    if mapping.child_key:
        exprs.append(pl.col(mapping.child_key).cast(pl.String).alias("__child_key"))
    flat = raw.with_row_index("__row").select(exprs)
    normalized = normalize(flat, spec, mapping.source.timezone, normalize_values)
    flat = normalized.frame
    flat = flat.with_columns(_record_key(spec.name, flat.columns).alias("__key"))

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
    duplicated = flat.filter(ident.is_duplicated() & pl.col("__key").is_not_null())
    rows_superseded = 0
    if duplicated.height:
        stale = (
            duplicated.sort("__ts", "__row", nulls_last=False)
            .filter(~ident.is_last_distinct())
            .get_column("__row")
        )
        rows_superseded = stale.len()
        flat = flat.filter(~pl.col("__row").is_in(stale.implode()))

    failures = _failures(flat, schema_for(spec))
    bad_rows = failures["__row"].unique()
    bad_row_mask = pl.col("__row").is_in(bad_rows.implode())
    bad_keys = flat.filter(bad_row_mask & pl.col("__key").is_not_null())["__key"].unique()
    in_bad_record = bad_row_mask | pl.col("__key").is_in(bad_keys.implode())
    quarantined_rows = flat.filter(in_bad_record)
    valid_rows = flat.filter(~in_bad_record)

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
    records = _nest(valid_rows, mapping)
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


def payload_parts(records: pl.DataFrame, chunk_rows: int = 100_000) -> list[bytes]:
    """One JSON document per record, written by Polars in chunks (so no window-sized JSON text is
    ever held at once); null fields are written as null, which the API reads as absent."""
    frame = records.select([c for c in records.columns if not c.startswith("__")])
    parts: list[bytes] = []
    for offset in range(0, frame.height, chunk_rows):
        buffer = io.BytesIO()
        frame.slice(offset, chunk_rows).write_ndjson(buffer)
        # Split on "\n" alone: JSON leaves U+0085 and U+2028 unescaped, and other splitters break on them.
        parts.extend(buffer.getvalue().split(b"\n")[:-1])
    return parts
