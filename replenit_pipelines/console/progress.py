"""Progress for people on a terminal, plain lines for logs.

On a TTY (stderr) a run draws rich progress bars: a reconciliation (`sync --all`) one for the whole
source (rows, chunk N/M, the ETA by the key's quota) and one for the chunk in flight (records sent);
a partition sync, `push` and `replay` one for the records sent, with the quota ETA. rich rather
than tqdm: the CLI's tables use it already, it draws several bars with custom columns, and it comes
with Dagster (no new install). Not a TTY (CI, cron, a log file, Dagster): no bars, the periodic
lines the commands always printed, so logs stay greppable.
"""

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from replenit_pipelines.lib.delivery.report import BatchProgress


def is_tty(stream: IO[str] | None = None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def eta_text(seconds: float) -> str:
    if seconds != seconds:  # NaN: not known yet
        return "ETA unknown"
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"ETA {seconds // 3600:.0f}h{seconds % 3600 / 60:02.0f}m by quota"
    if seconds >= 60:
        return f"ETA {seconds // 60:.0f}m{seconds % 60:02.0f}s by quota"
    return f"ETA {seconds:.0f}s by quota"


class Bars:
    """rich bars on stderr; use as a context manager so the terminal is restored on any exit."""

    def __init__(self, stream: IO[str] | None = None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                                 console=Console(file=stream or sys.stderr), transient=False)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> "Bars":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, name: str, description: str, completed: int, total: int, note: str = "") -> None:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(description, total=total or None, note=note)
        self.progress.update(self.tasks[name], description=description, completed=completed, total=total or None, note=note)


def batch_reporter(label: str, bars: Bars | None, log: Callable[[str], None], every_s: float = 30.0,
                   line: Callable[[BatchProgress], str] | None = None) -> Callable[[BatchProgress], None]:
    """A BatchProgress callback: a bar on a TTY, else a plain line at most every `every_s` (and at the end)."""
    last = [0.0]

    def report(p: BatchProgress) -> None:
        if bars is not None:
            bars.update("records", f"{label} records", p.records_done, p.records_total,
                        f"batch {p.batches_done}/{p.batches_total}, {eta_text(p.eta_s)}")
            return
        if time.monotonic() - last[0] >= every_s or p.batches_done == p.batches_total:
            last[0] = time.monotonic()
            log(line(p) if line else f"{label}: {p.records_done:,}/{p.records_total:,} records, batch "
                f"{p.batches_done}/{p.batches_total}, ETA {p.eta_s:.0f}s by quota")

    return report


def reconcile_reporter(label: str, bars: Bars) -> Callable[[Any], None]:
    """A ReconcileProgress callback drawing the whole run's bar and the chunk in flight's."""

    def report(p: Any) -> None:
        bars.update("all", f"{label} rows", p.rows_done, p.rows_total,
                    f"chunk {min(p.chunk + 1, p.chunks)}/{p.chunks}, {p.requests_done:,} requests, {eta_text(p.eta_s)}")
        bars.update("chunk", "  this chunk's records", p.chunk_records_done, p.chunk_records_total, "")

    return report
