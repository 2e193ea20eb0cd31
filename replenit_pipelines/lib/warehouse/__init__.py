"""Warehouse sources and declarative field mappings (no Dagster): mappings declared (mapping.py);
sources reached (access.py), read a window at a time (reader.py; frames.py for child sources and
converted windows), or whole in chunks (chunks.py, customer_chunks.py); windows parsed
(windows.py); record keys (keys.py); Python sources (python_sources.py)."""

from replenit_pipelines.lib.warehouse.mapping import (
    EntityMapping,
    FieldMapping,
    MappingError,
    SourceSpec,
    entity_mapping_from_dict,
    load_mapping,
    mappings_from_dict,
)
from replenit_pipelines.lib.warehouse.reader import Warehouse

__all__ = ["EntityMapping", "FieldMapping", "MappingError", "SourceSpec", "Warehouse",
           "entity_mapping_from_dict", "load_mapping", "mappings_from_dict"]
