"""Warehouse rows of one window -> valid payload records and quarantined rows with reasons.

map -> normalize -> supersede duplicates (latest by the window column wins, per the identity the
tenant matches records by) -> validate (pandera) -> nest children -> split. A record is valid
only whole: an order with one bad line, or a product with one bad variant, is quarantined with all
its rows. Nothing is dropped silently: rows read = rows valid + rows quarantined + rows superseded.

Customers: the newest row of each CustomerId is its only version; then rows sharing the identity
the tenant matches by are one customer, and the newest wins. Where that folds rows of different
CustomerIds into one (a shared email under the `email` priority), the tenant would merge those
customers: their rows are `rows_merged` (part of rows_superseded), the customers `records_merged`,
each shown in `merges`. A value the contract refuses is no identity (contract.identity): a
refused Email counts as absent, and a row with a refused CustomerId supersedes nothing, nothing
supersedes it by identity, and it is quarantined on its own.

A row whose child columns are all NULL (a left join that found no line or variant) is a parent
with no child: it nests as an empty array and counts in the record's `__rows`. Beside other child
rows of its record it is no such thing, and is quarantined (`required` on the child's id).
"""

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from threading import Thread
from typing import Any
from zoneinfo import ZoneInfo

import pandera.polars as pa
import polars as pl

from replenit_pipelines.lib.contract.entities import INT32_MAX, EntitySpec
from replenit_pipelines.lib.contract.identity import (
    DEFAULT_CUSTOMER_PRIORITY,
    check_customer_priority,
    identifier_accepted_expr,
    refused_customer_id,
)
from replenit_pipelines.lib.contract.payload import serialize, serialize_column
from replenit_pipelines.lib.validation.mapped import (
    CAST_FAILURE_PREFIX,
    apply_mapping,
    is_line,
    nest_records,
)
from replenit_pipelines.lib.validation.normalize import (
    FINITE_FAILURE_PREFIX,
    TYPE_FAILURE_PREFIX,
)
from replenit_pipelines.lib.validation.schemas import EntityChecks, checks_for, rows_failing_any
from replenit_pipelines.lib.validation.supersede import (
    MERGES_SCHEMA,
    NEWEST_LAST,
    content_columns,
    content_ties,
    customer_merges,
    shared_identities,
    stale_rows,
)
from replenit_pipelines.lib.warehouse.mapping import (
    EntityMapping,
    MappingError,
)

VALUE_MAX_CHARS = 80
QUARANTINE_SCHEMA = pl.Schema({"record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String, "field": pl.String, "value": pl.String})
_PANDERA_RULES = {"not_nullable": "required"}
_FAILURE_COLUMNS = {TYPE_FAILURE_PREFIX: "type", CAST_FAILURE_PREFIX: "type", FINITE_FAILURE_PREFIX: "finite"}
_FAILURE_PREFIXES = tuple(_FAILURE_COLUMNS)


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
    rows_merged: int = 0  # of rows_superseded: rows of customers the tenant merges into another (a shared email)
    records_merged: int = 0  # those customers (CustomerIds), never sent: another row's CustomerId is sent for them
    merges: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MERGES_SCHEMA))
    # Of rows_superseded: rows that were the newest of their record (or child, or CustomerId) by time
    # and lost only on content to another row of that very time that says something else (a join that
    # fans out: a variant's price in two currencies, an order row per payment). Which one is sent is
    # decided by content, never by the read's order; that there was a choice is counted and shown.
    rows_tied: int = 0
    tied_examples: list[str] = field(default_factory=list)  # a few such records' identities (unmasked)
    # With `lookback_before` (prepare): of the rows above, those of records whose newest change is
    # before it (read by the run's lookback); `records` then has a `__lookback` column.
    lookback_rows: dict[str, int] = field(default_factory=dict)
    # With `partition_starts` (a run over a range of partitions): the same four counts for each
    # partition by index (its record's newest change in it; -1: before the first, the lookback);
    # `records` then has a `__part` column.
    partition_rows: dict[int, dict[str, int]] = field(default_factory=dict)

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


def _failures(flat: pl.DataFrame, checks: EntityChecks, origin: str) -> pl.DataFrame:
    """Every failed rule of every row: (__row, rule, field, value). pandera validates and explains
    the rows that fail any rule (found first in one pass: most rows pass them all)."""
    entity_schema = checks.schema
    failing = rows_failing_any(flat, checks)
    judged = flat if failing is None else flat.filter(failing)
    cases = None
    if failing is None or judged.height:  # (no row fails a rule: nothing for pandera to explain)
        try:
            entity_schema.validate(judged, lazy=True)
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
        rows = judged["__row"]  # pandera's index is a position in the frame it judged
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


def _underivable_totals(flat: pl.DataFrame) -> pl.DataFrame:
    """Order lines without a Price where the order's TotalRevenue must be derived from its lines:
    a total summed over the other lines would be understated, and a missing one is stored by the
    API as 1. The order's total is its newest row's (as nest_records takes it), not each line's
    own. One quarantine row per such line."""
    price, total = "OrderItems.Price", "TotalRevenue"
    no_price = pl.col(price).is_null() if price in flat.columns else pl.lit(True)
    candidates = flat.filter(is_line(flat) & no_price)
    if candidates.height and total in flat.columns:
        # Only the orders with a line without a price (few) are looked at for their total.
        orders = flat.filter(pl.col("__key").is_in(candidates["__key"].unique().implode()))
        record_totals = orders.group_by("__key").agg(
            pl.col(total).sort_by(*NEWEST_LAST, nulls_last=False).last().alias("__record_total"))
        candidates = candidates.join(record_totals, on="__key", how="left", nulls_equal=True).filter(
            pl.col("__record_total").is_null())
    return candidates.select(
        pl.lit("total_underivable").alias("rule"), pl.lit(total).alias("field"),
        # concat_str, not pl.format: Polars 2.1's format panics ("i < self.len()") over a string
        # column whose first chunk a filter left empty (seen on TPC-DS, 1 run in 5 by scan order).
        pl.concat_str(pl.lit("line of product "), pl.col("OrderItems.ProductId").fill_null("?"), pl.lit(" has no Price")).alias("value")
        if "OrderItems.ProductId" in flat.columns else pl.lit("a line has no Price").alias("value"), "__row",
    )


def _refused_ids_apart(flat: pl.DataFrame) -> pl.DataFrame:
    """A refused CustomerId is no identity (contract.identity), nor is the email record_key falls
    back to for it: such a row keeps the identity it is shown under (`__shown_key`) but groups
    with no other row (its `__key` is null). Most windows have none: no second copy of the keys."""
    refused = refused_customer_id(flat.columns)
    if not flat.select(refused.any()).item():
        return flat
    return flat.with_columns(pl.when(refused).then(pl.col("__key")).alias("__shown_key"),
                             pl.when(refused).then(None).otherwise(pl.col("__key")).alias("__key"))


def _stray_no_child(flat: pl.DataFrame, spec: EntitySpec) -> pl.DataFrame:
    """Rows with every child column NULL in a record that has other child rows: "no child" is
    only true of a record without children. Such a row may be a left join's artefact or a line
    whose data is lost; which, the rows cannot say, so it is never dropped silently: it fails
    `required` on the child's id, and its record is quarantined whole."""
    child = spec.children_field
    assert child is not None and child.children is not None
    id_field = next(f.name for f in child.children.fields if f.required)
    # Only the records with a "no child" row (few) are grouped.
    keys = flat.filter(pl.col("__no_child") & pl.col("__key").is_not_null())["__key"].unique()
    records = flat.filter(pl.col("__key").is_in(keys.implode()))
    stray = pl.col("__no_child") & (~pl.col("__no_child")).any().over("__key")
    return records.filter(stray).select(
        pl.lit("required").alias("rule"), pl.lit(f"{child.name}.{id_field}").alias("field"),
        pl.lit(f"every {child.name} column is NULL, beside other {child.name}").alias("value"), "__row",
    )


def _keyless_children(flat: pl.DataFrame) -> pl.Series:
    """`__row` of the child rows (not a parent's "no child" row) whose child `key` is NULL (none
    when the mapping declares no key)."""
    if "__child_key" not in flat.columns:
        return pl.Series("__row", [], pl.UInt32)
    return flat.filter(pl.col("__child_key").is_null() & is_line(flat))["__row"]


def _versioned(keyless: pl.Series) -> pl.Expr:
    """A row's identity for supersession (stale_rows' `present`): its record's, but none for a
    child row without its key, which is no version of any other row."""
    if not keyless.len():
        return pl.col("__key")
    return pl.when(~pl.col("__row").is_in(keyless.implode())).then(pl.col("__key"))


def _keyless_failures(flat: pl.DataFrame, keyless: pl.Series, mapping: EntityMapping) -> pl.DataFrame:
    """Each child row without its `key` (`keyless`) fails `required` on `Child.key`: the key is what tells a
    child's versions apart, and without it the row is neither a version of a keyed child nor
    provably a child of its own (a line whose key was lost may be an older version of another);
    its record is quarantined whole, never sent a line short or a line long."""
    spec = mapping.spec
    if not keyless.len():
        return pl.DataFrame(schema={"rule": pl.String, "field": pl.String, "value": pl.String, "__row": pl.UInt32})
    assert spec.children_field is not None
    child = spec.children_field.name
    return flat.filter(pl.col("__row").is_in(keyless.implode())).select(
        pl.lit("required").alias("rule"), pl.lit(f"{child}.key").alias("field"),
        pl.lit(f"{mapping.child_key} is NULL: the {child} key identifies each child's versions").alias("value"), "__row")


def _superseded_out(flat: pl.DataFrame, stale: pl.Series, spec: EntitySpec) -> tuple[pl.DataFrame, pl.Expr | None]:
    """(flat, which rows are live: None for all). The superseded rows leave with the split (no copy
    of the window's rows only to drop a few), unless a check over a record's rows follows (a
    record's children, an order's totals), which must see its live rows alone."""
    if not stale.len():
        return flat, None
    live = ~pl.col("__row").is_in(stale.implode())
    if "__no_child" in flat.columns or spec.name == "orders":
        return flat.filter(live), None
    return flat, live


def _split(flat: pl.DataFrame, failures: pl.DataFrame, live: pl.Expr | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows of records with any failure, rows of whole valid records), of the `live` rows only
    (None: every row; `failures` are of live rows)."""
    bad_rows = failures["__row"].unique()
    bad_row_mask = pl.col("__row").is_in(bad_rows.implode())
    bad_keys = flat.filter(bad_row_mask & pl.col("__key").is_not_null())["__key"].unique()
    in_bad_record = bad_row_mask | pl.col("__key").is_in(bad_keys.implode())
    live = pl.lit(True) if live is None else live
    # The valid rows are most of the window: copied on the streaming engine, over every core.
    return flat.filter(in_bad_record & live), flat.lazy().filter(~in_bad_record & live).collect(engine="streaming")


def _derived_failures(records: pl.DataFrame, valid_rows: pl.DataFrame) -> pl.DataFrame | None:
    """Derived totals that are no valid number (a sum overflowing to inf, wrapping below 0, or
    beyond the service's Int32):
    one failure on the first row of each such order, or None when there are none."""
    checks = []
    if "TotalRevenue" in records.columns:
        checks.append(("finite", "TotalRevenue", ~pl.col("TotalRevenue").is_finite()))
    if "TotalQuantity" in records.columns:
        checks.append(("range", "TotalQuantity", ~pl.col("TotalQuantity").is_between(0, INT32_MAX)))
    frames = []
    for rule, name, bad in checks:
        keys = records.filter(bad.fill_null(False)).select("__key", pl.col(name).cast(pl.String).alias("value"))
        if keys.height:
            first_rows = valid_rows.group_by("__key").agg(pl.col("__row").min())
            frames.append(keys.join(first_rows, on="__key").select(
                pl.lit(rule).alias("rule"), pl.lit(name).alias("field"), "value", pl.col("__row").cast(pl.UInt32)))
    return pl.concat(frames) if frames else None


@dataclass(frozen=True)
class Mapped:
    """One window's (or chunk's) rows with the mapping applied (lib/validation/mapped.py)."""

    flat: pl.DataFrame  # flat rows of API fields with __row, __ts, __key and the failure columns
    normalization: dict[str, int]
    rows_read: int


def map_rows(mapping: EntityMapping, raw: pl.DataFrame, normalize_values: bool = True,
             customer_priority: str = DEFAULT_CUSTOMER_PRIORITY) -> Mapped:
    """Warehouse rows -> rows of API fields, each with its identity (`customer_priority`: the
    identifier the tenant matches customers by, `email` or `customerid`). A mapping that cannot
    work is refused here, naming its file."""
    customer_priority = check_customer_priority(customer_priority)
    refusal = mapping.revenue_refusal()
    if refusal is not None:
        raise MappingError(f"{mapping.origin}: {refusal}")
    mapping.check_columns(raw.columns)  # a missing column is named with its mapping file, not a Polars trace
    flat, normalization = apply_mapping(mapping, raw, normalize_values, customer_priority)
    return Mapped(flat, normalization, raw.height)


def prepare(mapping: EntityMapping, raw: pl.DataFrame, normalize_values: bool = True,
            customer_priority: str = DEFAULT_CUSTOMER_PRIORITY, lookback_before: datetime | None = None) -> Prepared:
    """One window's rows -> valid records and explained quarantine: map_rows, then validate_mapped."""
    return validate_mapped(mapping, map_rows(mapping, raw, normalize_values, customer_priority), lookback_before)


def validate_mapped(mapping: EntityMapping, mapped: Mapped, lookback_before: datetime | None = None,
                    partition_starts: Sequence[datetime] = (), window_end: datetime | None = None) -> Prepared:
    """Mapped rows -> valid records and explained quarantine. Duplicates are found, and the
    newest kept, under the identity map_rows gave each row, after the newest row of each
    CustomerId is kept. `lookback_before` (a partition's start): rows of records whose newest
    change is before it were read by the lookback, and are counted apart
    (`Prepared.lookback_rows`, `__lookback`); with `window_end`, rows at or after it (a record is read
    whole, so a backfilled day reads its records' later versions too) make no record the window's. `partition_starts` (a run over several partitions,
    their starts in order): each row's record is counted in the partition of its newest change
    (`Prepared.partition_rows`, `__part`)."""
    spec = mapping.spec
    flat, normalization, rows_read = mapped.flat, mapped.normalization, mapped.rows_read
    # Every rule is of one row: the window's rows are judged on a thread of their own while the
    # superseded ones are found (Polars releases the GIL: the two take both cores), and a
    # superseded row's failures are dropped with it.
    judging = _on_a_thread(_failures, flat, checks_for(spec), mapping.origin)
    if lookback_before is not None:
        flat = flat.with_columns(_lookback_flag(flat, lookback_before, mapping.source.timezone, window_end))
    flat = _with_partition_index(flat, partition_starts, mapping.source.timezone)

    # Duplicates within the window: the latest version of a record (or of a child) wins.
    identity = ["__key"]
    if spec.children_field is not None:
        if mapping.child_key:
            identity.append("__child_key")
        else:
            child = spec.children_field
            assert child.children is not None
            if child.children.identity_fields:
                identity += [c for c in (f"{child.name}.{n}" for n in child.children.identity_fields) if c in flat.columns]
            else:  # no identity: only exact duplicates (a version read twice) supersede one another
                identity += [f.target for f in mapping.children]
    if spec.name == "customers":
        flat = _refused_ids_apart(flat)
    # A child row whose key is NULL identifies no child: it is no version of another such row
    # (NULLs are equal in a struct's hash, so two lines of one order would supersede each other).
    keyless = _keyless_children(flat)
    # Stale rows are found over the identity columns only, and flat is filtered once.
    ident = pl.col("__key") if len(identity) == 1 else pl.struct(identity)
    by_id = spec.name == "customers" and "CustomerId" in flat.columns
    # Ties between rows of one time: a record's own fields (a child row's parent columns), a child's
    # version, a customer's (by identity and by CustomerId).
    content = content_columns(flat)
    own = [f.target for f in mapping.fields if f.target in flat.columns] if spec.children_field is not None else content
    ties = [(["__key"], own), *([(identity, content)] if len(identity) > 1 else []), *([(["CustomerId"], content)] if by_id else [])]
    shared = shared_identities(flat, list({tuple(cols): cols for cols, _ in ties}.values()))
    flat = flat.with_columns(content_ties(flat, ties, shared))
    narrow = flat.select(list(dict.fromkeys(["__row", "__ts", "__tie", *identity, *(["CustomerId"] if by_id else [])]))).with_columns(
        shared[tuple(identity)].alias("__may_share"), *([shared[("CustomerId",)].alias("__may_share_cid")] if by_id else []))
    stale = []
    by_customer = narrow  # every row's, before a CustomerId's older rows leave `narrow`
    merges = pl.DataFrame(schema=MERGES_SCHEMA)
    rows_merged = 0
    if by_id:
        # One CustomerId is one customer whatever its email: its newest row is its only version
        # (an older email sent beside it would make two customers of one id). Then by the identity.
        cid = pl.col("CustomerId")
        stale.append(stale_rows(narrow, cid, pl.when(identifier_accepted_expr("CustomerId", cid)).then(cid), pl.col("__may_share_cid")))
        if stale[0].len():
            narrow = narrow.filter(~pl.col("__row").is_in(stale[0].implode()))
    stale.append(stale_rows(narrow, ident, _versioned(keyless), pl.col("__may_share")))
    if by_id and stale[-1].len():
        merges = customer_merges(by_customer, narrow, stale[-1])
        rows_merged = int(merges["rows"].sum())
    all_stale = pl.concat(stale)
    rows_tied, tied_examples = _tied(narrow, by_customer, stale, ident, by_id)
    del narrow, by_customer  # their columns are the window's: not held to the end
    rows_superseded = all_stale.len()
    superseded_lookback = int(flat.filter(pl.col("__row").is_in(all_stale.implode()) & pl.col("__lookback")).height) \
        if rows_superseded and "__lookback" in flat.columns else 0
    superseded_parts = _superseded_by_part(flat, all_stale)
    flat, live = _superseded_out(flat, all_stale, spec)

    failures = judging.result()
    if rows_superseded:
        failures = failures.filter(pl.col("__row").is_in(all_stale.implode()).not_())
    if "__no_child" in flat.columns:
        # A parent without a child has NULL child fields by design: they break no child rule.
        no_child_rows = flat.filter(pl.col("__no_child"))["__row"]
        if no_child_rows.len():
            assert spec.children_field is not None  # only entities with children have __no_child
            prefix = f"{spec.children_field.name}."
            failures = failures.filter(~(pl.col("field").str.starts_with(prefix) & pl.col("__row").is_in(no_child_rows.implode())))
            failures = pl.concat([failures, _stray_no_child(flat, spec).cast(failures.schema)])
    failures = pl.concat([failures, _keyless_failures(flat, keyless, mapping).cast(failures.schema)])
    if spec.name == "orders":
        failures = pl.concat([failures, _underivable_totals(flat).cast(failures.schema)])
    # The split copies the rows it keeps: only the columns read after it (the failure columns, the
    # shown keys and, without children to order, the times are the window's and stay behind).
    split_of = flat.select(c for c in flat.columns if not c.startswith(_FAILURE_PREFIXES) and c != "__shown_key"
                           and (spec.children_field is not None or c not in ("__ts", "__tie")))
    quarantined_rows, valid_rows = _split(split_of, failures, live)
    records = nest_records(valid_rows, mapping)
    derived = _derived_failures(records, valid_rows)
    if derived is not None:
        failures = pl.concat([failures, derived.cast(failures.schema)])
        quarantined_rows, valid_rows = _split(split_of, failures, live)
        records = nest_records(valid_rows, mapping)
    lookback_rows: dict[str, int] = {}
    if "__lookback" in flat.columns:
        in_lookback = valid_rows.filter(pl.col("__lookback") & pl.col("__key").is_not_null())["__key"].unique()
        records = records.with_columns(pl.col("__key").is_in(in_lookback.implode()).fill_null(False).alias("__lookback"))
        quarantined_lookback = int(quarantined_rows["__lookback"].sum())
        valid_lookback = int(records.filter("__lookback")["__rows"].sum())
        lookback_rows = {"rows_read": valid_lookback + quarantined_lookback + superseded_lookback, "rows_valid": valid_lookback,
                         "rows_quarantined": quarantined_lookback, "rows_superseded": superseded_lookback}
    records, partition_rows = _by_partition(records, valid_rows, quarantined_rows, superseded_parts)

    quarantine = _quarantine(flat, failures, spec)
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
        normalization=normalization,
        rows_merged=rows_merged,
        records_merged=int(merges["merged"].list.len().sum()) if merges.height else 0,
        merges=merges,
        rows_tied=rows_tied,
        tied_examples=tied_examples,
        lookback_rows=lookback_rows,
        partition_rows=partition_rows,
    )


TIED_EXAMPLES = 3


def _tied(narrow: pl.DataFrame, by_customer: pl.DataFrame, stale: list[pl.Series], ident: pl.Expr, by_id: bool) -> tuple[int, list[str]]:
    """(rows_tied, a few of their records' identities): of the superseded rows, those of the newest
    time of their identity that lost on content alone (`__tie` set, and unlike the row sent: it says
    something else). A customer's rows are judged by CustomerId (one account's two versions
    of one time), then by identity those without one (a guest's); rows with a CustomerId that another
    row supersedes by a shared email are merges, counted apart."""
    judged = [(narrow, ident, stale[-1])]
    if by_id:
        guests = narrow.filter(pl.col("__row").is_in(stale[-1].implode()) & pl.col("CustomerId").is_null())["__row"]
        judged = [(by_customer, pl.col("CustomerId"), stale[0]), (narrow, ident, guests)]
    rows, examples = 0, []
    for frame, identity, lost in judged:
        if not lost.len() or "__tie" not in frame.columns:
            continue
        tied = frame.filter(pl.col("__tie") != 0)
        if not tied.height:
            continue
        newest = frame.filter(pl.col("__row").is_in(tied["__row"].implode()) | identity.is_in(tied.select(identity).to_series().implode()))
        newest = newest.with_columns(pl.col("__ts").max().over(identity).alias("__newest")).filter(pl.col("__ts") == pl.col("__newest"))
        # Unlike the row sent (the newest's largest `__tie`, a hash of the whole row): a row alike it is a
        # version read twice, though its `__tie` is set by another group (an order's lines that disagree).
        newest = newest.with_columns(pl.col("__tie").max().over(identity).alias("__sent"))
        hit = newest.filter(pl.col("__row").is_in(lost.implode()) & (pl.col("__tie") != 0) & (pl.col("__tie") != pl.col("__sent")))
        rows += hit.height
        examples += hit.get_column("__key").drop_nulls().unique(maintain_order=True).head(TIED_EXAMPLES).to_list() if "__key" in hit.columns else []
    return rows, examples[:TIED_EXAMPLES]


def _on_a_thread(fn: Callable[..., pl.DataFrame], *args: Any) -> "Future[pl.DataFrame]":
    """fn(*args) on a thread started for it (not a pool's: a pool made before a fork has no
    threads in the child, and its work would wait forever); its result or exception in the future."""
    future: Future[pl.DataFrame] = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised by result()
            future.set_exception(exc)

    Thread(target=run, name="replenit-judge", daemon=True).start()
    return future


def _quarantine(flat: pl.DataFrame, failures: pl.DataFrame, spec: EntitySpec) -> pl.DataFrame:
    """One QUARANTINE_SCHEMA row per failure. record_id: the identity the record is upserted under
    (as in the dead letters and the sandbox), or "row N" for a row without any identifier; looked
    up for the failed rows alone (not built for every row of the window). A child row whose parent
    row is missing (an orphan line) fails `required` on the record's id with the id it names as
    the value, the one thing that finds it in the warehouse ("row N" is a row of this run's read)."""
    extra = [c for c in ("__shown_key", "__parent_key") if c in flat.columns]
    shown = [pl.col("__key"), *(["__shown_key"] if "__shown_key" in extra else []), pl.concat_str(pl.lit("row "), pl.col("__row").cast(pl.String))]
    keys = flat.filter(pl.col("__row").is_in(failures["__row"].unique().implode())).select("__row", *extra, "__key")
    value = pl.col("value")
    if "__parent_key" in extra and spec.key_field and spec.children_field is not None:
        orphan = (pl.col("rule") == "required") & (pl.col("field") == spec.key_field) & pl.col("__parent_key").is_not_null()
        named = pl.format(f"{{}}: no {(spec.singular or spec.name).lower()} row has this {spec.key_field}", pl.col("__parent_key"))
        value = pl.when(orphan).then(named).otherwise(value)
        # An orphan's other parent fields are NULL because its parent row is missing, not of their
        # own: `required` on them (an order's Currency) would only crowd the one reason that says why.
        orphans = failures.join(keys, on="__row", how="left").filter(orphan)["__row"]
        failures = failures.filter(~(pl.col("__row").is_in(orphans.implode()) & (pl.col("rule") == "required")
                                     & (pl.col("field") != spec.key_field) & ~pl.col("field").str.contains(".", literal=True)))
    return (
        failures.join(keys, on="__row", how="left")
        .with_columns(value.alias("value"))
        .select(
            pl.coalesce(shown).alias("record_id"),
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


def _lookback_flag(flat: pl.DataFrame, before: datetime, timezone: str, until: datetime | None = None) -> pl.Expr:
    """`__lookback`: the row's record (its identity) changed last before `before`, of its changes
    before `until` (the window's end: a later change is a later partition's, not this one's); a row
    without an identity by its own time. Compared in the window column's own terms (naive: local time in
    the source's timezone); a column that is no date or time (text, epoch) is never lookback."""
    ts, dtype = pl.col("__ts"), flat.schema["__ts"]
    local = before.astimezone(ZoneInfo(timezone))
    end = until.astimezone(ZoneInfo(timezone)) if until is not None else None
    if isinstance(dtype, pl.Datetime):
        own = ts if dtype.time_zone is None else ts.dt.convert_time_zone("UTC")
        cutoff = local.replace(tzinfo=None) if dtype.time_zone is None else before
        stop = None if until is None else end.replace(tzinfo=None) if dtype.time_zone is None else until  # type: ignore[union-attr]
    elif dtype == pl.Date:
        own, cutoff, stop = ts, local.date(), None if end is None else end.date()  # type: ignore[assignment]
    else:
        return pl.lit(False).alias("__lookback")
    newest = (own if stop is None else pl.when(own < stop).then(own)).max().over("__key")
    return pl.when(pl.col("__key").is_null()).then(own < cutoff).otherwise(newest < cutoff).fill_null(False).alias("__lookback")


def _by_partition(records: pl.DataFrame, valid_rows: pl.DataFrame, quarantined_rows: pl.DataFrame,
                  superseded: dict[int, int]) -> tuple[pl.DataFrame, dict[int, dict[str, int]]]:
    """`records` with their `__part`, and the rows read, valid, quarantined and superseded of each
    partition (`Prepared.partition_rows`); unchanged and {} when the rows have no `__part`."""
    if "__part" not in valid_rows.columns:
        return records, {}
    # A record's rows share its newest change, so one partition: its valid rows' index is the record's.
    parts = valid_rows.filter(pl.col("__key").is_not_null()).group_by("__key").agg(pl.col("__part").max())
    # replace_strict, not a join: the records keep their order (the diff's positions are into it)
    records = records.drop("__part", strict=False).with_columns(
        pl.col("__key").replace_strict(parts["__key"], parts["__part"], default=0, return_dtype=pl.Int32).alias("__part"))
    valid_parts, quarantined_parts = _rows_by_part(records, "__rows"), _rows_by_part(quarantined_rows)
    out = {}
    for part in set(valid_parts) | set(quarantined_parts) | set(superseded):
        valid, quarantined, stale = (c.get(part, 0) for c in (valid_parts, quarantined_parts, superseded))
        out[part] = {"rows_read": valid + quarantined + stale, "rows_valid": valid, "rows_quarantined": quarantined,
                     "rows_superseded": stale}
    return records, out


def _with_partition_index(flat: pl.DataFrame, starts: Sequence[datetime], timezone: str) -> pl.DataFrame:
    """`flat` with `__part` (`_partition_index`) when the run spans several partitions."""
    return flat.with_columns(_partition_index(flat, starts, timezone)) if len(starts) > 1 else flat


def _superseded_by_part(flat: pl.DataFrame, stale: pl.Series) -> dict[int, int]:
    """The superseded rows of each partition ({} without `__part`)."""
    return _rows_by_part(flat.filter(pl.col("__row").is_in(stale.implode()))) if "__part" in flat.columns else {}


def _rows_by_part(frame: pl.DataFrame, rows: str | None = None) -> dict[int, int]:
    """Rows of `frame` by its `__part` (the sum of column `rows` when given, else one a row)."""
    if not frame.height:
        return {}
    counted = frame.group_by("__part").agg(pl.col(rows).cast(pl.Int64).sum() if rows else pl.len())
    return {int(p): int(n) for p, n in counted.iter_rows()}


def _partition_index(flat: pl.DataFrame, starts: Sequence[datetime], timezone: str) -> pl.Series:
    """`__part`: the index of the partition (of those starting at `starts`, in order) holding the
    newest change of the row's record (a row without an identity: its own); -1 before the first
    (the lookback). Compared in the window column's own terms, as `_lookback_flag`; a row without a
    value, or a column that is no date or time, counts in the first."""
    ts, dtype = pl.col("__ts"), flat.schema["__ts"]
    local = [s.astimezone(ZoneInfo(timezone)) for s in starts]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        bounds = pl.Series([s.replace(tzinfo=None) for s in local]).cast(dtype)
        own = ts
    elif isinstance(dtype, pl.Datetime):
        own = ts.dt.convert_time_zone("UTC")
        bounds = pl.Series([s.astimezone(ZoneInfo("UTC")) for s in starts]).cast(pl.Datetime(dtype.time_unit, "UTC"))
    elif dtype == pl.Date:
        own, bounds = ts, pl.Series([s.date() for s in local])
    else:
        return pl.Series("__part", [0] * flat.height, dtype=pl.Int32)
    newest = flat.select(pl.when(pl.col("__key").is_null()).then(own).otherwise(own.max().over("__key")).alias("n"))["n"]
    index = (bounds.search_sorted(newest.fill_null(bounds[0]), side="right").cast(pl.Int32) - 1)
    return index.alias("__part")


payload_parts = serialize  # the one serializer (lib/contract/payload.py), as bytes objects
payload_column = serialize_column  # the same payloads as one Binary column: what the pipeline keeps (stages/diff.py)
