"""The files `replenit push` reads: a JSON array, NDJSON or Parquet, record by record, each
record with its index and line, and a clear one-line error naming the file and place when the
file is not a list of JSON objects."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path
from typing import Any


from replenit_pipelines.lib.errors import ReplenitError

NDJSON_SUFFIXES = (".ndjson", ".jsonl")
_CHUNK = 1 << 20
_PARQUET_BATCH = 10_000


class PushFileError(ReplenitError, ValueError):
    """A file that is not a list of records; the message names the file, the place and the fix."""


@dataclass(frozen=True)
class SourceRecord:
    index: int  # 0-based position of the record in the file
    line: int | None  # 1-based line where it starts (JSON and NDJSON files)
    value: Any


# --- reading ---------------------------------------------------------------------------------------

def where_in_file(path: Path, rec_index: int, line: int | None) -> str:
    return f"{path}: record {rec_index}" + (f" (line {line})" if line is not None else "")


def _nesting_message(path: Path, place: str) -> str:
    return (f"{path}: {place} is nested too deeply to read (Python's JSON reader stops at about 1,000 "
            "levels); a payload record is an object whose fields are values or arrays of objects")


def _read_ndjson(path: Path) -> Iterator[SourceRecord]:
    # Lines end at \n only: U+2028 and U+2029 are valid inside JSON strings (str.splitlines would cut there).
    index = 0
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PushFileError(f"{path}: line {line_no}, byte {exc.start + 1}: not UTF-8 text; save the file as UTF-8") from None
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PushFileError(
                    f"{path}: line {line_no}, column {exc.colno}: not valid JSON ({exc.msg}); "
                    "an NDJSON file holds one JSON object per line") from None
            except RecursionError:
                raise PushFileError(_nesting_message(path, f"line {line_no}")) from None
            yield SourceRecord(index, line_no, value)
            index += 1


class _JsonArrayReader:
    """The records of a JSON array, one at a time: the stdlib's decoder (which reads NaN and
    Infinity, so that they can be refused by name, and reports line and column) over a sliding
    buffer. ijson was tried: it refuses NaN without naming the record or field, reports no line,
    and a deeply nested file exhausted memory instead of failing."""

    def __init__(self, path: Path):
        self.path = path
        self._decoder = json.JSONDecoder()

    def __iter__(self) -> Iterator[SourceRecord]:
        with self.path.open("r", encoding="utf-8-sig", newline="") as f:
            buf, pos, eof = "", 0, False
            lines_before = 1  # line number of buf[0]
            col_before = 0  # columns of buf[0]'s line that lie before buf[0]

            def read_more() -> bool:
                nonlocal buf, pos, eof, lines_before, col_before
                if pos > 0:
                    dropped = buf[:pos]
                    newlines = dropped.count("\n")
                    if newlines:
                        lines_before += newlines
                        col_before = len(dropped) - dropped.rfind("\n") - 1
                    else:
                        col_before += len(dropped)
                    buf, pos = buf[pos:], 0
                    counted[:] = [0, lines_before]
                try:
                    chunk = f.read(_CHUNK)
                except UnicodeDecodeError:
                    raise PushFileError(f"{self.path}: line {lines_before}: not UTF-8 text; save the file as UTF-8") from None
                if not chunk:
                    eof = True
                    return False
                buf += chunk
                return True

            counted = [0, 1]  # [position in buf, its line]: lines are counted forward, once

            def line_at(at: int) -> int:
                if at < counted[0]:
                    counted[:] = [0, lines_before]
                counted[1] += buf.count("\n", counted[0], at)
                counted[0] = at
                return counted[1]

            def place(at: int) -> str:
                line = lines_before + buf.count("\n", 0, at)
                start = buf.rfind("\n", 0, at)
                col = at - start if start >= 0 else col_before + at + 1
                return f"line {line}, column {col}"

            def skip_ws() -> str:
                nonlocal pos
                while True:
                    while pos < len(buf) and buf[pos] in " \t\r\n":
                        pos += 1
                    if pos < len(buf):
                        return buf[pos]
                    if not read_more():
                        return ""

            def fail(what: str) -> PushFileError:
                return PushFileError(f"{self.path}: {place(pos)}: {what}")

            first = skip_ws()
            if first != "[":
                if first == "{":
                    raise fail("expected a JSON array of records, got one object; write [ {...}, {...} ] "
                               "or one object per line in a .ndjson file")
                raise fail("expected a JSON array of records ([ {...}, {...} ]) or a .ndjson file with one object per line")
            pos += 1
            index = 0
            if skip_ws() == "]":
                pos += 1
            else:
                while True:
                    if skip_ws() == "":
                        raise fail(f"the file ends inside the array, before record {index}; is it truncated?")
                    while True:
                        try:
                            value, end = self._decoder.raw_decode(buf, pos)
                        except json.JSONDecodeError as exc:
                            if not eof:
                                read_more()  # the record may only be cut by the buffer's end
                                continue
                            at = exc.pos
                            raise PushFileError(f"{self.path}: {place(at)} (record {index}): not valid JSON ({exc.msg})") from None
                        except RecursionError:
                            raise PushFileError(_nesting_message(self.path, f"record {index} ({place(pos)})")) from None
                        if end == len(buf) and not eof:
                            read_more()  # a number at the buffer's end may go on in the next chunk
                            continue
                        break
                    yield SourceRecord(index, line_at(pos), value)
                    index += 1
                    pos = end
                    nxt = skip_ws()
                    if nxt == ",":
                        pos += 1
                        if skip_ws() == "]":
                            raise fail("a comma before ] (a trailing comma is not JSON); remove it")
                        continue
                    if nxt == "]":
                        pos += 1
                        break
                    if nxt == "":
                        raise fail(f"the file ends after record {index - 1} without a closing ]; is it truncated?")
                    raise fail(f"expected , or ] after record {index - 1}")
            if skip_ws() != "":
                raise fail("unexpected text after the array's closing ]")


def _plain(value: Any) -> Any:
    """A Parquet value as JSON would give it: timestamps and dates as ISO 8601 text, decimals as
    numbers. NaN and Infinity stay as they are, to be refused by name (orjson would make them null)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime, date, dt_time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _read_parquet(path: Path, columns: list[str] | None = None) -> Iterator[SourceRecord]:
    import pyarrow.parquet as pq  # here, for start-up speed: only a Parquet push needs it

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise PushFileError(f"{path}: not a Parquet file ({exc})") from None
    if columns is not None:
        # Without any identifier column every row is its own identity: read one column to count rows.
        columns = [c for c in columns if c in pf.schema_arrow.names] or pf.schema_arrow.names[:1]
    index = 0
    for batch in pf.iter_batches(batch_size=_PARQUET_BATCH, columns=columns):
        for row in batch.to_pylist():
            yield SourceRecord(index, None, _plain(row) if columns is None else row)
            index += 1


def read_records(path: Path, id_columns: list[str] | None = None) -> Iterator[SourceRecord]:
    """The file's records in order. Parquet may be read for `id_columns` only (the scan pass)."""
    if not path.is_file():
        raise PushFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path, id_columns)
    if suffix in NDJSON_SUFFIXES:
        return _read_ndjson(path)
    return iter(_JsonArrayReader(path))
