"""Progress bars on a terminal, plain lines in logs (issue 27 item 2): the real `replenit` command in a
subprocess, its stderr a pseudo-terminal (bars) or a pipe (lines), against the sandbox."""

import os
import pty
import subprocess
import sys

import pytest
from helpers import point_at_sandbox

from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse


@pytest.fixture
def env(monkeypatch, sandbox, tmp_path):
    build_demo_warehouse(tmp_path / "wh.duckdb", customers=1200, seed=5, days=2)
    monkeypatch.chdir(tmp_path)
    point_at_sandbox(monkeypatch, sandbox, tmp_path / "wh.duckdb", tmp_path / "state")  # also unsets REPLENIT_MAPPING
    return {**os.environ, "COLUMNS": "160", "TERM": "xterm"}


def run_on_a_terminal(args: list[str], env: dict) -> tuple[int, str, str]:
    """The command with stderr on a pseudo-terminal (what a person sees) and stdout piped."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "replenit_pipelines.cli", *args], stdout=subprocess.PIPE,
                            stderr=follower, env=env)
    os.close(follower)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode() if proc.stdout else ""
    os.close(leader)
    return proc.wait(timeout=60), out, seen.decode(errors="replace")


def test_a_reconciliation_draws_bars_on_a_terminal_and_lines_in_a_log(env):
    code, out, terminal = run_on_a_terminal(["sync", "customers", "--all", "--batch-size", "100", "--chunk-rows", "500"], env)
    assert code == 0, terminal + out
    assert "━" in terminal and "customers --all rows" in terminal and "this chunk's records" in terminal
    assert "chunk 3/3" in terminal and "ETA" in terminal and "by quota" in terminal
    assert "delivered" in out  # the summary stays on stdout
    piped = subprocess.run([sys.executable, "-m", "replenit_pipelines.cli", "sync", "customers", "--all", "--full-refresh",
                            "--chunk-rows", "500"], capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert "━" not in piped.stderr and "\x1b[" not in piped.stderr
    assert "reconcile customers: chunk 3/3" in piped.stderr  # today's plain lines for logs, CI and Dagster


def test_a_partition_sync_and_a_push_draw_a_records_bar_on_a_terminal(env, tmp_path):
    code, _, terminal = run_on_a_terminal(["sync", "customers", "--partition",
                                           _yesterday(), "--batch-size", "50"], env)
    assert code == 0, terminal
    assert "━" in terminal and "customers records" in terminal and "batch" in terminal
    (tmp_path / "c.ndjson").write_text("\n".join(f'{{"CustomerId": "p{i}", "Email": "p{i}@example.com"}}' for i in range(30)))
    code, _, terminal = run_on_a_terminal(["push", "customers", str(tmp_path / "c.ndjson"), "--batch-size", "10"], env)
    assert code == 0, terminal
    assert "━" in terminal and "push customers records" in terminal and "30/30" in terminal


def _yesterday() -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
