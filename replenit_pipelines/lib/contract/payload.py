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


def serialize(records: pl.DataFrame | Iterable[dict[str, Any]], chunk_rows: int = 100_000) -> list[bytes]:
    """One JSON document per record. A frame's `__` columns (bookkeeping) are not written; a frame
    is written by Polars in chunks, so no window-sized JSON text is ever held at once."""
    if not isinstance(records, pl.DataFrame):
        return [serialize_record(r) for r in records]
    frame = records.select([c for c in records.columns if not c.startswith("__")])
    refuse_non_finite(frame)
    if not frame.width:
        return [b"{}"] * frame.height
    # Each row's JSON straight into its own bytes object: the same bytes as Polars' write_ndjson
    # (one JSON writer), without an NDJSON text to copy and split (a third less CPU, and no
    # chunk-sized buffer twice over).
    document = pl.struct(pl.all()).struct.json_encode().cast(pl.Binary)
    parts: list[bytes] = []
    for offset in range(0, frame.height, chunk_rows):
        parts.extend(frame.slice(offset, chunk_rows).select(document).to_series().to_list())
    return parts


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
