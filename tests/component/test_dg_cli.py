"""`dg`, Dagster's project CLI, works in this repo (issue 21 item 9): pyproject's [tool.dg] says it
is a project, and `dg list defs` lists the code location's assets."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dg_list_defs_lists_the_sync_assets(tmp_path):
    dg = Path(sys.executable).parent / "dg"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "VIRTUAL_ENV": str(Path(sys.executable).parents[1])}
    env.pop("REPLENIT_API_KEY", None)  # definitions load with no secret set
    done = subprocess.run([str(dg), "list", "defs", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = json.loads(done.stdout[done.stdout.index("{"):])
    keys = {a["asset_key"] for a in listed["assets"]}
    assert {"replenit/customers", "replenit/orders", "replenit/products"} <= keys


def test_dg_lists_the_component_and_checks_this_repos_defs_yaml(tmp_path):
    """The component type is registered (pyproject's entry point) and this project's own code
    location, one use of it (defs/replenit/defs.yaml), passes `dg check defs` with no secret set."""
    dg = Path(sys.executable).parent / "dg"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLENIT_")}
    env.update(DAGSTER_HOME=str(tmp_path), VIRTUAL_ENV=str(Path(sys.executable).parents[1]))
    listed = subprocess.run([str(dg), "list", "components"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "replenit_pipelines.ReplenitSyncComponent" in listed.stdout
    checked = subprocess.run([str(dg), "check", "defs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert checked.returncode == 0, (checked.stdout + checked.stderr)[-2000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
