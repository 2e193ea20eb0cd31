"""Mutation score of the test suite over a bounded scope, with mutmut (not part of CI: minutes).

    ./dev bench mutation                 # lib/contract and lib/validation/gate.py, their fast tests
    ./dev bench mutation --scope wide    # also lib/validation, lib/delivery and lib/sync (slower)
    ./dev bench mutation --children 1    # worker processes (default 2)

mutmut comes with the `bench` extra (`.venv/bin/python -m pip install -e ".[bench]"`; a bench tool,
not a test dependency, so not in the `test` extra). The run
happens in a temporary copy of the repository's tracked files, with the [tool.mutmut] settings
written into the copy's pyproject.toml, so the working tree is never touched. Prints the score
(killed / (killed + survived + timeouts), mutants no selected test reaches counted apart) and
every survivor with its diff; survivors judged equivalent are listed in EQUIVALENT with why.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = "replenit_pipelines/lib"

SCOPES = {
    "narrow": {
        "mutate": [f"{PKG}/contract/*.py", f"{PKG}/sync/gate.py"],
        "tests": ["tests/test_gate.py", "tests/test_gate_boundaries.py", "tests/test_formats.py",
                  "tests/test_contract_oracle.py", "tests/test_sandbox_rules.py"],
    },
    "wide": {
        "mutate": [f"{PKG}/contract/*.py", f"{PKG}/validation/*.py", f"{PKG}/delivery/*.py", f"{PKG}/sync/*.py"],
        "tests": ["tests/test_gate.py", "tests/test_gate_boundaries.py", "tests/test_formats.py",
                  "tests/test_contract_oracle.py", "tests/test_sandbox_rules.py", "tests/test_prepare.py",
                  "tests/test_whole_records.py", "tests/test_quota_clock.py", "tests/test_client_faults.py"],
    },
}

# Survivors that no test can kill: mutant name prefix (as mutmut prints it) -> why. Names shift
# when a function changes: re-check them after editing the module.
EQUIVALENT: dict[str, str] = {
    # mutmut switches a mutant on when its function is called during a test; _s is called only
    # while entities.py is imported (it builds the ENTITIES tables), before any mutant is on. The
    # tables it builds are what tests/test_contract_oracle.py checks (lengths, required fields).
    "replenit_pipelines.lib.contract.entities.x__s__mutmut_": "never run under a mutant (import-time table builder)",
}


def explanation(name: str) -> str | None:
    return next((why for prefix, why in EQUIVALENT.items() if name.startswith(prefix)), None)


def ensure_mutmut() -> None:
    """mutmut from the `bench` extra of pyproject.toml (pinned there), never installed at run time."""
    try:
        import mutmut  # noqa: F401
    except ImportError:
        raise SystemExit('mutmut is not installed: install the bench extra, .venv/bin/python -m pip install -e ".[bench]"') from None


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scope", choices=sorted(SCOPES), default="narrow")
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy (its mutants/ folder)")
    args = parser.parse_args()
    scope = SCOPES[args.scope]
    ensure_mutmut()
    work = Path(tempfile.mkdtemp(prefix="replenit-mutation-"))
    try:
        copy_tree(work)
        with (work / "pyproject.toml").open("a") as f:
            f.write(
                "\n[tool.mutmut]\n"
                'source_paths = ["replenit_pipelines"]\n'
                f"only_mutate = {toml_list(scope['mutate'])}\n"
                f"pytest_add_cli_args_test_selection = {toml_list(scope['tests'])}\n"
                'pytest_add_cli_args = ["-q", "-p", "no:randomly"]\n'
            )
        # mutmut forks each mutant's process from one that has already run the tests, so the
        # sandbox's record validators, compiled once and cached (lib/contract/records.py), would
        # keep the unmutated code: in the copy only, every test starts with an empty cache.
        with (work / "tests" / "conftest.py").open("a") as f:
            f.write(
                "\n\n@pytest.fixture(autouse=True)\n"
                "def _recompile_record_validators():\n"
                "    from replenit_pipelines.lib.contract import records\n"
                "    records._COMPILED.clear()\n"
            )
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.children)],
                             cwd=work, capture_output=True, text=True)
        took = time.monotonic() - started
        results = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                                 cwd=work, capture_output=True, text=True).stdout
        status: dict[str, str] = {}
        for line in results.splitlines():
            m = re.match(r"\s*(\S+): (.+)$", line)
            if m:
                status[m.group(1)] = m.group(2).strip()
        if not status:
            print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
            raise SystemExit("mutmut produced no results (see its output above)")
        counts: dict[str, int] = {}
        for s in status.values():
            counts[s] = counts.get(s, 0) + 1
        survivors = sorted(n for n, s in status.items() if s == "survived")
        explained = [n for n in survivors if explanation(n)]
        unexplained = [n for n in survivors if not explanation(n)]
        killed = counts.get("killed", 0)
        timeouts = counts.get("timeout", 0)
        judged = killed + timeouts + len(survivors)
        print(f"scope {args.scope}: {', '.join(scope['mutate'])}")
        print(f"tests: {' '.join(scope['tests'])}")
        print(f"mutants: {len(status)} in {took:.0f}s; " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        raw = (killed + timeouts) / judged if judged else 0.0
        score = (killed + timeouts) / (judged - len(explained)) if judged > len(explained) else 0.0
        print(f"mutation score: {score:.1%} killed, {raw:.1%} before leaving out {len(explained)} explained "
              f"survivors (timeouts count as killed; {counts.get('no tests', 0)} mutants no selected test "
              f"reaches are left out)")
        for name in explained:
            print(f"explained: {name}: {explanation(name)}")
        for name in unexplained:
            diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work,
                                  capture_output=True, text=True).stdout
            changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
            print(f"survivor: {name}")
            for ln in changed:
                print(f"    {ln.strip()[:160]}")
        if args.keep:
            print(f"kept: {work}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
