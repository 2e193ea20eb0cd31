"""The Replenit Ingestion API contract: entity specs and value formats (no I/O, no Dagster)."""

from replenit_pipelines.lib.contract.entities import (
    CUSTOMER,
    ENTITIES,
    ORDER,
    ORDER_ITEM,
    PRODUCT,
    PRODUCT_VARIANT,
    EntitySpec,
    FieldSpec,
    Kind,
    entity,
)
from replenit_pipelines.lib.contract.records import RecordError, validate_record

__all__ = [
    "CUSTOMER", "ENTITIES", "ORDER", "ORDER_ITEM", "PRODUCT", "PRODUCT_VARIANT",
    "EntitySpec", "FieldSpec", "Kind", "RecordError", "entity", "validate_record",
]
