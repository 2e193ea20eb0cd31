"""The warehouse tables the syncs read, as external assets (lineage only; Dagster does not build them)."""

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.lib.warehouse import EntityMapping, load_mapping


def source_key(mapping: EntityMapping) -> dg.AssetKey:
    name = mapping.source.table or (mapping.source.path and mapping.source.path.rsplit("/", 1)[-1].split(".")[0]) or f"{mapping.entity}_query"
    return dg.AssetKey(["warehouse", name])


def source_keys() -> dict[str, dg.AssetKey]:
    return {entity: source_key(m) for entity, m in load_mapping(settings.current().mapping_path).items()}


@dg.definitions
def warehouse_sources() -> dg.Definitions:
    specs = {}
    for entity, mapping in load_mapping(settings.current().mapping_path).items():
        key = source_key(mapping)
        specs[key] = dg.AssetSpec(
            key, kinds={"duckdb"} if not mapping.source.path else {"parquet"}, group_name="warehouse",
            description=f"Warehouse rows behind Replenit {entity}, windowed by {mapping.source.window_column}.",
            metadata={"window_column": mapping.source.window_column},
        )
    return dg.Definitions(assets=list(specs.values()))
