"""Helpers shared by the bench scripts: the real `replenit sandbox` command on a free port, and
the timing of one window's prepare."""

import json
import resource
import time
from datetime import datetime

from replenit_pipelines.lib.sandbox.process import start_sandbox_process, stop_sandbox_process


def start_sandbox(*args: str):
    return start_sandbox_process("--port", "0", *args)


stop_sandbox = stop_sandbox_process


def print_prepare_timing(warehouse, mapping, start: datetime, end: datetime) -> None:
    """One window read, mapped, validated, nested and serialized: its times and this process's
    peak RSS, printed as one JSON line (the benches run it in a fresh child process)."""
    from replenit_pipelines.lib.validation import payload_parts, prepare

    started = time.perf_counter()
    raw = warehouse.read(mapping, start, end)
    read_s = time.perf_counter() - started
    prepared = prepare(mapping, raw)
    prepare_s = time.perf_counter() - started - read_s
    parts = payload_parts(prepared.records)
    total = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": prepared.rows_read, "records": prepared.records_valid, "quarantined": prepared.rows_quarantined,
                      "read_s": read_s, "prepare_s": prepare_s, "serialize_s": total - read_s - prepare_s, "total_s": total,
                      "bodies": len(parts), "rss_mb": rss_mb}))
