"""Warehouse sources and declarative field mappings (no Dagster)."""

from replenit_pipelines.lib.warehouse.mapping import (
    EntityMapping,
    FieldMapping,
    MappingError,
    SourceSpec,
    entity_mapping_from_dict,
    load_mapping,
    mappings_from_dict,
)
from replenit_pipelines.lib.warehouse.sources import Warehouse

__all__ = ["EntityMapping", "FieldMapping", "MappingError", "SourceSpec", "Warehouse",
           "entity_mapping_from_dict", "load_mapping", "mappings_from_dict"]
