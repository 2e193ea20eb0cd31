"""The `replenit sandbox` command as a child process: for the demo, the benches and the tests."""

import subprocess
import sys
import time


def start_sandbox_process(*args: str, timeout_s: float = 30.0) -> tuple[subprocess.Popen, str]:
    """Start `replenit sandbox ARGS` (add `--port 0` for a free port) and return it with its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "replenit_pipelines.cli", "sandbox", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None  # stdout=PIPE
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("Replenit sandbox listening on "):
            return proc, line.strip().rsplit(" ", 1)[1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the sandbox did not start: " + (proc.stderr.read() if proc.stderr else ""))


def stop_sandbox_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
