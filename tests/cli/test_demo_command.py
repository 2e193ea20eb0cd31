"""README's first quickstart command, scaled down: `replenit demo`."""

import os
import re
import subprocess
import sys


def test_demo_runs_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLENIT_", "DAGSTER_HOME"))}
    env["REPLENIT_DEMO_DIR"] = str(tmp_path / ".replenit")
    out = subprocess.run([sys.executable, "-m", "replenit_pipelines.cli", "demo", "--customers", "1500", "--hours", "3"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "4/4 Done" in text and "Sandbox stopped." in text
    table = {m.group(1): [int(x) for x in m.group(2).split()] for m in
             re.finditer(r"^\s+(customers|orders|products)\s+([\d ]+)$", text, re.M)}
    assert set(table) == {"customers", "orders", "products"}
    for entity, (_runs, read, delivered, quarantined, superseded, unchanged, dead, held, requests, _in_sandbox) in table.items():
        assert read == delivered + quarantined + superseded + unchanged + dead + held, entity
        assert requests >= 1 and dead == 0 and held == 0
    customers = table["customers"]
    # The daily run, then the intraday customers run of each hourly run (all unchanged by then).
    assert customers[0] == 1 + table["orders"][0] and customers[2] == customers[9] > 0  # every delivered customer is in the sandbox
    assert table["orders"][0] == 3
    assert (tmp_path / ".replenit" / "demo" / "state" / "state.duckdb").exists()
