"""The map stage: warehouse rows -> rows of API fields, as the mapping file (declared in
lib/warehouse/mapping.py) says: every field's column, expr or constant evaluated, cast and
normalized, and each row's identity computed. The machinery is lib/validation/mapped.py (records
are nested from valid rows only, so validation uses it too)."""

import polars as pl

from replenit_pipelines.lib.validation.prepare import Mapped, map_rows
from replenit_pipelines.lib.warehouse import EntityMapping


def map_stage(mapping: EntityMapping, rows: pl.DataFrame, customer_priority: str) -> Mapped:
    """One window's (or chunk's) rows mapped; a field the mapping cannot produce raises MappingError naming it."""
    return map_rows(mapping, rows, customer_priority=customer_priority)
