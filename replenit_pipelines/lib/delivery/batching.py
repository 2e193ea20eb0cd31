"""Request bodies bounded by record count and by bytes, each record serialized once."""

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson


def serialize(records: Iterable[dict[str, Any]]) -> list[bytes]:
    """One JSON document per record; null fields are left out (the API reads absent as null)."""
    dumps = orjson.dumps
    return [
        dumps(r) if None not in r.values() else dumps({k: v for k, v in r.items() if v is not None})
        for r in records
    ]


def body_size(parts: Sequence[bytes], indices: Sequence[int]) -> int:
    return 2 + sum(len(parts[i]) for i in indices) + max(0, len(indices) - 1)


def join(parts: Sequence[bytes], indices: Sequence[int]) -> bytes:
    return b"[" + b",".join(parts[i] for i in indices) + b"]"


def plan_batches(parts: Sequence[bytes], max_records: int, max_bytes: int) -> Iterator[list[int]]:
    """Consecutive runs of record indices, in order: full by count unless bytes cut them short.

    A record too large for any body still gets a batch of its own; the API will say why.
    """
    batch: list[int] = []
    size = 2  # the brackets
    for i, part in enumerate(parts):
        extra = len(part) + (1 if batch else 0)
        if batch and (len(batch) >= max_records or size + extra > max_bytes):
            yield batch
            batch, size, extra = [], 2, len(part)
        batch.append(i)
        size += extra
    if batch:
        yield batch
