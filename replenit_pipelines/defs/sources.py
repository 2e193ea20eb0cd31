"""The warehouse tables the syncs read, as external assets (lineage only; Dagster does not build
them), with what a catalog needs at definition time: owners, `dagster/table_name`, and a column
schema (the mapping's source columns, typed from the warehouse when it can be read)."""

import hashlib
import os
from pathlib import Path

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.lib.stages.report import column_lineage
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse, load_mapping

# Who answers for these assets in the catalog: REPLENIT_ASSET_OWNERS, comma-separated emails or
# `team:` names (Dagster's owner forms).
DEFAULT_OWNERS = ("team:data-engineering",)


def owners() -> list[str]:
    raw = os.environ.get("REPLENIT_ASSET_OWNERS", "")
    return [o.strip() for o in raw.split(",") if o.strip()] or list(DEFAULT_OWNERS)


def source_key(mapping: EntityMapping) -> dg.AssetKey:
    name = mapping.source.table or (mapping.source.path and mapping.source.path.rsplit("/", 1)[-1].split(".")[0]) or f"{mapping.entity}_query"
    return dg.AssetKey(["warehouse", name])


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
    feeds: dict[str, list[str]] = {mapping.source.window_column: []}
    for target, columns in column_lineage(mapping).items():
        for c in columns:
            feeds.setdefault(c, []).append(target)
    types: dict[str, str] = {}
    if Path(warehouse_path).exists() or mapping.source.path:
        try:
            types = {name: str(dtype) for name, dtype in Warehouse(warehouse_path).columns(mapping).items()}
        except Exception:  # noqa: BLE001 - definitions must load without a readable warehouse
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
        key = source_key(mapping)
        specs[key] = dg.AssetSpec(
            key, kinds={"duckdb"} if not mapping.source.path else {"parquet"}, group_name="warehouse",
            description=f"Warehouse rows behind Replenit {entity}, windowed by {mapping.source.window_column}.",
            owners=owners(),
            metadata={"window_column": mapping.source.window_column,
                      "dagster/table_name": table_name(mapping, current.warehouse_path),
                      "dagster/column_schema": source_schema(mapping, current.warehouse_path)},
        )
    return dg.Definitions(assets=list(specs.values()))
