"""Payload hashes: stable across processes, machines and library versions (lib/ledger/hashing.py)."""

import hashlib
import subprocess
import sys

import polars as pl

from replenit_pipelines.lib.ledger import canonical, content_hash, content_hashes, exact_hash, exact_hashes
from replenit_pipelines.lib.validation import payload_parts

# Written by hand: keys out of order, a null member, a null inside a nested object, 2.50 and 3.0,
# a non-ASCII character. Its canonical form, also by hand: sorted keys, nulls gone, 2.5 and 3.
PAYLOAD = b'{"Email":"Ann@Example.com","Phone":null,"Score":2.50,"Count":3.0,"Items":[{"b":null,"a":"\\u00e9"}],"CustomerId":"c-1"}'
CANONICAL = '{"Count":3,"CustomerId":"c-1","Email":"Ann@Example.com","Items":[{"a":"é"}],"Score":2.5}'.encode()
# BLAKE2b-128 of CANONICAL, computed once and frozen: if this changes, every ledger is invalid.
CONTENT_DIGEST = "0ae8b4dc9a7199bdfc5afdde82e439c4"


def test_canonical_form_and_frozen_digest():
    assert canonical(PAYLOAD) == CANONICAL
    assert hashlib.blake2b(CANONICAL, digest_size=16).hexdigest() == CONTENT_DIGEST
    assert content_hash(PAYLOAD).hex() == CONTENT_DIGEST
    assert content_hashes([PAYLOAD])[0].hex() == CONTENT_DIGEST


def test_key_order_nulls_and_number_spelling_do_not_change_the_content_hash():
    variants = [
        b'{"CustomerId":"c-1","Count":3,"Score":2.5,"Email":"Ann@Example.com","Items":[{"a":"\xc3\xa9"}]}',
        b'{ "Score": 25e-1, "Items": [ {"a": "\xc3\xa9", "b": null} ], "Count": 3, "Email": "Ann@Example.com", '
        b'"CustomerId": "c-1", "Language": null }',
    ]
    assert {content_hash(v).hex() for v in variants} == {CONTENT_DIGEST}


def test_values_that_differ_change_the_content_hash():
    base = content_hash(b'{"a":1,"b":[1,2]}')
    for other in (b'{"a":2,"b":[1,2]}', b'{"a":1,"b":[2,1]}', b'{"a":"1","b":[1,2]}', b'{"a":1,"b":[1,2,null]}',
                  b'{"a":1.5,"b":[1,2]}', b'{"a":true,"b":[1,2]}'):
        assert content_hash(other) != base, other


def test_exact_hash_is_xxh3_128_of_the_bytes():
    # XXH3-128 test vector of the empty input (xxHash's reference: 99aa06d3014798d86001c324468d497f).
    assert exact_hash(b"").hex() == "99aa06d3014798d86001c324468d497f"
    assert exact_hashes([PAYLOAD, PAYLOAD + b" "]).n_unique() == 2
    assert exact_hashes([PAYLOAD]).dtype == pl.Binary


def test_hashes_are_the_same_in_another_process():
    code = ("from replenit_pipelines.lib.ledger import content_hash, exact_hash; import sys; "
            "p = sys.stdin.buffer.read(); print(content_hash(p).hex(), exact_hash(p).hex())")
    out = subprocess.run([sys.executable, "-c", code], input=PAYLOAD, capture_output=True, check=True).stdout.split()
    assert out == [content_hash(PAYLOAD).hex().encode(), exact_hash(PAYLOAD).hex().encode()]


def test_the_pipeline_serializer_and_a_dict_hash_alike():
    frame = pl.DataFrame({"CustomerId": ["c-1"], "Email": ["a@x.io"], "Phone": [None], "Score": [2.5]},
                         schema={"CustomerId": pl.String, "Email": pl.String, "Phone": pl.String, "Score": pl.Float64})
    [part] = payload_parts(frame)
    assert content_hash(part) == content_hash({"Score": 2.5, "Email": "a@x.io", "CustomerId": "c-1"})


def test_identity_key_is_xxh3_64_of_the_identity():
    # XXH3-64 (seed 0) reference vectors: "" -> 2d06800538d394c2, "abc" -> 78af5f94892f3950; stored as signed Int64.
    from replenit_pipelines.lib.ledger.hashing import identity_keys

    keys = identity_keys(["", "abc", None])
    assert keys.dtype == pl.Int64
    assert [k.to_bytes(8, "big", signed=True).hex() if k is not None else None for k in keys.to_list()] == [
        "2d06800538d394c2", "78af5f94892f3950", None]


def test_a_list_of_payloads_hashes_as_a_binary_column_does_a_missing_one_included():
    """A payload that is missing (None) hashes to null, as in a Binary column, also alone in its chunk
    (typed from the values, such a chunk would be of no type the hash takes)."""
    column = exact_hashes(pl.Series([None, PAYLOAD], dtype=pl.Binary))
    assert column.to_list() == [None, exact_hash(PAYLOAD)]
    assert exact_hashes([None, PAYLOAD]).to_list() == column.to_list()
    alone = exact_hashes([None])
    assert alone.dtype == pl.Binary and alone.to_list() == [None]


def test_int128_hashes_read_the_binary_ones_and_keep_their_types_when_empty_or_missing():
    """The diff's integer form of the exact hashes: the same 16 bytes back through hashes_as_binary,
    a missing payload (also alone in its chunk) null, and no payloads an empty Int128 column (a
    column of no type would not concatenate with the others)."""
    from replenit_pipelines.lib.ledger.hashing import exact_hashes_int128, hashes_as_binary

    column = exact_hashes_int128([None, PAYLOAD])
    assert column.dtype == pl.Int128 and column[0] is None
    assert hashes_as_binary(column).to_list() == [None, exact_hash(PAYLOAD)]
    alone = exact_hashes_int128([None])
    assert alone.dtype == pl.Int128 and alone.to_list() == [None]
    empty = exact_hashes_int128([])
    assert empty.dtype == pl.Int128 and empty.len() == 0
    back = hashes_as_binary(pl.Series("exact", [], dtype=pl.Int128))
    assert back.dtype == pl.Binary and back.name == "exact" and back.len() == 0
