"""Declarative mappings from warehouse columns to API fields (a YAML file or Python objects).

A field is a column name, or a table with one of `column`, `constant` or `expr` (a SQL
expression over the source's columns, run by Polars), plus optional `cast` and `default`.
Nested entities name their child array (`OrderItems`, `ProductVariants`) with its own fields;
one source row is one child, and rows sharing the record's id become one record. The child array
may instead name its own source (a normalized warehouse: `order_lines` beside `orders`) with the
column that joins it to the parent; the read then joins them (lib/warehouse/frames.py).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from replenit_pipelines.lib.contract.entities import ENTITIES, EntitySpec, FieldSpec, Kind
from replenit_pipelines.lib.errors import ReplenitError, close_names

CASTS = {"string": pl.String, "int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean}
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


class MappingError(ReplenitError, ValueError):
    """A mapping that cannot work; the message names the file, the entity and what to fix."""


@dataclass(frozen=True)
class FieldMapping:
    target: str  # the API field; a child field is "OrderItems.Quantity"
    column: str | None = None
    constant: Any = None
    expr: str | None = None
    cast: str | None = None
    default: Any = None
    label: str | None = None  # how the mapping file wrote it, when a read moved it (a child source's field)

    def describe(self, quoted: bool = False) -> str:
        """Where the field's value comes from, in the mapping's words: `column x`, `expr ...` or
        `constant ...` (`quoted`: the column and expr as Python reprs)."""
        if self.label is not None:
            return self.label
        if self.column is not None:
            return f"column {self.column!r}" if quoted else f"column {self.column}"
        if self.expr is not None:
            return f"expr {self.expr!r}" if quoted else f"expr {self.expr}"
        return f"constant {self.constant!r}"

    def source_columns(self) -> set[str]:
        if self.column is not None:
            return {self.column}
        if self.expr is not None:
            return set(pl.sql_expr(self.expr).meta.root_names())
        return set()

    def source_expression(self) -> pl.Expr:
        """The value as the warehouse gives it, before cast and default."""
        if self.column is not None:
            return pl.col(self.column)
        if self.expr is not None:
            return pl.sql_expr(self.expr)
        return pl.lit(self.constant)

    def cast_expression(self) -> pl.Expr:
        """The value after its cast, before the default; prepare compares it with the source to
        quarantine what a cast lost (it never nulls a value silently)."""
        e = self.source_expression()
        if self.cast == "bool":
            # Warehouses spell booleans many ways; an unknown spelling is lost by the cast (and quarantined).
            text = e.cast(pl.String).str.strip_chars().str.to_lowercase()
            e = pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False).otherwise(None)
        elif self.cast is not None:
            e = e.cast(CASTS[self.cast], strict=False)
        return e

    def expression(self) -> pl.Expr:
        e = self.cast_expression()
        if self.default is not None:
            e = e.fill_null(pl.lit(self.default))
        return e.alias(self.target)


# How a window column's values are read: a TIMESTAMP, TIMESTAMPTZ or DATE column as it is; text
# in ISO 8601 (with or without an offset; naive values are in the source's timezone); seconds or
# milliseconds since 1970-01-01 UTC (a number or its text).
WINDOW_FORMATS = ("timestamp", "iso8601", "epoch_s", "epoch_ms")
# The column a read adds for a normalized or converted source: each row's window value as a UTC
# datetime (the child's own, else its parent's), which map takes as the row's time.
READ_TS = "__replenit_ts"
# A child row's parent key as text, on each child row of a joined frame: an orphan (no parent row)
# is quarantined with the id it names, so a person can find it (frames.child_frame).
CHILD_PARENT_KEY = "__replenit_parent_key"


@dataclass(frozen=True)
class SourceSpec:
    table: str | None = None
    query: str | None = None  # SQL with $start and $end bound to the window
    path: str | None = None  # Parquet, CSV or NDJSON file or glob (relative to the mapping file)
    # None: a source without an update time. A child's is read with its parent; a parent's rows are
    # read by no partition on their own (only through a child that has one), and by `--all` and
    # the reconcile job, which read everything.
    window_column: str | None = "updated_at"
    timezone: str = "UTC"  # for naive timestamps, in the window column and in mapped fields
    lookback_hours: float | None = None  # how far before its partition a run reads; None: the entity's default
    window_format: str = "timestamp"  # one of WINDOW_FORMATS
    python: str | None = None  # "module:function" returning a Polars LazyFrame (called with no arguments)
    # A soft-delete column (issue 12): a row whose value is true (boolean), non-zero (number) or set
    # (any other type, e.g. a deleted_at timestamp) is deleted in Replenit, not upserted.
    deleted_column: str | None = None

    @property
    def time_column(self) -> str:
        """The window column of a source read on its own (a source without one is read by frames:
        EntityMapping.read_by_frames), where it cannot be None."""
        assert self.window_column is not None, "a source without a window column is read by frames"
        return self.window_column

    @property
    def converted(self) -> bool:
        """The window column is text or a number that a read must convert (Polars does)."""
        return self.window_format != "timestamp"

    def describe(self) -> str:
        if self.table:
            return f"table {self.table}"
        if self.path:
            return f"path {self.path}"
        if self.python:
            return f"python {self.python}"
        return "the source query"


# Late rows (issue 11): a run reads [partition start - lookback, partition end), so a row that lands
# in the warehouse after its partition ran is still delivered by a later run; rows Replenit already
# holds cost a read and a hash, not a request. Defaults (docs/operating.md says why): orders are
# hourly and their lines arrive within hours of the order (payment and fulfilment loads); products are
# hourly but catalogue feeds are loaded once a day; customers are daily and CRM exports can land a
# day or more late.
DEFAULT_LOOKBACK_HOURS = {"customers": 48.0, "orders": 6.0, "products": 24.0}


@dataclass(frozen=True)
class EntityMapping:
    entity: str
    source: SourceSpec
    fields: tuple[FieldMapping, ...]
    children: tuple[FieldMapping, ...] = ()
    child_key: str | None = None  # a source column that identifies a child row (e.g. line_id)
    origin: str = "<python>"
    # A normalized warehouse: the children's own source, and its column holding the parent's key.
    child_source: SourceSpec | None = None
    parent_key: str | None = None

    @property
    def normalized(self) -> bool:
        return self.child_source is not None

    @property
    def read_by_frames(self) -> bool:
        """Read by the generic path (frames.py `read_frames`): a child source, a window column to
        convert, or a Python source. The others keep the single-source reads pushed into DuckDB."""
        return self.normalized or self.source.converted or self.source.python is not None or self.source.window_column is None

    def as_read(self) -> "EntityMapping":
        """This mapping over the frame a read returns: for the generic path, each child field's value
        is a column of its own (evaluated over the child source before the join), the child key is
        `<Child>:key` and the row's time is READ_TS. Other mappings read their source's columns."""
        if not self.read_by_frames:
            return self
        src = replace(self.source, window_column=READ_TS, window_format="timestamp")
        if not self.normalized:
            return replace(self, source=src)
        children = tuple(f if f.column is None and f.expr is None else
                         FieldMapping(f.target, column=child_column(f.target), cast=f.cast, default=f.default,
                                      label=f"{f.describe(quoted=True)} of {self.child_source.describe()}")  # type: ignore[union-attr]
                         for f in self.children)
        child_key = child_column(f"{self.spec.children_field.name}:key") if self.child_key else None  # type: ignore[union-attr]
        return replace(self, source=src, children=children, child_key=child_key, child_source=None, parent_key=None)

    @property
    def lookback_hours(self) -> float:
        """How far before its partition a run of this entity reads (the source's, or the default)."""
        given = self.source.lookback_hours
        return DEFAULT_LOOKBACK_HOURS[self.entity] if given is None else given

    @property
    def spec(self) -> EntitySpec:
        return ENTITIES[self.entity]

    @property
    def all_fields(self) -> tuple[FieldMapping, ...]:
        return self.fields + self.children

    def unmapped_required(self) -> list[tuple[str, FieldSpec]]:
        """The fields the contract requires that this mapping leaves out (a line's Quantity, an
        order's Currency, a variant's VariantId; a child's only when children are mapped), by name:
        every row would be quarantined as `required` on them (validation/mapped.py, warehouse/check.py)."""
        spec, mapped = self.spec, {f.target for f in self.all_fields}
        required = [(f.name, f) for f in spec.fields if f.required and f.kind is not Kind.CHILDREN]
        child = spec.children_field
        if child is not None and child.children is not None and self.children:
            required += [(f"{child.name}.{f.name}", f) for f in child.children.fields if f.required]
        return [(name, f) for name, f in required if name not in mapped]

    def revenue_refusal(self) -> str | None:
        """Why an orders mapping cannot run (it maps neither TotalRevenue nor OrderItems.Price: no
        total could be derived, and the API stores a missing revenue as 1), or None. The run refuses
        it (validation/prepare.py map_rows) and `replenit check` says so first (warehouse/check.py)."""
        if self.spec.name != "orders" or {f.target for f in self.all_fields} & {"TotalRevenue", "OrderItems.Price"}:
            return None
        return "orders maps neither TotalRevenue nor OrderItems.Price: map one of them (the API stores a missing revenue as 1)"

    def source_columns(self) -> set[str]:
        # Read by frames: the columns of the frame the read returns. (Not as_read().source_columns():
        # a Python source's as_read() is read by frames still, and asked again without end.)
        read = self.as_read()
        cols = {read.source.time_column}
        if read.source.deleted_column:
            cols.add(read.source.deleted_column)
        for f in read.all_fields:
            cols |= f.source_columns()
        if read.child_key:
            cols.add(read.child_key)
        return cols

    def check_columns(self, available: list[str] | set[str]) -> None:
        missing = sorted(self.source_columns() - set(available))
        if missing:
            where = self.source.table or self.source.path or "the query"
            hints = "".join(self._missing_hint(c, available) for c in missing)
            raise MappingError(
                f"{self.origin}: {self.entity} maps column(s) {', '.join(missing)} that {where} does not have "
                f"(it has: {', '.join(sorted(available))}){hints}"
            )

    def _missing_hint(self, column: str, available: list[str] | set[str]) -> str:
        hint = did_you_mean(column, available)
        if not hint:
            for f in self.all_fields:
                if f.column == column:
                    hint = f": if {column!r} is a value, not a column, write {f.target.split('.')[-1]}: {{constant: {column}}}"
                    break
        return f"; {column}{hint}" if hint else ""


def child_column(target: str) -> str:
    """The column of a joined frame that holds a child field's value (`OrderItems.Price` -> `<OrderItems.Price>`)."""
    return f"<{target}>"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`: did you mean email?` (same name in another case first, then by similarity), or ``."""
    close = close_names(name, candidates)
    return f": did you mean {' or '.join(close)}?" if close else ""


def did_you_mean_quoted(name: str, candidates: list[str]) -> str:
    """` (did you mean 'orders'?)`, or `` (lib/errors.py close_names: another case first, then by similarity)."""
    close = close_names(name, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _sql_error(exc: Exception) -> str:
    """Polars' SQL error in words. A list literal with a column or a function in it fails with the
    element in Rust's debug form (`array element Identifier(Ident { value: "type", ... })`): said
    instead with what to write, as Polars SQL's [...] holds constants only."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if text.startswith("array element ") and text.endswith("is not supported"):
        return ("a [...] list holds constants only (['Home', 'Kitchen']); for a list of a column's value write "
                "string_to_array(column, '|'), and string_to_array(concat_ws('|', a, b), '|') for several columns")
    return text


def _field(entity: str, target: str, raw: Any, origin: str) -> FieldMapping:
    if isinstance(raw, str):
        return FieldMapping(target, column=raw)
    name = target.split(".")[-1]
    if isinstance(raw, list):
        items = ", ".join(repr(str(v)) for v in raw[:3])
        raise MappingError(
            f"{origin}: {entity}.{target}: a YAML list is not a field mapping; a list is written as an expr: "
            f"split a column with {name}: {{expr: \"string_to_array(category, '/')\"}}, or give the same list on "
            f"every record with {name}: {{expr: \"[{items}]\"}}")
    if not isinstance(raw, dict):
        raise MappingError(
            f"{origin}: {entity}.{target}: write a column name or a table with column, constant or expr "
            f"(for the same value on every record: {name}: {{constant: {raw!r}}})")
    unknown = set(raw) - {"column", "constant", "expr", "cast", "default"}
    if unknown:
        raise MappingError(f"{origin}: {entity}.{target}: unknown key(s) {', '.join(sorted(unknown))}")
    given = [k for k in ("column", "constant", "expr") if k in raw]
    if len(given) != 1:
        raise MappingError(f"{origin}: {entity}.{target}: give exactly one of column, constant or expr")
    cast = raw.get("cast")
    if cast is not None and cast not in CASTS:
        raise MappingError(f"{origin}: {entity}.{target}: cast must be one of {', '.join(CASTS)}, not {cast!r}")
    if "expr" in raw:
        try:
            pl.sql_expr(raw["expr"])
        except Exception as exc:  # Polars raises several error types for bad SQL
            raise MappingError(f"{origin}: {entity}.{target}: expr {raw['expr']!r} is not a SQL expression Polars "
                               f"can run: {_sql_error(exc)}") from None
    return FieldMapping(target, raw.get("column"), raw.get("constant"), raw.get("expr"), cast, raw.get("default"))


def _fields(spec: EntitySpec, raw: Any, origin: str, prefix: str = "", entity: str | None = None) -> tuple[FieldMapping, ...]:
    """`entity`: of a children block, the parent entity its fields' messages name (`orders.OrderItems.ProductId`)."""
    where = f"{entity}.{spec.name}" if entity else spec.name
    if not isinstance(raw, dict) or not raw:
        raise MappingError(f"{origin}: {where}: 'fields' must map API fields to columns")
    known = {f.name for f in spec.fields}
    out = []
    for target, value in raw.items():
        if target not in known:
            raise MappingError(
                f"{origin}: {where} has no field {target!r}; API fields are: {', '.join(sorted(known))}"
            )
        out.append(_field(entity or spec.name, prefix + target, value, origin))
    return tuple(out)


_SOURCE_KINDS = ("table", "query", "path", "python")
_SOURCE_KEYS = {*_SOURCE_KINDS, "window_column", "timezone", "lookback_hours", "deleted_column"}


def _window_column(raw: Any, where: str, origin: str, optional: bool) -> tuple[str | None, str]:
    """`window_column: updated_at`, or `{column: updated_at, format: iso8601}` -> (column, format)."""
    example = "window_column: {column: updated_at, format: iso8601}"
    if raw is None and optional:
        return None, "timestamp"
    if isinstance(raw, str) and raw:
        return raw, "timestamp"
    if isinstance(raw, dict) and isinstance(raw.get("column"), str) and not set(raw) - {"column", "format"}:
        fmt = raw.get("format", "timestamp")
        if fmt not in WINDOW_FORMATS:
            raise MappingError(f"{origin}: {where}.window_column.format must be one of {', '.join(WINDOW_FORMATS)}, "
                               f"not {fmt!r}")
        return raw["column"], fmt
    none = " (or null: a source without an update time)" if optional else ""
    raise MappingError(f"{origin}: {where}.window_column must be a column name or a table like {example}{none}, not {raw!r}")


def _source(raw: Any, where: str, origin: str, timezone: str, entity: str, child: bool = False) -> SourceSpec:
    if not isinstance(raw, dict) or sum(k in raw for k in _SOURCE_KINDS) != 1:
        raise MappingError(f"{origin}: {where}.source needs exactly one of table, query, path or python")
    unknown = set(raw) - _SOURCE_KEYS
    if child:
        unknown |= {"lookback_hours", "deleted_column"} & set(raw)  # a child is read with its parent's window and lookback
    if unknown:
        why = "; a child source is read with its parent's window and lookback" if child and "lookback_hours" in unknown else ""
        if child and "deleted_column" in unknown:
            # A soft-deleted child is no delete of the record: it is the record sent without it.
            flag = raw["deleted_column"] if isinstance(raw["deleted_column"], str) else "deleted_at"
            why += (f"; a child source takes no deleted_column: leave its soft-deleted rows out of it (a query: with "
                    f"WHERE {flag} IS NULL) and the record is sent without them, the API replacing "
                    f"{where.rsplit('.', 1)[-1]} whole (a partition sends it when its parent row or another of its "
                    f"children changes in the window, --all always)")
        raise MappingError(f"{origin}: {where}.source: unknown key(s) {', '.join(sorted(unknown))}"
                           f"{did_you_mean(sorted(unknown)[0], _SOURCE_KEYS) if not child else ''}{why}")
    lookback = raw.get("lookback_hours")
    if lookback is not None and (isinstance(lookback, bool) or not isinstance(lookback, int | float) or lookback < 0):
        raise MappingError(f"{origin}: {where}.source.lookback_hours must be a number of hours, 0 or more "
                           f"(e.g. lookback_hours: {DEFAULT_LOOKBACK_HOURS[entity]:g}), not {lookback!r}")
    python = raw.get("python")
    if python is not None and (not isinstance(python, str) or not re.fullmatch(r"[\w.]+:\w+", python)):
        raise MappingError(f"{origin}: {where}.source.python must be module:function (e.g. python: mymodule:orders_frame), "
                           f"not {python!r}")
    deleted = raw.get("deleted_column")
    if deleted is not None and (not isinstance(deleted, str) or not deleted.strip()):
        raise MappingError(f"{origin}: {where}.source.deleted_column must be a column name (e.g. deleted_column: deleted_at), "
                           f"not {deleted!r}")
    # Omitted: a parent's is `updated_at`, a child's none. `window_column: null` declares a parent
    # without an update time (TPC-H's customer and part): reconciliation syncs it (docs/configuration.md).
    column, fmt = _window_column(raw.get("window_column", None if child else "updated_at"), where, origin, optional=True)
    path = raw.get("path")
    if path and origin != "<python>" and not Path(path).is_absolute():
        path = str(Path(origin).parent / path)
    return SourceSpec(raw.get("table"), raw.get("query"), path, column, raw.get("timezone", timezone),
                      float(lookback) if lookback is not None else None, fmt, python, deleted)


def entity_mapping_from_dict(entity: str, raw: dict, origin: str = "<python>", timezone: str = "UTC") -> EntityMapping:
    if entity not in ENTITIES:
        raise MappingError(f"{origin}: unknown entity {entity!r}; expected {', '.join(ENTITIES)}")
    spec = ENTITIES[entity]
    source = _source(raw.get("source"), entity, origin, timezone, entity)
    fields = _fields(spec, raw.get("fields"), origin)
    children: tuple[FieldMapping, ...] = ()
    child_key = None
    child_source = None
    parent_key = None
    child = spec.children_field
    if child is not None and child.name in raw.get("fields", {}):
        # A list of child records is no column: as a field it reached prepare as a second column of that name.
        raise MappingError(f"{origin}: {entity}.fields.{child.name}: the {child.name} are mapped in a block of their own "
                           f"beside fields, not as a field: {child.name}: {{fields: {{...}}}} (docs/configuration.md)")
    if child is not None:
        block = raw.get(child.name)
        if not isinstance(block, dict):
            keys = ("order_id", "line_id", "product_id", "ProductId") if child.name == "OrderItems" else \
                ("product_id", "variant_id", "variant_id", "VariantId")
            raise MappingError(
                f"{origin}: {entity} needs a {child.name} block with the fields of each source row (docs/configuration.md); "
                f"a warehouse without them (jaffle_shop's orders have no lines) maps a child source with no rows and each "
                f"record is sent with {child.name}: [] -- {child.name}: {{source: {{query: \"SELECT NULL AS {keys[0]}, "
                f"NULL AS {keys[1]}, NULL AS {keys[2]} WHERE false\"}}, parent_key: {keys[0]}, key: {keys[1]}, "
                f"fields: {{{keys[3]}: {keys[2]}}}}}")
        assert child.children is not None
        unknown = set(block) - {"fields", "key", "source", "parent_key"}
        if unknown:
            raise MappingError(f"{origin}: {entity}.{child.name}: unknown key(s) {', '.join(sorted(unknown))}"
                               f"{did_you_mean(sorted(unknown)[0], ['fields', 'key', 'source', 'parent_key'])}")
        children = _fields(child.children, block.get("fields"), origin, prefix=f"{child.name}.", entity=entity)
        child_key = block.get("key")
        if "source" in block:
            where = f"{entity}.{child.name}"
            child_source = _source(block["source"], where, origin, source.timezone, entity, child=True)
            parent_key = block.get("parent_key")
            if not isinstance(parent_key, str) or not parent_key:
                raise MappingError(f"{origin}: {where} has its own source: give parent_key, the column of "
                                   f"{child_source.describe()} that holds the parent's {spec.key_field} "
                                   f"(e.g. parent_key: {'order_id' if entity == 'orders' else 'product_id'})")
            if not isinstance(child_key, str) or not child_key:
                raise MappingError(f"{origin}: {where} has its own source: give key, the column that identifies a "
                                   f"{child.name} row (e.g. key: {'line_id' if entity == 'orders' else 'variant_id'}), "
                                   "so that the latest version of each child is read")
        elif "parent_key" in block:
            raise MappingError(f"{origin}: {entity}.{child.name}.parent_key needs a source of its own "
                               f"({child.name}.source); without one the children are rows of {entity}'s source")
    key = spec.key_field
    targets = {f.target for f in fields}
    if entity != "customers" and key not in targets:
        raise MappingError(f"{origin}: {entity} must map {key}: it is how rows become one record")
    return EntityMapping(entity, source, fields, children, child_key, origin, child_source, parent_key)


def load_mapping(path: str | Path) -> dict[str, EntityMapping]:
    """Read a mapping file. Columns are checked against the warehouse by `check_columns`."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} does not exist (set REPLENIT_MAPPING to your mapping file)") from None
    except yaml.YAMLError as exc:
        raise MappingError(yaml_error_text(path, exc)) from None
    return mappings_from_dict(raw, str(path))


def yaml_error_text(path: Path, exc: yaml.YAMLError) -> str:
    """A YAML syntax error as `FILE, line N, column M: ...` with the line and a caret under the spot.
    PyYAML names its input `<unicode string>` (it was given the file's text), not the file the user wrote."""
    mark = getattr(exc, "problem_mark", None)
    if not isinstance(exc, yaml.MarkedYAMLError) or mark is None:
        return f"{path}: not valid YAML: {exc}"
    text = f"{path}, line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {exc.problem or 'cannot parse'}"
    started = exc.context_mark
    if exc.context and started is not None and (started.line, started.column) != (mark.line, mark.column):
        text += f" ({exc.context} that starts at line {started.line + 1}, column {started.column + 1})"
    elif exc.context:
        text += f" ({exc.context})"
    snippet = mark.get_snippet()
    return text + (f"\n{snippet}" if snippet else "")


def mappings_from_dict(raw: Any, origin: str) -> dict[str, EntityMapping]:
    """A whole mapping (what a mapping file holds) from its parsed YAML; `origin` names where it was
    written (a file: relative `path:` sources and Python sources are found beside it)."""
    if not isinstance(raw, dict):
        raise MappingError(f"{origin}: expected a table of entities (customers, orders, products)")
    raw = dict(raw)
    timezone = raw.pop("timezone", "UTC")
    for entity, block in raw.items():
        if not isinstance(block, dict):
            raise MappingError(f"{origin}: {entity}: expected a table with source and fields, not {type(block).__name__}")
    return {e: entity_mapping_from_dict(e, v, origin, timezone) for e, v in raw.items()}
