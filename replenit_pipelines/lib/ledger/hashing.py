"""Payload hashes that stay the same across processes, machines and library versions.

Two 16-byte hashes per record, both of specified, frozen algorithms (not Polars' `hash`, which
changes between releases):

- the *content hash*: BLAKE2b-128 (hashlib) of the payload's canonical form. The canonical form is the JSON document
  re-written with keys sorted, null members omitted (the API reads null as absent, so `{"a":
  null}` and `{}` are the same record), integral floats written as integers and other floats in
  their shortest round-trip form (`1.50`, `1.5` and `15e-1` are one number), UTF-8, no
  whitespace. It depends only on the values: a Polars upgrade that writes floats or key order
  differently does not change it. This is what the ledger compares and stores.
- the *exact hash*: XXH3-128 of the bytes as serialized, computed in Rust over a whole column
  (polars-hash; XXH3's output is specified and frozen since xxHash 0.8, and pinned by a test
  vector here): 0.15 s per million payloads where a Python loop of BLAKE2b takes 0.5 s and the
  canonical form 1.7 s. The diff compares it first; only records whose exact bytes differ from
  what was acknowledged pay for the canonical form (new and changed records, and every record
  once after a serializer change, after which the ledger is restamped).

The *identity key* (`identity_keys`): XXH3-64 (seed 0) of the identity's UTF-8 bytes, as a signed
64-bit integer: the ledger's join key (an integer join is several times cheaper than a string
join). A collision of two identities is possible (~n²/2⁶⁵) and harmless: lib/ledger/diff.py keeps
one entry per key, and a record matched to another identity's entry differs in content (its
payload carries its own identity), so it is sent as changed.

Canonical version 1 is pinned by a hand-written digest in tests/lib/ledger/test_ledger_hashing.py: a change
to it is a change to every ledger and must bump CANONICAL_VERSION.
"""

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl
import polars_hash as plh

CANONICAL_VERSION = 1
DIGEST_SIZE = 16
_MAX_EXACT_INT = 2**53  # floats beyond this are not written as integers (they would lose meaning)


def _canonical_value(value: Any) -> Any:
    if type(value) is float:
        return int(value) if value.is_integer() and -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT else value
    if type(value) is dict:
        return {k: _canonical_value(v) for k, v in value.items() if v is not None}
    if type(value) is list:
        return [_canonical_value(v) for v in value]  # a null inside an array is a value, not an absence
    return value


def canonical(payload: bytes | str | dict) -> bytes:
    """The canonical JSON bytes of one record (see the module docstring)."""
    record = orjson.loads(payload) if not isinstance(payload, dict) else payload
    return orjson.dumps(_canonical_value(record), option=orjson.OPT_SORT_KEYS)


def content_hash(payload: bytes | str | dict) -> bytes:
    return hashlib.blake2b(canonical(payload), digest_size=DIGEST_SIZE).digest()


def exact_hash(payload: bytes) -> bytes:
    return exact_hashes([payload])[0]


def content_hashes(parts: Sequence[bytes]) -> pl.Series:
    """Content hashes of many payloads, as a Binary series aligned with `parts`."""
    blake, loads, dumps, sort, fix = hashlib.blake2b, orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS, _canonical_value
    return pl.Series("hash", [blake(dumps(fix(loads(p)), option=sort), digest_size=DIGEST_SIZE).digest() for p in parts],
                     dtype=pl.Binary)


_EXACT_CHUNK = 65_536  # payloads copied into a Polars column at a time: ~13 MB of customers, not the window's 200 MB


def exact_hashes(parts: Sequence[bytes] | pl.Series) -> pl.Series:
    """XXH3-128 (seed 0, big-endian bytes) of many payloads, as a Binary series aligned with `parts`."""
    xxh3 = plh.col("p").nchash.xxh3_128(return_binary=True, byte_order="big").alias("exact")
    if isinstance(parts, pl.Series):
        return parts.rename("p").to_frame().select(xxh3)["exact"]
    chunks = [pl.DataFrame({"p": pl.Series(parts[i:i + _EXACT_CHUNK], dtype=pl.Binary)}).select(xxh3)["exact"]
              for i in range(0, len(parts), _EXACT_CHUNK)]
    return pl.concat(chunks, rechunk=True) if chunks else pl.Series("exact", [], dtype=pl.Binary)


def exact_hashes_int128(parts: Sequence[bytes] | pl.Series) -> pl.Series:
    """`exact_hashes` as Int128 (the 16 bytes read little-endian): half the memory of a Binary
    column, and an integer comparison. `hashes_as_binary` turns them back."""
    xxh3 = plh.col("p").nchash.xxh3_128(return_binary=True, byte_order="big").bin.reinterpret(dtype=pl.Int128).alias("exact")
    if isinstance(parts, pl.Series):
        return parts.rename("p").to_frame().select(xxh3)["exact"]
    chunks = [pl.DataFrame({"p": pl.Series(parts[i:i + _EXACT_CHUNK], dtype=pl.Binary)}).select(xxh3)["exact"]
              for i in range(0, len(parts), _EXACT_CHUNK)]
    return pl.concat(chunks, rechunk=True) if chunks else pl.Series("exact", [], dtype=pl.Int128)


def hashes_as_int128(hashes: pl.Series) -> pl.Series:
    """16-byte hashes as Int128 (little-endian); a value of another length reads as null."""
    return hashes.to_frame("h").select(pl.col("h").bin.reinterpret(dtype=pl.Int128))["h"].rename(hashes.name)


def hashes_as_binary(hashes: pl.Series) -> pl.Series:
    """The 16-byte hashes that `exact_hashes_int128` / `hashes_as_int128` read as Int128."""
    return pl.Series(hashes.name, [None if v is None else v.to_bytes(16, "little", signed=True) for v in hashes.to_list()],
                     dtype=pl.Binary)


def identity_keys(identities: pl.Series | Sequence[str | None]) -> pl.Series:
    """XXH3-64 (seed 0) of each identity's UTF-8 bytes, reinterpreted as Int64 (SQLite's INTEGER);
    null for a null identity. Frozen like the exact hash (pinned by a test vector)."""
    column = pl.Series("i", identities, dtype=pl.String)
    return column.to_frame().select(plh.col("i").nchash.xxh3_64().reinterpret(signed=True).alias("idkey"))["idkey"]
