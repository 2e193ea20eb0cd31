"""Tables for people and for machines, from any Polars frame or list of row dicts.

People get an aligned table (rich: no dtypes, no `shape:`, one line per row, wide values cut with
an ellipsis and shown whole with --wide); machines get `--json` (a list of objects) or `--csv`.
rich is the maintained standard for terminal tables and progress bars, and already comes with
Dagster, so it adds no install.
"""

import argparse
import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import IO, Any

import polars as pl

MAX_CELL = 40  # characters shown of a value before it is cut (--wide shows it whole)

Rows = pl.DataFrame | Sequence[Mapping[str, Any]]


def add_output_flags(parser: argparse.ArgumentParser, csv_too: bool = True) -> None:
    """--json, --csv and --wide, the same on every command that prints tables."""
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON (a list of objects per table) for machines")
    if csv_too:
        fmt.add_argument("--csv", action="store_true", help="print CSV (the main table) for machines")
    parser.add_argument("--wide", action="store_true", help=f"show every value whole (default: cut at {MAX_CELL} characters)")


def output_format(args: argparse.Namespace) -> str:
    return "json" if getattr(args, "json", False) else "csv" if getattr(args, "csv", False) else "table"


def as_rows(data: Rows) -> tuple[list[str], list[dict[str, Any]]]:
    if isinstance(data, pl.DataFrame):
        return data.columns, data.to_dicts()
    rows = [dict(r) for r in data]
    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    return columns, rows


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value == value else "NaN"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def cut(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def print_table(data: Rows, fmt: str = "table", wide: bool = False, title: str | None = None,
                file: IO[str] | None = None) -> None:
    """One table in the chosen format; `title` is a line above it (tables only)."""
    out = file or sys.stdout
    columns, rows = as_rows(data)
    if fmt == "json":
        print(json.dumps([{k: json_value(r.get(k)) for k in columns} for r in rows], default=str), file=out)
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            v = [json_value(r.get(k)) for k in columns]
            writer.writerow(["" if x is None else json.dumps(x) if isinstance(x, list | dict) else x for x in v])
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if title:
        print(title, file=out, flush=True)
    if not rows:
        print("  (none)", file=out)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    numeric = {k for k in columns if all(isinstance(r.get(k), int | float) and not isinstance(r.get(k), bool)
                                         for r in rows if r.get(k) is not None)}
    for k in columns:
        table.add_column(k, justify="right" if k in numeric else "left", no_wrap=True, overflow="ellipsis")
    for r in rows:
        table.add_row(*(Text(cell_text(r.get(k)) if wide else cut(cell_text(r.get(k)), MAX_CELL)) for k in columns))
    # Not a terminal (a file, a pipe, a test): as wide as the table needs, never wrapped.
    tty = out.isatty() if hasattr(out, "isatty") else False
    buffer = io.StringIO()
    width = Console(file=out).width if tty else 100_000
    Console(file=buffer, width=width, highlight=False, color_system=None).print(table, crop=False)
    for line in buffer.getvalue().splitlines():
        print(line.rstrip(), file=out)
