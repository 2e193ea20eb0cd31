"""The warehouse tables the syncs read, as external assets (lineage only; Dagster does not build them)."""

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.lib.warehouse import EntityMapping, SourceSpec, load_mapping


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


@dg.definitions
def warehouse_sources() -> dg.Definitions:
    specs = {}
    for entity, mapping in load_mapping(settings.current().mapping_path).items():
        for key, src in zip(source_asset_keys(mapping), (mapping.source, mapping.child_source), strict=False):
            assert src is not None
            window = f"windowed by {src.window_column}" if src.window_column else "read with their parent"
            specs[key] = dg.AssetSpec(
                key, kinds={"polars"} if src.python else {"duckdb"} if not src.path else {"parquet"}, group_name="warehouse",
                description=f"Warehouse rows behind Replenit {entity}, {window}.",
                metadata={"window_column": src.window_column or ""},
            )
    return dg.Definitions(assets=list(specs.values()))
