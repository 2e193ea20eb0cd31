"""The warehouse tables the syncs read, as external assets (lineage only; Dagster does not build
them), with what a catalog needs at definition time: owners, `dagster/table_name`, and a column
schema (the mapping's source columns, typed from the warehouse when it can be read)."""

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.lib.stages.report import column_lineage
from replenit_pipelines.lib.warehouse import EntityMapping, SourceSpec, Warehouse, load_mapping

# Who answers for these assets in the catalog: REPLENIT_ASSET_OWNERS, comma-separated emails or
# `team:` names (Dagster's owner forms).
DEFAULT_OWNERS = ("team:data-engineering",)


def owners() -> list[str]:
    raw = os.environ.get("REPLENIT_ASSET_OWNERS", "")
    return [o.strip() for o in raw.split(",") if o.strip()] or list(DEFAULT_OWNERS)


def _source_name(src: SourceSpec, fallback: str) -> str:
    if src.python:
        return src.python.rsplit(":", 1)[-1]
    return src.table or (src.path and src.path.rsplit("/", 1)[-1].split(".")[0]) or f"{fallback}_query"


def source_key(mapping: EntityMapping) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", _source_name(mapping.source, mapping.entity)])


def source_asset_keys(mapping: EntityMapping) -> list[dg.AssetKey]:
    """The warehouse assets an entity reads: its source, and its children's own source if any."""
    keys = [source_key(mapping)]
    if mapping.child_source is not None:
        keys.append(dg.AssetKey(["warehouse", _source_name(mapping.child_source, f"{mapping.entity}_children")]))
    return keys


def source_keys() -> dict[str, dg.AssetKey]:
    return {entity: source_key(m) for entity, m in load_mapping(settings.current().mapping_path).items()}


def mapping_version(mapping: EntityMapping) -> str:
    """A code version that changes when the entity's mapping does (its fields, source, window)."""
    return hashlib.sha256(repr(mapping).encode()).hexdigest()[:12]


def table_name(mapping: EntityMapping, warehouse_path: str) -> str:
    """`dagster/table_name`: database.schema.table for a DuckDB table, else the files or query read."""
    if mapping.source.table:
        table = mapping.source.table if "." in mapping.source.table else f"main.{mapping.source.table}"
        return f"{Path(warehouse_path).stem}.{table}"
    return mapping.source.path or f"query:{mapping.entity}"


def source_schema(mapping: EntityMapping, warehouse_path: str) -> dg.TableSchema:
    """The source columns the mapping reads, with the API fields each feeds; typed from the
    warehouse when it exists and can be read now (a missing file leaves the types unknown)."""
    feeds: dict[str, list[str]] = {mapping.source.window_column: []} if mapping.source.window_column else {}
    for target, columns in column_lineage(mapping).items():
        for c in columns:
            feeds.setdefault(c, []).append(target)
    types: dict[str, str] = {}
    if Path(warehouse_path).exists() or mapping.source.path:
        try:
            types = {name: str(dtype) for name, dtype in Warehouse(warehouse_path).columns(mapping).items()}
        except Exception:  # any error: definitions must load without a readable warehouse
            types = {}
    return dg.TableSchema(columns=[
        dg.TableColumn(name, types.get(name, "unknown"), description="; ".join(
            [*(["the window column"] if name == mapping.source.window_column else []),
             *([f"feeds {', '.join(sorted(targets))}"] if targets else [])]))
        for name, targets in feeds.items()
    ])


@dg.definitions
def warehouse_sources() -> dg.Definitions:
    current = settings.current()
    specs = {}
    for entity, mapping in load_mapping(current.mapping_path).items():
        for key, src in zip(source_asset_keys(mapping), (mapping.source, mapping.child_source), strict=False):
            assert src is not None
            window = f"windowed by {src.window_column}" if src.window_column else "read with their parent"
            view = replace(mapping, source=src, fields=mapping.fields if src is mapping.source else mapping.children,
                           children=(), child_source=None, parent_key=None)
            specs[key] = dg.AssetSpec(
                key, kinds={"polars"} if src.python else {"duckdb"} if not src.path else {"parquet"}, group_name="warehouse",
                description=f"Warehouse rows behind Replenit {entity}, {window}.",
                owners=owners(),
                metadata={"window_column": src.window_column or "",
                          "dagster/table_name": table_name(view, current.warehouse_path),
                          "dagster/column_schema": source_schema(view, current.warehouse_path)},
            )
    return dg.Definitions(assets=list(specs.values()))
