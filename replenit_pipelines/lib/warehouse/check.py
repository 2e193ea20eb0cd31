"""`replenit check`: a mapping against the warehouse's real columns and types, before any run.

Reads each source's schema only (no rows: a zero-row query or a lazy scan's schema), then checks
every field the way a run would use it: the columns exist (with "did you mean" hints), each
field's expression can be evaluated over those types and produces what the API field takes,
and the window column can be compared with a window's bounds. An error means a run would fail
or send wrong values; a warning means rows may be quarantined or synced late.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from replenit_pipelines.lib.contract.entities import FieldSpec, Kind
from replenit_pipelines.lib.warehouse.access import WINDOW_PARAM, quote
from replenit_pipelines.lib.warehouse.mapping import EntityMapping, FieldMapping, MappingError, did_you_mean
from replenit_pipelines.lib.warehouse.reader import Warehouse

# How the Dagster definitions partition each entity (defs/customers, defs/orders, defs/products).
PARTITIONING = {"customers": "daily", "orders": "hourly", "products": "hourly"}

_STRING_KINDS = {Kind.STRING, Kind.EMAIL, Kind.PHONE, Kind.CURRENCY, Kind.LANGUAGE, Kind.URL}
_INTEGER = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


@dataclass(frozen=True)
class Finding:
    # "error": the mapping will not run or sends wrong values; "warning": rows may be quarantined or
    # synced late; "note": how the mapping will be read, worth knowing (not counted).
    level: str
    entity: str
    where: str  # "Email", "OrderItems.Price", "source", "window_column"
    message: str

    def text(self) -> str:
        return f"{self.level.upper():7} {self.entity}.{self.where}: {self.message}"


def missing_column_hint(f: FieldMapping, column: str, available: Iterable[str]) -> str:
    """What to write instead of a column that is not there: a close column, or a constant."""
    hint = did_you_mean(column, available)
    if not hint and f.column is not None:
        hint = f": if {column!r} is a value, not a column, write {f.target.split('.')[-1]}: {{constant: {column}}}"
    return hint


def _kind_name(dtype: pl.DataType) -> str:
    return str(dtype)


def _with_fraction(dtype: pl.DataType) -> bool:
    """A float, or a DECIMAL with a scale: its text keeps a fraction even for a whole value."""
    return dtype.is_float() or (isinstance(dtype, pl.Decimal) and bool(dtype.scale))


def _fraction_type(result: pl.DataType, source: pl.DataType | None) -> pl.DataType | None:
    """The float or DECIMAL type whose text a text field would receive (the field's own, or its column's
    under cast: string), or None."""
    if _with_fraction(result):
        return result
    if result == pl.String and source is not None and _with_fraction(source):
        return source
    return None


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _field_findings(mapping: EntityMapping, f: FieldMapping, spec: FieldSpec, schema: dict[str, pl.DataType]) -> list[Finding]:
    entity, out = mapping.entity, []

    def error(message: str) -> None:
        out.append(Finding("error", entity, f.target, message))

    try:
        needed = f.source_columns()
    except Exception as exc:  # Polars raises several types for a bad expression
        error(f"expr {f.expr!r} cannot be read: {str(exc).splitlines()[0]}")
        return out
    missing = sorted(needed - set(schema))
    for column in missing:
        what = f"column {column!r}" if f.column is not None else f"expr {f.expr!r} reads column {column!r}, which"
        error(f"{what} is not in the source{missing_column_hint(f, column, schema)}")
    if missing:
        return out
    try:
        result = pl.DataFrame(schema=schema).lazy().select(f.expression()).collect_schema()[f.target]
    except Exception as exc:  # the expression does not apply to these types
        error(f"{_origin(f)} cannot be evaluated over the source's types: {str(exc).splitlines()[0]}")
        return out
    source = schema[f.column] if f.column is not None else None
    out += [Finding(level, entity, f.target, message) for level, message in _type_findings(f, spec, result, source)]
    return out


def _type_findings(f: FieldMapping, spec: FieldSpec, result: pl.DataType, source: pl.DataType | None) -> list[tuple[str, str]]:
    """(level, message) for a field whose source type (`result`, after the mapping's expr and cast)
    its API kind cannot take, or takes with loss."""
    kind, name = spec.kind, spec.name
    out: list[tuple[str, str]] = []

    def error(message: str) -> None:
        out.append(("error", message))

    if f.cast in ("int", "float", "bool") and source == pl.String and kind in _STRING_KINDS | {Kind.TIMESTAMP}:
        error(f"{name} is text in the API, and cast {f.cast} turns the text column {f.column!r} into "
              f"{'numbers' if f.cast != 'bool' else 'true/false'}: every value that is not one would be lost; "
              "remove the cast")
    elif kind in _STRING_KINDS:
        if isinstance(result, (pl.List, pl.Struct, pl.Array)):
            error(f"{name} takes one text value; {_origin(f)} gives {_kind_name(result)}")
        elif f.constant is None and (numbers := _fraction_type(result, source)) is not None:
            # A whole id kept as a float (a pandas export: an integer column with NULLs) reads as 12346.0.
            whole = f"{name}: {{column: {f.column}, cast: int}}" if f.column is not None else f"cast: int on {name}"
            out.append(("warning", f"{name} is text in the API; {_origin(f)} gives {_kind_name(numbers)} "
                                   f"numbers, sent as their text with the fraction: 12346.0 goes as '12346.0', another value than "
                                   f"'12346'. If the column holds whole numbers (an id kept as a float), write {whole}: a value "
                                   "with a fraction is then quarantined (rule type)"))
    elif kind is Kind.TIMESTAMP:
        if not (result == pl.String or isinstance(result, (pl.Datetime, pl.Date))):
            error(f"{name} takes a date and time; {_origin(f)} gives {_kind_name(result)}: map a TIMESTAMP or ISO 8601 text column")
    else:
        out += _value_findings(f, kind, name, result)
    return out


def _value_findings(f: FieldMapping, kind: Kind, name: str, result: pl.DataType) -> list[tuple[str, str]]:
    """`_type_findings` for true/false, numbers and lists of text."""
    out: list[tuple[str, str]] = []

    def error(message: str) -> None:
        out.append(("error", message))

    def warn(message: str) -> None:
        out.append(("warning", message))

    if kind is Kind.BOOL:
        if result == pl.String:
            error(f"{name} takes true/false; {_origin(f)} is text, which a run cannot convert: add cast: bool "
                  "(reads true/false, yes/no, t/f, y/n, 1/0)")
        elif not (result == pl.Boolean or _is_numeric(result)):
            error(f"{name} takes true/false; {_origin(f)} gives {_kind_name(result)}")
    elif kind in (Kind.INT, Kind.NUMBER):
        integer = kind is Kind.INT
        if result == pl.String:
            warn(f"{name} takes {'an integer' if integer else 'a number'}; {_origin(f)} is text: values that are "
                 "not numbers are quarantined (rule type)" + ("" if f.cast else f"; add cast: {'int' if integer else 'float'} to say so"))
        elif result == pl.Boolean or not _is_numeric(result):
            error(f"{name} takes {'an integer' if integer else 'a number'}; {_origin(f)} gives {_kind_name(result)}")
        elif integer and result.is_float():
            warn(f"{name} takes an integer; {_origin(f)} gives {_kind_name(result)}: values with a fraction are quarantined (rule type)")
    elif kind is Kind.STRING_LIST:
        if not isinstance(result, (pl.List, pl.Array)):
            col = f.column or "category"
            error(f"{name} takes a list of text; {_origin(f)} gives one {_kind_name(result)} value: split it with an expr, "
                  f"e.g. {name}: {{expr: \"string_to_array({col}, '/')\"}}")
        elif result.inner != pl.String:
            warn(f"{name} takes a list of text; {_origin(f)} gives {_kind_name(result)}: its items are sent as text")
    return out


def _origin(f: FieldMapping) -> str:
    return f.describe(quoted=True) + (f" with cast {f.cast}" if f.cast else "")


def _window_findings(mapping: EntityMapping, schema: dict[str, pl.DataType], where: str = "window_column") -> list[Finding]:
    src, entity = mapping.source, mapping.entity
    col, fmt = src.window_column, src.window_format
    if col is None:  # a child source without an update time: read with its parent
        return []
    if col not in schema:
        return [Finding("error", entity, where,
                        f"{col!r} is not a column of the source, so no window can select rows{did_you_mean(col, schema)}")]
    dtype = schema[col]
    declare = f"window_column: {{column: {col}, format: iso8601}} (or format: epoch_s / epoch_ms)"
    if isinstance(dtype, pl.Datetime):
        if src.converted:
            return [Finding("warning", entity, where, f"{col!r} is a {dtype}, read as one: format {fmt} is not used")]
        return []
    if isinstance(dtype, pl.Date):
        if PARTITIONING.get(entity) == "hourly":
            return [Finding("warning", entity, where,
                            f"{col!r} is a DATE and {entity} partitions are hourly: only the 00:00 partition of each day "
                            "selects its rows; map a TIMESTAMP column for hourly syncs")]
        return []
    if fmt in ("epoch_s", "epoch_ms"):
        if dtype == pl.String or dtype.is_numeric():
            return []
        return [Finding("error", entity, where, f"{col!r} is {dtype}, which format {fmt} (a number of "
                        f"{'seconds' if fmt == 'epoch_s' else 'milliseconds'} since 1970) cannot read")]
    if fmt == "iso8601":
        if dtype == pl.String:
            return []
        hint = "; for numbers since 1970 write format: epoch_s or epoch_ms" if dtype.is_numeric() else ""
        return [Finding("error", entity, where, f"{col!r} is {dtype}, not ISO 8601 text{hint}")]
    if dtype == pl.String:
        return [Finding("error", entity, where,
                        f"{col!r} is text: a window compares it with timestamps, which fails on the first value that is "
                        f"not one; declare how to read it: {declare}")]
    if dtype.is_numeric():
        return [Finding("error", entity, where,
                        f"{col!r} is {dtype}, not a timestamp: if it counts seconds or milliseconds since 1970, write "
                        f"window_column: {{column: {col}, format: epoch_s}} (or epoch_ms)")]
    return [Finding("error", entity, where, f"{col!r} is {dtype}, not a timestamp, so no window can be evaluated; "
                    "map a TIMESTAMP, DATE, ISO 8601 text or epoch column")]


def _null_window_findings(mapping: EntityMapping, warehouse: Warehouse) -> list[Finding]:
    """A table's rows that no partition reads: their window value is NULL (or does not parse)."""
    try:
        rows = warehouse.rows_without_window_value(mapping)
        bad, examples = warehouse.unparsable_window_values(mapping)
    except Exception:  # noqa: BLE001 - a count is a courtesy; the run's own checks report a source it cannot read
        return []
    out = []
    col, entity = mapping.source.window_column, mapping.entity
    if rows:
        out.append(Finding("warning", entity, "window_column",
                           f"{rows:,} rows have no {col} (NULL) and no dated row of their record: no partition reads them "
                           f"(each run counts them as rows_without_window_value); `replenit sync {entity} --all` and the job "
                           f"reconcile_{entity} send them"))
    if bad:
        out.append(Finding("warning", entity, "window_column",
                           f"{bad:,} rows have a {col} that does not parse (e.g. {', '.join(examples[:3])}): no partition "
                           f"reads them; `replenit sync {entity} --all` and the job reconcile_{entity} send them"))
    return out


def _no_window_findings(mapping: EntityMapping) -> list[Finding]:
    """A parent source declared without a window column (`window_column: null`): what reads it."""
    if mapping.source.window_column is not None:
        return []
    entity, child = mapping.entity, mapping.spec.children_field
    if mapping.child_source is not None and mapping.child_source.window_column is not None and child is not None:
        return [Finding("note", entity, "window_column", f"none: a partition reads the {entity} whose {child.name} "
                        f"changed in it (by {child.name}.window_column {mapping.child_source.window_column!r}), each "
                        f"whole; {'an' if entity[0] in 'aeiou' else 'a'} {entity[:-1]} whose {child.name} never change is sent only by `replenit sync {entity} --all` "
                        f"or the Dagster job reconcile_{entity} (schedule reconcile_{entity}_weekly), which read everything")]
    return [Finding("warning", entity, "window_column",
                    f"none: no partition reads {entity} (each partition reports all its rows as rows_without_window_value); "
                    f"only `replenit sync {entity} --all` and the Dagster job reconcile_{entity} send them, reading everything (an "
                    f"unchanged {entity[:-1]} costs a read, no request): turn on its schedule reconcile_{entity}_weekly")]


def _tables(warehouse: Warehouse) -> list[str]:
    try:
        with warehouse.connect() as con:  # the same read-only connection a run uses
            return [r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()]
    except Exception:  # a listing is only for hints
        return []


def _schema(mapping: EntityMapping, warehouse: Warehouse) -> dict[str, Any]:
    """The source's columns and types, no rows. A table is read without the window filter, so that
    a window column that cannot be compared is reported as such, not as a failed read."""
    src = mapping.source
    if not src.table:
        return warehouse.columns(mapping)  # a query's, a file's or a Python LazyFrame's (collect_schema: no rows)
    with warehouse.connect() as con:  # the same read-only connection a run uses
        return dict(con.sql(f"SELECT * FROM {quote(src.table)}").limit(0).pl().schema)  # noqa: S608 - identifier quoted


def _source_schema(mapping: EntityMapping, warehouse: Warehouse, where: str) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The source's columns and types (no rows), or the finding that says why they cannot be read."""
    entity, src = mapping.entity, mapping.source
    try:
        return _schema(mapping, warehouse), []
    except MappingError as exc:
        return None, [Finding("error", entity, where, str(exc))]
    except Exception as exc:  # DuckDB, Polars and user code raise several types for a source they cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = ""
        if src.table:
            tables = _tables(warehouse)
            if tables and src.table not in tables:
                hint = f"; the warehouse has no table {src.table!r}{did_you_mean(src.table, tables)}"
        what = (f"table {src.table!r}" if src.table else f"path {src.path!r}" if src.path
                else f"python {src.python!r}" if src.python else "query")
        return None, [Finding("error", entity, where, f"{what} cannot be read: {first}{hint}")]


def _column_findings(entity: str, where: str, role: str, column: str | None, schema: dict[str, Any]) -> list[Finding]:
    if column is None or column in schema:
        return []
    return [Finding("error", entity, where, f"{role} {column!r} is not a column of the source{did_you_mean(column, schema)}")]


def check_entity(mapping: EntityMapping, warehouse: Warehouse) -> list[Finding]:
    entity, src = mapping.entity, mapping.source
    schema, findings = _source_schema(mapping, warehouse, "source")
    if schema is None:
        return findings
    findings = _window_findings(mapping, schema) + _no_window_findings(mapping)
    if src.table and src.window_column in schema and not findings:
        findings.extend(_null_window_findings(mapping, warehouse))
    if src.query and not mapping.read_by_frames:  # read by frames, a query's bounds are the ends of time
        findings.extend(_query_window_findings(mapping))
    if src.query:
        findings.extend(_query_null_window_findings(mapping))
    specs = {f.name: f for f in mapping.spec.fields}
    child = mapping.spec.children_field
    child_specs = {f.name: f for f in child.children.fields} if child is not None and child.children else {}
    child_schema: dict[str, Any] | None = schema
    if mapping.child_source is not None and child is not None:
        child_mapping = replace(mapping, source=mapping.child_source)
        child_schema, child_findings = _source_schema(child_mapping, warehouse, f"{child.name}.source")
        findings.extend(child_findings)
        if child_schema is not None:
            findings.extend(_window_findings(child_mapping, child_schema, f"{child.name}.window_column"))
            if mapping.child_source.query:
                findings.extend(_child_query_findings(child_mapping, f"{child.name}.source"))
            findings.extend(_column_findings(entity, f"{child.name}.parent_key", "parent_key", mapping.parent_key, child_schema))
            findings.extend(_join_findings(mapping, schema, child_schema))
    for f in mapping.all_fields:
        if "." in f.target:
            spec = child_specs.get(f.target.split(".", 1)[1])
            field_schema = child_schema
        else:
            spec = specs.get(f.target)
            field_schema = schema
        if spec is not None and field_schema is not None:
            findings.extend(_field_findings(mapping, f, spec, field_schema))
    if mapping.child_key and child_schema is not None:
        findings.extend(_column_findings(entity, f"{child.name if child else ''}.key", "key", mapping.child_key, child_schema))
    findings.extend(Finding("error", entity, name, f"the API requires {name} and the mapping leaves it out: every row would be "
                            f"quarantined as required on it; map it (a column, an expr or a constant: docs/configuration.md)")
                    for name, _ in mapping.unmapped_required())
    findings.extend(_required_with_findings(mapping))
    refusal = mapping.revenue_refusal()  # the run refuses such a mapping before reading: an error here too
    if refusal is not None:
        findings.append(Finding("error", entity, "TotalRevenue", refusal))
    if entity == "orders" and "OrderDate" not in {f.target for f in mapping.all_fields}:
        findings.append(Finding("warning", entity, "OrderDate", (
            "OrderDate is not mapped: the API dates an order without one when it arrives, so every order is stored as a "
            "sale of the day it is synced, a first load's whole history included; map the sale time (a TIMESTAMP, DATE "
            "or ISO 8601 text column, or an expr building one)")))
    return findings


def _required_with_findings(mapping: EntityMapping) -> list[Finding]:
    """A field the contract requires beside others (a variant's Currency with a price) left out
    while one of those is mapped: every row with that value would be quarantined as required_with."""
    mapped = {f.target for f in mapping.all_fields}
    specs: list[tuple[str, Any]] = [("", mapping.spec)]
    child = mapping.spec.children_field
    if child is not None and child.children is not None and mapping.children:
        specs.append((f"{child.name}.", child.children))
    findings = []
    for prefix, spec in specs:
        for target, triggers in spec.required_with.items():
            present = [prefix + t for t in triggers if prefix + t in mapped]
            if present and prefix + target not in mapped:
                findings.append(Finding(
                    "warning", mapping.entity, prefix + target,
                    f"the API requires {prefix + target} when {' or '.join(prefix + t for t in triggers)} has a value, and "
                    f"the mapping maps {' and '.join(present)} without it: every row with a price would be quarantined "
                    f"(required_with); map it (a column, or {{constant: USD}})"))
    return findings


def _join_findings(mapping: EntityMapping, schema: dict[str, Any], child_schema: dict[str, Any]) -> list[Finding]:
    """The parent's record key and the child's parent_key must hold comparable values: they are
    matched as text, so an INTEGER beside a VARCHAR works, but a DOUBLE's `1.0` never matches `1`."""
    child = mapping.spec.children_field
    key_field = next((f for f in mapping.fields if f.target == mapping.spec.key_field), None)
    if child is None or key_field is None or key_field.column is None or mapping.parent_key not in child_schema:
        return []
    if key_field.column not in schema:
        return []  # reported on the field
    parent_type, child_type = schema[key_field.column], child_schema[str(mapping.parent_key)]
    comparable = (parent_type == child_type or {parent_type, child_type} <= {pl.String, *_INTEGER}
                  or (parent_type in _INTEGER and child_type in _INTEGER))
    if comparable:
        return []
    return [Finding("error", mapping.entity, f"{child.name}.parent_key",
                    f"{mapping.parent_key!r} is {child_type} and the parent's {mapping.spec.key_field} column "
                    f"{key_field.column!r} is {parent_type}: children would match no parent; make them the same type "
                    "(a query source can cast one)")]


def _query_window_findings(mapping: EntityMapping) -> list[Finding]:
    """A query that ignores the window sends its whole result every partition (every hour, every
    record again, a request per batch of them): an error. One bound only: a warning."""
    query, col = mapping.source.query or "", mapping.source.window_column
    used = {bound for bound in ("$start", "$end") if bound in query}
    fix = f"filter on the window column: WHERE {col} >= $start AND {col} < $end"
    if not used:
        return [Finding("error", mapping.entity, "source",
                        f"the query uses neither $start nor $end, so every partition reads and sends its whole result "
                        f"(every record again, each run spending the key's quota); {fix}")]
    if len(used) == 1:
        [only] = used
        return [Finding("warning", mapping.entity, "source",
                        f"the query uses {only} but not {'$end' if only == '$start' else '$start'}, so each partition "
                        f"reads rows outside its window (sent again by every partition that reads them); {fix}")]
    return []


def _query_null_window_findings(mapping: EntityMapping) -> list[Finding]:
    """A query that filters on $start/$end leaves out every row whose window value is NULL, in
    every run: say so, and how to keep them for --all (`$all`)."""
    query, col = mapping.source.query or "", mapping.source.window_column
    used = {m.group(0) for m in WINDOW_PARAM.finditer(query)}
    if col is None or not used & {"$start", "$end"} or "$all" in used:
        return []
    return [Finding("note", mapping.entity, "source",
                    f"the query decides which rows any run reads: `--all` and the reconcile job run it with $start and "
                    f"$end at the ends of time, so a row whose {col} is NULL, which fails `{col} >= $start`, is read by "
                    f"no run and counted nowhere; to have them read and sent by --all (and counted in each partition's "
                    f"rows_without_window_value), write WHERE {col} >= $start AND {col} < $end OR ({col} IS NULL AND $all)")]


def _child_query_findings(child_mapping: EntityMapping, where: str) -> list[Finding]:
    """A child's query is read by its parents' keys, run over all time ($start and $end bound to
    the ends of time, as for every source read with a child): it needs neither bound, and its
    window column alone lets a child's time select its parent. Bounds without a window column
    select nothing: a warning, so that nobody relies on them."""
    query, src = child_mapping.source.query or "", child_mapping.source
    used = sorted({m.group(0) for m in WINDOW_PARAM.finditer(query)} - {"$all"})
    if not used or src.window_column is not None:
        return []
    return [Finding("warning", child_mapping.entity, where,
                    f"the query uses {' and '.join(used)}, but a child source is read by its parents' keys with "
                    "$start and $end bound to the ends of time, so they select nothing; to let a child row's own "
                    "time select its parent, give the child source a window_column (its rows' update time)")]


def check_mapping(mappings: dict[str, EntityMapping], warehouse: Warehouse) -> list[Finding]:
    findings: list[Finding] = []
    for mapping in mappings.values():
        found = check_entity(mapping, warehouse)
        if not any(f.level == "error" for f in found):
            # The run's own checks too (the sources it opens, its keys): exit 0 means the mapping will run.
            try:
                warehouse.check(mapping)
            except MappingError as exc:
                found.append(Finding("error", mapping.entity, "source", str(exc)))
        findings.extend(found)
    return findings
