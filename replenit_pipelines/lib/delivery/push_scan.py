"""`replenit push`, pass 1: is the file a list of objects, and which record is the last version of
its identity (the one the tenant matches it by: contract/identity.py)? Only that one is sent:
batches in flight land in any order, and an older version could otherwise win. Memory: 12 bytes
a record (bench/push_memory.py)."""

import hashlib
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from replenit_pipelines.lib.contract.identity import identity_fields, record_identity
from replenit_pipelines.lib.delivery.record_files import PushFileError, read_records, where_in_file

_SORT_CHUNK = 1 << 20


def _identity(entity: str, value: dict, customer_priority: str) -> str | None:
    try:
        return record_identity(entity, value, customer_priority)
    except (AttributeError, TypeError):
        return None  # an identifier of the wrong type: validation refuses the record


def _type_name(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


@dataclass
class Scan:
    records: int
    last_version: np.ndarray  # bool per record: True for the last version of its identity
    superseded: int


def scan(path: Path, entity: str, customer_priority: str) -> Scan:
    """Pass 1: check the file is a list of objects and find the last version of each identity.

    Memory: 12 bytes per record (a 64-bit and a 32-bit digest of the identity), 20 at the peak
    of the sort, and the 10M-record file stays under 300 MB (bench/push_memory.py). 96 bits make a
    false match between two identities about as likely as 1 in 10^14 in a file of 10 million."""
    high, low = array("Q"), array("I")  # 8 and 4 bytes
    for rec in read_records(path, identity_fields(entity)):
        if type(rec.value) is not dict:
            raise PushFileError(
                f"{where_in_file(path, rec.index, rec.line)} is {_type_name(rec.value)}, not an object: a push file "
                f"holds {entity} payload records, each a JSON object such as {example(entity)}")
        ident = _identity(entity, rec.value, customer_priority)
        key = (ident if ident is not None else f"\0no identity\0{rec.index}").encode()
        digest = hashlib.blake2b(key, digest_size=12).digest()
        high.append(int.from_bytes(digest[:8], "little"))
        low.append(int.from_bytes(digest[8:], "little"))
    assert high.itemsize == 8 and low.itemsize == 4
    n = len(high)
    if not n:
        return Scan(0, np.zeros(0, dtype=bool), 0)
    last = last_of_each(np.frombuffer(high, dtype=np.uint64), np.frombuffer(low, dtype=np.uint32))
    return Scan(n, last, int(n - last.sum()))


def last_of_each(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """True at the last position of each (hi, lo) pair. A sorted copy of hi shows which 64-bit
    digests repeat; only the records carrying one (versions of one identity, or in the rarest
    case two identities sharing 64 bits) are sorted again, by hi, lo and position, to find each
    pair's last position. numpy, not a Polars hash table: the peak is the digests and one sorted
    copy of hi (20 bytes per record), plus about 30 bytes per record that has other versions."""
    n = hi.size
    ordered = np.sort(hi)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    last = np.ones(n, dtype=bool)
    if not repeated.size:
        return last
    found = []
    for start in range(0, n, _SORT_CHUNK):  # a chunk at a time: no array of positions for every record
        chunk = hi[start:start + _SORT_CHUNK]
        at = np.searchsorted(repeated, chunk).clip(max=repeated.size - 1)
        found.append(np.flatnonzero(repeated[at] == chunk) + start)
    members = np.concatenate(found)  # records whose hi repeats, in file order
    sub = np.lexsort((members, lo[members], hi[members]))  # by hi, then lo, then position in the file
    key_hi, key_lo = hi[members][sub], lo[members][sub]
    sub_last = np.ones(sub.size, dtype=bool)
    sub_last[:-1] = (key_hi[1:] != key_hi[:-1]) | (key_lo[1:] != key_lo[:-1])
    last[members] = False
    last[members[sub[sub_last]]] = True
    return last


def example(entity: str) -> str:
    return {"customers": '{"CustomerId": "c1", "Email": "ada@example.com"}',
            "orders": '{"OrderId": "o1", "CustomerId": "c1", ...}',
            "products": '{"ProductId": "p1", "ProductName": "Mug", ...}'}[entity]
