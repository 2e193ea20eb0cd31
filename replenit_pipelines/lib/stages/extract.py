"""The extract stage: one window's rows of one entity from the warehouse (lib/warehouse/reader.py, frames.py)."""

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse
from replenit_pipelines.lib.warehouse.frames import window_counts


@dataclass(frozen=True)
class Extracted:
    rows: pl.DataFrame  # every row of each record the window touches
    rows_without_window_value: int  # in the whole source, read by no window (not part of rows read)
    # Likewise read by no window: their window value does not parse (a text or epoch column).
    rows_unparsable_window_value: int = 0
    unparsable_window_examples: list[str] = field(default_factory=list)  # a few such values, as the source has them


def extract(mapping: EntityMapping, warehouse: Warehouse, start: datetime, end: datetime) -> Extracted:
    # The window-value counts first: a failure there costs no quota and reads no window.
    if mapping.read_by_frames:
        without, unparsable, examples = window_counts(warehouse, mapping)
        return Extracted(warehouse.read(mapping, start, end), without, unparsable, examples)
    without_window_value = warehouse.rows_without_window_value(mapping)
    return Extracted(warehouse.read(mapping, start, end), without_window_value)
