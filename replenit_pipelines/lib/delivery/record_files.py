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
from typing import Any, TextIO

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


class _Buffer:
    """A sliding window over a text file: what is read of it, the position reached, and the line
    and column of any position (for error messages), counted forward once."""

    def __init__(self, path: Path, f: TextIO):
        self.path, self._f = path, f
        self.buf, self.pos, self.eof = "", 0, False
        self.lines_before = 1  # line number of buf[0]
        self.col_before = 0  # columns of buf[0]'s line that lie before buf[0]
        self._counted = [0, 1]  # [position in buf, its line]

    def read_more(self) -> bool:
        """Drop what was consumed and append the next chunk; False at the end of the file."""
        if self.pos > 0:
            dropped = self.buf[:self.pos]
            newlines = dropped.count("\n")
            if newlines:
                self.lines_before += newlines
                self.col_before = len(dropped) - dropped.rfind("\n") - 1
            else:
                self.col_before += len(dropped)
            self.buf, self.pos = self.buf[self.pos:], 0
            self._counted = [0, self.lines_before]
        try:
            chunk = self._f.read(_CHUNK)
        except UnicodeDecodeError:
            raise PushFileError(f"{self.path}: line {self.lines_before}: not UTF-8 text; save the file as UTF-8") from None
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def line_at(self, at: int) -> int:
        if at < self._counted[0]:
            self._counted = [0, self.lines_before]
        self._counted[1] += self.buf.count("\n", self._counted[0], at)
        self._counted[0] = at
        return self._counted[1]

    def place(self, at: int) -> str:
        line = self.lines_before + self.buf.count("\n", 0, at)
        start = self.buf.rfind("\n", 0, at)
        col = at - start if start >= 0 else self.col_before + at + 1
        return f"line {line}, column {col}"

    def skip_ws(self) -> str:
        """The next character that is not white space ("" at the end of the file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.read_more():
                return ""

    def fail(self, what: str) -> PushFileError:
        return PushFileError(f"{self.path}: {self.place(self.pos)}: {what}")


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
            b = _Buffer(self.path, f)
            first = b.skip_ws()
            if first != "[":
                if first == "{":
                    raise b.fail("expected a JSON array of records, got one object; write [ {...}, {...} ] "
                                 "or one object per line in a .ndjson file")
                raise b.fail("expected a JSON array of records ([ {...}, {...} ]) or a .ndjson file with one object per line")
            b.pos += 1
            if b.skip_ws() == "]":
                b.pos += 1
            else:
                yield from self._records(b)
            if b.skip_ws() != "":
                raise b.fail("unexpected text after the array's closing ]")

    def _records(self, b: _Buffer) -> Iterator[SourceRecord]:
        """The array's records, from its first to its closing ] (consumed)."""
        index = 0
        while True:
            if b.skip_ws() == "":
                raise b.fail(f"the file ends inside the array, before record {index}; is it truncated?")
            value, end = self._decode(b, index)
            yield SourceRecord(index, b.line_at(b.pos), value)
            index += 1
            b.pos = end
            nxt = b.skip_ws()
            if nxt == ",":
                b.pos += 1
                if b.skip_ws() == "]":
                    raise b.fail("a comma before ] (a trailing comma is not JSON); remove it")
                continue
            if nxt == "]":
                b.pos += 1
                return
            if nxt == "":
                raise b.fail(f"the file ends after record {index - 1} without a closing ]; is it truncated?")
            raise b.fail(f"expected , or ] after record {index - 1}")

    def _decode(self, b: _Buffer, index: int) -> tuple[Any, int]:
        """The record at the buffer's position and where it ends, reading more of the file while
        the buffer cuts it short."""
        while True:
            try:
                value, end = self._decoder.raw_decode(b.buf, b.pos)
            except json.JSONDecodeError as exc:
                if not b.eof:
                    b.read_more()  # the record may only be cut by the buffer's end
                    continue
                raise PushFileError(f"{self.path}: {b.place(exc.pos)} (record {index}): not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise PushFileError(_nesting_message(self.path, f"record {index} ({b.place(b.pos)})")) from None
            if end == len(b.buf) and not b.eof:
                b.read_more()  # a number at the buffer's end may go on in the next chunk
                continue
            return value, end


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


def check_is_file(path: Path) -> None:
    """A PushFileError (exit 2) naming the path when it is missing or a folder."""
    if not path.is_file():
        raise PushFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")


def read_records(path: Path, id_columns: list[str] | None = None) -> Iterator[SourceRecord]:
    """The file's records in order. Parquet may be read for `id_columns` only (the scan pass)."""
    check_is_file(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path, id_columns)
    if suffix in NDJSON_SUFFIXES:
        return _read_ndjson(path)
    return iter(_JsonArrayReader(path))
