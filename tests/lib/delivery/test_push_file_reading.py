"""Reading a push file: what a file that is no list of records is told (exactly, with the place),
Parquet binary columns as text, and pass 1's flags of the last version of each identity."""

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replenit_pipelines.lib.delivery.push import push_file
from replenit_pipelines.lib.delivery.push_scan import scan
from replenit_pipelines.lib.delivery.record_files import PushFileError, read_records


@pytest.mark.parametrize(("content", "place", "message"), [
    ('  "CustomerId"', "line 1, column 3",
     "expected a JSON array of records ([ {...}, {...} ]) or a .ndjson file with one object per line"),
    ('[{"CustomerId": "a"},\n  ]', "line 2, column 3", "a comma before ] (a trailing comma is not JSON); remove it"),
    ('[{"CustomerId": "a"},\n\n {"CustomerId": "b"},\n  ]', "line 4, column 3",  # the column counts from the last line break
     "a comma before ] (a trailing comma is not JSON); remove it"),
    ('[{"CustomerId": "a"}]x', "line 1, column 22", "unexpected text after the array's closing ]"),
    ("[ ]]", "line 1, column 4", "unexpected text after the array's closing ]"),  # an empty array, then text
    ('[{"CustomerId": "a"},\n {"CustomerId": "b"}\n', "line 3, column 1",
     "the file ends after record 1 without a closing ]; is it truncated?"),
    ('[{"CustomerId": "a"},\n', "line 2, column 1", "the file ends inside the array, before record 1; is it truncated?"),
    ("[  ", "line 1, column 4", "the file ends inside the array, before record 0; is it truncated?"),
])
def test_a_json_file_that_is_no_array_of_records_is_told_exactly_what_to_fix(tmp_path, content, place, message):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(PushFileError, match="^" + re.escape(f"{path}: {place}: {message}") + "$"):
        list(read_records(path))


def test_a_parquet_binary_column_is_sent_as_text_with_invalid_bytes_replaced(sandbox, client, tmp_path, records_in_sandbox):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"CustomerId": ["c1", "c2"], "Email": ["c1@example.com", "c2@example.com"],
                             "Name": pa.array([b"Ada", b"Bj\xf6rn"], pa.binary())}), path)  # Latin-1, not UTF-8
    outcome = push_file(client, "customers", path, "customerid")
    stored = records_in_sandbox(sandbox, client.tenant, "customers")
    assert outcome.exit_code == 0
    assert {r["record"]["CustomerId"]: r["record"]["Name"] for r in stored.values()} == {"c1": "Ada", "c2": "Bj\ufffdrn"}


def test_the_scan_flags_the_last_version_of_each_identity_as_a_boolean_mask(tmp_path):
    # A byte per record (the pass's memory budget, bench/push_memory.py), and a mask that selects records.
    path = tmp_path / "c.ndjson"
    ids = ["c1", "c2", "c1", "c3", "c2", "c1"]
    path.write_text("\n".join(json.dumps({"CustomerId": c, "Email": f"{c}@example.com", "Name": str(i)})
                              for i, c in enumerate(ids)))
    found = scan(path, "customers", "customerid")
    assert (found.records, found.superseded) == (6, 3)
    assert found.last_version.dtype == np.bool_
    assert np.arange(found.records)[found.last_version].tolist() == [3, 4, 5]


@pytest.mark.parametrize(("record", "what"), [
    ('"c1"', "a string"), ('["c1"]', "an array"), ("true", "true or false"), ("null", "null"), ("7", "a number"),
])
def test_a_record_that_is_no_object_is_named_by_its_json_type(tmp_path, record, what):
    path = tmp_path / "c.json"
    path.write_text(f'[{{"CustomerId": "a"}},\n {record}]')
    expected = (f"{path}: record 1 (line 2) is {what}, not an object: a push file holds customers payload records, "
                'each a JSON object such as {"CustomerId": "c1", "Email": "ada@example.com"}')
    with pytest.raises(PushFileError, match="^" + re.escape(expected) + "$"):
        scan(path, "customers", "customerid")


@pytest.mark.parametrize(("entity", "example"), [
    ("customers", '{"CustomerId": "c1", "Email": "ada@example.com"}'),
    ("orders", '{"OrderId": "o1", "CustomerId": "c1", ...}'),
    ("products", '{"ProductId": "p1", "ProductName": "Mug", ...}'),
])
def test_a_record_that_is_no_object_is_shown_an_example_record_of_the_entity_pushed(tmp_path, entity, example):
    path = tmp_path / f"{entity}.ndjson"
    path.write_text('"not a record"\n')
    with pytest.raises(PushFileError) as info:
        scan(path, entity, "customerid")
    assert str(info.value).endswith(f"a push file holds {entity} payload records, each a JSON object such as {example}")


def test_a_json_array_s_records_carry_the_line_they_start_on_when_the_file_starts_with_a_blank_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('\n[{"CustomerId": "a"},\n {"CustomerId": "b"},\n\n {"CustomerId": "c"}]')
    assert [(r.index, r.line, r.value["CustomerId"]) for r in read_records(path)] == [(0, 2, "a"), (1, 3, "b"), (2, 5, "c")]


def test_a_push_file_that_is_missing_or_a_folder_is_told_which(tmp_path):
    with pytest.raises(PushFileError) as info:
        read_records(tmp_path / "c.json")
    assert str(info.value) == f"{tmp_path / 'c.json'}: no such file"
    with pytest.raises(PushFileError) as info:
        read_records(tmp_path)
    assert str(info.value) == f"{tmp_path}: not a file"


def test_the_scan_compares_parquet_ids_as_the_file_holds_them(tmp_path):
    # Two distinct decimal ids that one float cannot tell apart (1e20 and 1e20 + 1) are two
    # records, neither a version of the other: none is counted "superseded" (left unsent).
    path = tmp_path / "o.parquet"
    ids = pa.array([10**20, 10**20 + 1], pa.decimal128(38, 0))
    pq.write_table(pa.table({"OrderId": ids, "CustomerId": ["c1", "c1"]}), path)
    found = scan(path, "orders", "customerid")
    assert (found.records, found.superseded, found.last_version.tolist()) == (2, 0, [True, True])


def test_a_json_array_file_that_is_not_utf8_is_told_to_be_saved_as_utf8(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b'[{"CustomerId": "c1", "Name": "Bj\xf6rn"}]')  # Latin-1
    with pytest.raises(PushFileError) as refused:
        list(read_records(path))
    assert str(refused.value) == f"{path}: line 1: not UTF-8 text; save the file as UTF-8"


def test_a_number_cut_by_the_readers_buffer_is_read_whole(tmp_path):
    # The reader takes the file in chunks of 2**20 characters: "1234567" starts 4 characters before
    # the first chunk's end, so the decoder first sees "1234", a valid number that goes on.
    path = tmp_path / "c.json"
    path.write_text("[" + " " * (2**20 - 5) + "1234567, 8]")
    assert [r.value for r in read_records(path)] == [1234567, 8]
