"""Helpers shared by the bench scripts: start the real `replenit sandbox` command."""

import subprocess
import sys
import time


def start_sandbox(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "replenit_pipelines.cli", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("Replenit sandbox listening on "):
            return proc, line.strip().rsplit(" ", 1)[1]
    proc.kill()
    raise RuntimeError("sandbox did not start: " + proc.stderr.read())


def stop_sandbox(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.communicate(timeout=10)
