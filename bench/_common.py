"""Helpers shared by the bench scripts: the real `replenit sandbox` command on a free port."""

from replenit_pipelines.lib.sandbox.process import start_sandbox_process, stop_sandbox_process


def start_sandbox(*args: str):
    return start_sandbox_process("--port", "0", *args)


stop_sandbox = stop_sandbox_process
