"""Request bodies bounded by record count and by bytes, each record serialized once (by
lib/contract/payload.py)."""

from collections.abc import Iterator, Sequence
from typing import Protocol

from replenit_pipelines.lib.contract.payload import serialize

__all__ = ["Parts", "join", "plan_batches", "serialize"]


class Parts(Protocol):
    """Serialized records by index: a list, or a stream's batch (a dict of index -> record)."""

    def __getitem__(self, index: int, /) -> bytes: ...


def join(parts: Parts, indices: Sequence[int]) -> bytes:
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
