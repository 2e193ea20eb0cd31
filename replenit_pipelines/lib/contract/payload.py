"""The wire form of a record: one JSON document per record, one rule for nulls, used by the
pipeline (records as a Polars frame) and by `replenit push` (records as dicts) alike.

The rule: a null field is written as null, not left out. Null is what the warehouse says, and a
record is sent whole (an upsert that left a field out could keep a value the warehouse no longer
has); the API and the sandbox read null like absent when they validate. Leaving nulls out would
save bytes, but the pipeline's frames are written by Polars, which cannot leave them out, and
stripping them afterwards tripled the serialize time in bench/prepare_throughput.py; request
bodies are far below the body limit at the contract's batch sizes either way.

Non-finite numbers are refused, never written: JSON has no NaN, and both Polars and orjson would
write null, which the API reads as absent (an order's revenue would become 1).
"""

from collections.abc import Iterable
from typing import Any

import orjson
import polars as pl


def serialize_record(record: dict[str, Any]) -> bytes:
    """One record as one JSON document (nulls written as null)."""
    return orjson.dumps(record)


def serialize(records: pl.DataFrame | Iterable[dict[str, Any]]) -> list[bytes]:
    """One JSON document per record, as bytes objects (`serialize_column` of a frame, listed)."""
    if not isinstance(records, pl.DataFrame):
        return [serialize_record(r) for r in records]
    return serialize_column(records).to_list()


def serialize_column(records: pl.DataFrame) -> pl.Series:
    """One JSON document per record, as a Binary column aligned with the frame's rows: the same
    bytes as Polars' write_ndjson (one JSON writer). The pipeline keeps a window's payloads in
    this column and makes Python bytes only of those it sends: a million bytes objects cost more
    time (0.2 s) and memory (about a fifth more) than the column, and an unchanged window sends
    none. A frame's `__` columns (bookkeeping) are not written."""
    frame = records.select([c for c in records.columns if not c.startswith("__")])
    refuse_non_finite(frame)
    if not frame.width:
        return pl.Series("payload", [b"{}"] * records.height, dtype=pl.Binary)  # select([]) has no rows
    # On the streaming engine: its rows are encoded on every core (an eager select uses one).
    return frame.lazy().select(pl.struct(pl.all()).struct.json_encode().cast(pl.Binary).alias("payload")) \
        .collect(engine="streaming").to_series()


def refuse_non_finite(frame: pl.DataFrame) -> None:
    """Prepare quarantines NaN and ±inf; this guard makes a slip there an error instead of wrong data."""
    checks = []
    for name, dtype in frame.schema.items():
        if dtype.is_float():
            checks.append((name, pl.col(name)))
        elif isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
            checks += [(f"{name}.{f.name}", pl.col(name).explode().struct.field(f.name))
                       for f in dtype.inner.fields if f.dtype.is_float()]
    if not checks:
        return
    bad = frame.select((~e.is_finite()).any().alias(n) for n, e in checks).row(0, named=True)
    offending = [n for n, v in bad.items() if v]
    if offending:
        raise ValueError(f"non-finite numbers in {', '.join(offending)} reached serialization: prepare must quarantine them")
