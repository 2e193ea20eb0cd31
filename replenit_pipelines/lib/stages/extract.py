"""The extract stage: one window's rows of one entity from the warehouse (lib/warehouse/sources.py)."""

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse


@dataclass(frozen=True)
class Extracted:
    rows: pl.DataFrame  # every row of each record the window touches
    rows_without_window_value: int  # in the whole source, read by no window (not part of rows read)


def extract(mapping: EntityMapping, warehouse: Warehouse, start: datetime, end: datetime) -> Extracted:
    # The NULL count first: a failure there costs no quota and reads no window.
    without_window_value = warehouse.rows_without_window_value(mapping)
    return Extracted(warehouse.read(mapping, start, end), without_window_value)
