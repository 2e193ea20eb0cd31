"""The last acknowledged payload of each record, kept when asked (REPLENIT_LEDGER_KEEP_PAYLOADS=1),
so that a dry run can say *what* changed (`replenit sync ENTITY --dry-run --diff`, issue 27).

Each payload is stored zstd-compressed (python-zstandard, level 3, one frame per record) with a
dictionary trained on the ledger's first large acknowledged batch (a 200-byte customer alone
compresses to ~165 bytes, with the dictionary to ~60: small JSON records share their keys, not
their bytes), beside its content hash, in a table of its own (`payloads` in a SQLite ledger file, `ledger_payloads` in
Postgres), written in the acknowledgement's own transaction: a payload is kept exactly when its
acknowledgement is. A payload whose hash is not the ledger's current one (an acknowledgement
made while keeping was off, or by a retry) is stale and read as not kept, never shown as the
old value. docs/ledger.md quotes the cost per million records (bench/ledger_payloads.py).

`changed_fields` compares two payloads field by field: the record's own fields, then its child
array (OrderItems, ProductVariants) matched by child key, each child added, removed or changed.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import zstandard

KEEP_PAYLOADS_ENV = "REPLENIT_LEDGER_KEEP_PAYLOADS"
LEVEL = 3  # zstd's default: ~2x smaller than zlib's default at a fraction of the time on small JSON

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def keep_payloads_from_env(environ: Any = None) -> bool:
    """REPLENIT_LEDGER_KEEP_PAYLOADS: 1/true/yes/on keeps payloads; unset, 0/false/no/off does not."""
    value = (os.environ if environ is None else environ).get(KEEP_PAYLOADS_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{KEEP_PAYLOADS_ENV}={value!r}: write 1 to keep each acknowledged payload (for --dry-run --diff), or 0")


TRAIN_MIN_RECORDS = 100  # a batch this large trains the ledger's dictionary (fewer samples train a poor one, or none)
DICT_BYTES = 8_192


class PayloadCodec:
    """zstd frames, with the ledger's dictionary once it has one. Each frame names its dictionary
    (its id, in the frame header), so frames written before a dictionary existed, or with another
    process's, decompress with the right one. Dictionaries are kept in the ledger beside the
    payloads (`payload_dicts`), never replaced."""

    def __init__(self) -> None:
        self.dicts: dict[int, zstandard.ZstdCompressionDict] = {}
        self.current: zstandard.ZstdCompressionDict | None = None

    def load(self, rows: list[tuple[int, bytes]]) -> None:
        """The ledger's dictionaries (dict_id, bytes); the least id compresses from now on."""
        for _, data in sorted(rows):
            d = zstandard.ZstdCompressionDict(bytes(data))
            self.dicts.setdefault(d.dict_id(), d)
            if self.current is None:
                self.current = d

    def compress(self, payloads: list[bytes]) -> tuple[list[bytes], tuple[int, bytes] | None]:
        """(the frames, a dictionary trained now to be stored with them, or None)."""
        trained = None
        if self.current is None and len(payloads) >= TRAIN_MIN_RECORDS:
            try:
                d = zstandard.train_dictionary(DICT_BYTES, list[bytes | bytearray | memoryview](payloads))
            except zstandard.ZstdError:  # too few or too alike samples: plain frames until a batch trains one
                d = None
            if d is not None:
                self.current, self.dicts[d.dict_id()] = d, d
                trained = (d.dict_id(), d.as_bytes())
        c = zstandard.ZstdCompressor(level=LEVEL, dict_data=self.current) if self.current is not None else zstandard.ZstdCompressor(level=LEVEL)
        return [c.compress(p) for p in payloads], trained

    def decompress(self, blob: bytes) -> bytes | None:
        """The payload, or None when its dictionary is not known here (the caller reloads them)."""
        dict_id = zstandard.get_frame_parameters(blob).dict_id
        if dict_id == 0:
            return zstandard.ZstdDecompressor().decompress(blob)
        d = self.dicts.get(dict_id)
        return None if d is None else zstandard.ZstdDecompressor(dict_data=d).decompress(blob)


# --- what changed ---------------------------------------------------------------------------------

CHILD_KEYS = {"OrderItems": ("ProductId", "VariantId", "Sku"), "ProductVariants": ("VariantId", "Sku")}


@dataclass(frozen=True)
class FieldChange:
    path: str  # `Email`, `OrderItems[ProductId=p1].Price`
    kind: str  # "changed", "added" (a field or child now there), "removed"
    old: Any = None
    new: Any = None


def changed_fields(old: bytes | dict, new: bytes | dict) -> list[FieldChange]:
    """The fields of `new` that differ from `old` (two payloads of one record), in field order;
    a null member is absent (as the API reads it)."""
    a = orjson.loads(old) if isinstance(old, bytes) else old
    b = orjson.loads(new) if isinstance(new, bytes) else new
    return list(_diff(a, b, ""))


def _present(record: dict) -> dict:
    return {k: v for k, v in record.items() if v is not None}


def _diff(a: dict, b: dict, prefix: str) -> Iterator[FieldChange]:
    a, b = _present(a), _present(b)
    for name in [*b, *(k for k in a if k not in b)]:
        path = f"{prefix}{name}"
        if name in CHILD_KEYS and (isinstance(a.get(name), list) or isinstance(b.get(name), list)):
            yield from _children(name, a.get(name) or [], b.get(name) or [], path)
        elif name not in a:
            yield FieldChange(path, "added", None, b[name])
        elif name not in b:
            yield FieldChange(path, "removed", a[name], None)
        elif not _same(a[name], b[name]):
            yield FieldChange(path, "changed", a[name], b[name])


def _same(x: Any, y: Any) -> bool:
    # 1 and 1.0 are one value to the API (the ledger's canonical form says so too)
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool) and not isinstance(y, bool):
        return float(x) == float(y)
    return bool(x == y)


def _child_key(name: str, child: dict, position: int) -> str:
    for field in CHILD_KEYS[name]:
        if child.get(field) is not None:
            key = f"{field}={child[field]}"
            if field == "ProductId" and child.get("VariantId") is not None:
                key += f",VariantId={child['VariantId']}"
            return key
    return f"#{position}"


def _children(name: str, old: list, new: list, path: str) -> Iterator[FieldChange]:
    before = {_child_key(name, c, i): c for i, c in enumerate(old)}
    after = {_child_key(name, c, i): c for i, c in enumerate(new)}
    for key, child in after.items():
        if key not in before:
            yield FieldChange(f"{path}[{key}]", "added", None, child)
        else:
            yield from _diff(before[key], child, f"{path}[{key}].")
    for key, child in before.items():
        if key not in after:
            yield FieldChange(f"{path}[{key}]", "removed", child, None)
