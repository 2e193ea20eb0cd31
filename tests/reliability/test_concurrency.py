"""Two and four processes on one API key and one ledger, `replenit state` reading meanwhile (issue
22 item 4), on the files (SQLite ledger, DuckDB state store, JSON quota ledger) and on Postgres.

Real `replenit sync` processes start together against one sandbox tenant whose quota is the
clients' own (20 requests a second in 1-s windows): a window and a reconciliation of the same
customers; three windows of one entity and a reconciliation. A sixth process runs `replenit state`
in a loop all along. Then: every process exits 0 with its rows accounted for, the sandbox answered no
429 (the key's quota ledger serialises the processes), `replenit state` never failed, the stores
open with integrity_check ok, and the ledger holds exactly what the tenant stores, each with the
hash of the stored content (no acknowledgement lost), which is exactly the warehouse's customers.
"""

import json
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import crashes
import pytest

from replenit_pipelines.lib.sandbox import Sandbox

N, DAYS = 3000, 3  # 1,000 customers a day
DAY_KEYS = [(crashes.DAY + timedelta(days=d)).date().isoformat() for d in range(DAYS)]
RECONCILE = ["--all", "--chunk-rows", "1000"]
CASES = {
    "a window and a reconciliation": [["--partition", DAY_KEYS[0]], RECONCILE],
    "three windows of one entity and a reconciliation": [*(["--partition", d] for d in DAY_KEYS), RECONCILE],
}

# `replenit state` (the ledgers' summary, then the state store's default query) again and again in
# one process until the stop file appears: how many calls succeeded, and each failure.
STATE_READER = textwrap.dedent("""\
    import contextlib, io, sys
    from pathlib import Path
    from replenit_pipelines.cli import main
    stop, ok, failures = Path(sys.argv[1]), 0, []
    while not stop.exists():
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                code = main(["state"])
            problem = None if code == 0 else f"exit {code}: {err.getvalue()[-300:]}"
        except Exception as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:300]}"
        if problem is None:
            ok += 1
        else:
            failures.append(problem)
    print(json.dumps({"ok": ok, "failures": failures}))
""").replace("import contextlib, io, sys", "import contextlib, io, json, sys")


@pytest.fixture(scope="module")
def paced_sandbox():
    with Sandbox(limits=[(20, 1.0)]) as sb:
        yield sb


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("concurrency-warehouse") / "warehouse.duckdb"
    crashes.write_warehouse(path, N, DAYS)
    return path


def sync_args(which: list[str]) -> list[str]:
    return ["sync", crashes.ENTITY, *which, "--json", "--batch-size", "100", "--limits", "20/1"]


@pytest.mark.parametrize("backend", ["files", "postgres"])
@pytest.mark.parametrize("case", list(CASES))
def test_processes_on_one_key_and_one_ledger_lose_nothing_and_meet_no_429(request, tmp_path, paced_sandbox, warehouse,
                                                                          case, backend):
    state_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    rig = crashes.Rig(tmp_path, paced_sandbox.url, warehouse, N, "window", state_url)
    runs = CASES[case]
    started = time.monotonic()
    syncs = [rig.launch(sync_args(which), f"sync{i}") for i, which in enumerate(runs)]
    deadline = time.monotonic() + 60
    while not (state_url or (rig.state / "state.duckdb").exists()):  # `replenit state` needs a store to read
        assert time.monotonic() < deadline, "no sync created the state store in 60 s"
        time.sleep(0.01)
    stop = tmp_path / "stop-reading"
    reader = subprocess.Popen([sys.executable, "-c", STATE_READER, str(stop)], env=rig.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    ended = []
    for proc in syncs:
        proc.wait(timeout=300)
        ended.append(time.monotonic())
    stop.touch()
    out, err = reader.communicate(timeout=120)
    results = []
    for proc in syncs:
        proc.out.seek(0)
        proc.err.seek(0)
        assert proc.returncode == 0, proc.err.read()[-3000:]
        results.append(json.loads(proc.out.read().strip().splitlines()[-1]))
    assert reader.returncode == 0, err[-3000:]
    reading = json.loads(out.strip().splitlines()[-1])
    assert reading["failures"] == [] and reading["ok"] > 0, reading
    print("replenit state calls during the syncs:", reading["ok"])

    # They overlapped: each was still running when the last one started (all spend from one quota).
    assert min(ended) - started > 1.0
    for which, counts in zip(runs, results, strict=True):
        day = DAY_KEYS.index(which[1]) if which[0] == "--partition" else None
        customers = N if day is None else sum(crashes.day_of(i, N, DAYS) == day for i in range(N))
        accounted = sum(counts[k] for k in ("rows_delivered", "rows_unchanged", "rows_superseded", "rows_quarantined",
                                            "rows_dead_lettered", "rows_held_back"))
        assert counts["rows_read"] == accounted == customers, counts
        assert counts["rows_dead_lettered"] == counts["rows_quarantined"] == 0, counts
    assert sum(r["status"] == 429 for r in rig.requests()) == 0
    stored = {r["key"]: r["record"] for r in rig.stored()}
    assert stored == rig.expected  # the reconciliation covers every day
    acked, problems = rig.read_ledger()
    assert problems == []
    assert acked == {k: crashes.content_hash(record) for k, record in stored.items()}


# One process writing runs' rows as syncs do (the start's open, the gate's read, the end's write),
# another reading as `replenit state` does, each as fast as it can.
STATE_STORE_LOOP = textwrap.dedent("""\
    import sys
    import polars as pl
    from replenit_pipelines.lib.state.store import DuckDBStateStore as StateStore
    from replenit_pipelines.lib.stages.acknowledge import DEAD_LETTER_SCHEMA
    path, role, rounds, failures = sys.argv[1], sys.argv[2], int(sys.argv[3]), []
    quarantine = pl.DataFrame(schema={"record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String, "field": pl.String,
                                      "value": pl.String})
    reader = StateStore(path) if role == "state" else None
    for i in range(rounds):
        try:
            if role == "sync":
                store = StateStore(path)
                store.recent_runs("customers", 5, "p")
                store.record(f"run{i}", "p", "customers", quarantine, pl.DataFrame(schema=DEAD_LETTER_SCHEMA),
                             {"outcome": "ok", "rows_read": 1})
            else:
                for _ in range(3):
                    reader.query("SELECT entity, count(*) FROM sync_runs GROUP BY entity")
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    print(len(failures), failures[:3])
""")


def test_the_state_store_is_written_and_read_by_processes_at_once(tmp_path):
    """Before: `replenit state` opened state.duckdb read-only without the store's lock, and DuckDB
    refused either side ("Could not set lock on file ... Conflicting lock"): seen here as 10 to 18
    failures in a writing process's 25 rounds, or a reader that could not even open the store."""
    path = str(tmp_path / "state.duckdb")
    procs = [subprocess.Popen([sys.executable, "-c", STATE_STORE_LOOP, path, role, "25"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for role in ("sync", "state", "sync", "state")]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["0 []"] * 4
