"""Every module of the package imports on its own, first (issue 21 item 7): a cycle hidden by the
order in which other modules happen to be imported fails here, naming the module."""

import importlib
import pkgutil
import subprocess
import sys

import replenit_pipelines

CHECK = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "replenit_pipelines" or m.startswith("replenit_pipelines.")]:
        del sys.modules[loaded]  # as if nothing of the package had been imported yet
    try:
        importlib.import_module(name)
    except Exception as error:
        failed.append(f"{name}: {type(error).__name__}: {error}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(replenit_pipelines.__path__, "replenit_pipelines."))


def test_the_walk_finds_the_stage_modules():
    assert {"replenit_pipelines.lib.stages.validate", "replenit_pipelines.lib.stages.report",
            "replenit_pipelines.component.translator", "replenit_pipelines.component.sync_component"} <= set(all_modules())
    importlib.import_module("replenit_pipelines.lib")


def test_every_module_imports_first_and_alone():
    done = subprocess.run([sys.executable, "-c", CHECK, *all_modules()], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
