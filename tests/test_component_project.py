"""Installed into someone else's project (issue 25 item 5), the way docs/component.md's quickstart
says, and with the files that page shows (read from it, so the page cannot drift from what works):
`create-dagster project` (1.13.27, offline), this package installed into the project's own venv,
`dg list components`, `dg scaffold defs`, an upstream asset of the project writing a DuckDB table,
`dg check defs` failing on a broken second instance with the field named, and `dg launch` of the
upstream asset and a partition of the sync, end to end into the sandbox.

The project's venv reuses this venv's installed dependencies (a .pth line) instead of downloading
Dagster again; this package itself and the user's project are installed into it by pip, from their
files, as `uv add` would. About a minute on two cores.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from replenit_pipelines.lib.state.store import DuckDBStateStore as StateStore

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "docs" / "component.md"
BIN = Path(sys.executable).parent


def quickstart_blocks() -> dict[str, str]:
    """The fenced blocks of docs/component.md marked `<!-- quickstart: NAME -->`."""
    text = QUICKSTART.read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"<!-- quickstart: (\S+) -->\n```\w*\n(.*?)```", text, re.S)}


def run(args: list, cwd: Path, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_quickstart_yaml_is_at_most_ten_lines_beyond_the_mapping():
    blocks = quickstart_blocks()
    lines = [line for line in blocks["src/shop/defs/replenit/defs.yaml"].splitlines() if line.strip()]
    assert len(lines) <= 10, lines


def test_a_fresh_project_installs_scaffolds_checks_and_syncs_a_partition(tmp_path, sandbox):
    blocks = quickstart_blocks()
    # 1. The project, as create-dagster makes it (its version pins the same Dagster as ours).
    run([BIN / "create-dagster", "project", "--no-uv-sync", "shop"], cwd=tmp_path)
    project = tmp_path / "shop"
    assert (project / "src" / "shop" / "definitions.py").exists()

    # 2. Its venv, with this package installed into it from the package's own files.
    venv = project / ".venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (purelib / "_shared_dependencies.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")  # Dagster & co. from our venv
    package = tmp_path / "replenit-pipelines"
    shutil.copytree(ROOT / "replenit_pipelines", package / "replenit_pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, package / name)
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-deps",
           "--no-build-isolation", "--no-index"]
    run([*pip, package], cwd=tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"dagster==1.13.27",', '"dagster==1.13.27",\n    "replenit-pipelines",'))
    run([*pip, "-e", project], cwd=tmp_path)

    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLENIT_")}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", DAGSTER_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    where = run([python, "-c", "import replenit_pipelines; print(replenit_pipelines.__file__)"], cwd=project, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout  # the project's copy, not this checkout
    dg = [python, "-c", "import sys; from dagster_dg_cli.cli import main; sys.argv[0] = 'dg'; sys.exit(main())"]

    # 3. The component type is listed and scaffolds a working defs.yaml.
    listed = run([*dg, "list", "components"], cwd=project, env=env)
    assert "replenit_pipelines.ReplenitSyncComponent" in listed.stdout
    run([*dg, "scaffold", "defs", "replenit_pipelines.ReplenitSyncComponent", "replenit"], cwd=project, env=env)
    folder = project / "src" / "shop" / "defs" / "replenit"
    assert "tenant: {id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY}" in (folder / "defs.yaml").read_text()
    assert (folder / "mapping.yaml").exists()

    # 4. The quickstart's files: the upstream asset, the component and its mapping.
    for name in ("src/shop/defs/analytics.py", "src/shop/defs/replenit/defs.yaml", "src/shop/defs/replenit/mapping.yaml"):
        (project / name).write_text(blocks[name])

    # 5. dg check defs fails on a broken second instance, naming the file, the field and the fix
    #    (Dagster's YAML check alone would pass it: it reads one defs.yaml per component type).
    broken = project / "src" / "shop" / "defs" / "brand_b" / "defs.yaml"
    broken.parent.mkdir()
    broken.write_text(blocks["src/shop/defs/replenit/defs.yaml"] + "  key_prefix: brand_b\n  batch_sizes: {orders: 5000}\n")
    checked = run([*dg, "check", "defs"], cwd=project, env=env, ok=False)
    assert checked.returncode != 0
    output = checked.stdout + checked.stderr
    assert "brand_b/defs.yaml" in output and "batch_sizes.orders must be 1 to 500" in output, output[-3000:]
    shutil.rmtree(broken.parent)

    # 6. With the tenant in the environment: the upstream asset, then the sync's partition, in one run.
    tenant_id, key = sandbox.add_tenant()
    env.update(REPLENIT_TENANT_ID=tenant_id, REPLENIT_API_KEY=key, REPLENIT_BASE_URL=sandbox.url)
    launch = next(line for line in blocks["launch"].splitlines() if line.startswith("dg launch"))
    # In process (the run's one process): the same run, 15 s sooner than Dagster's subprocess per step.
    args = [*shlex.split(launch)[1:], "--config-json", '{"execution": {"config": {"in_process": {}}}}']
    launched = run([*dg, *args], cwd=project, env=env)
    assert "RUN_SUCCESS" in launched.stdout + launched.stderr
    assert (project / "warehouse.duckdb").exists()  # written by the project's own asset in that run
    held = {r["key"]: r["record"] for r in httpx.get(f"{sandbox.url}/_sandbox/records/{tenant_id}/customers").json()}
    assert held == {"email:ada@example.com": {"CustomerId": "c1", "Email": "ada@example.com", "Name": "Ada"},
                    "email:grace@example.com": {"CustomerId": "c2", "Email": "grace@example.com", "Name": "Grace"}}
    store = StateStore(project / ".replenit" / "state.duckdb")
    quarantined = store.query("SELECT record_id, rule FROM quarantine")
    assert quarantined.rows() == [("customerid:c3", "email")]
    assert not any(key in text for text in (launched.stdout, launched.stderr))  # the key is never printed


@pytest.fixture(autouse=True)
def _no_user_site(monkeypatch):
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
