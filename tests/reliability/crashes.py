"""Crash anywhere (issue 22 item 3): `replenit sync` SIGKILLed at many points, then run again.

The harness drives the real command in its own process: `python -c RUNNER` is the CLI with
faulthandler's all-thread traceback registered on SIGUSR1 (nothing in the package changes), against
a real sandbox and real state (SQLite, DuckDB and JSON files, or Postgres), and observes only from
outside: the sandbox's records (each with its number of writes) and request log, the ledger read
through `open_ledger` (and PRAGMA integrity_check on its file), the state store and the quota ledger
opened as the next run opens them.

A kill point is random (a delay drawn over the run's expected duration) or aimed at a stage: the
harness samples the run's stacks with SIGUSR1 every few milliseconds and kills it as soon as a thread
is in that stage. Either way the kill is labelled by the stacks dumped just before it (`points_in`).

After each kill (`Rig.check_run`):
- the ledger, the state store and the quota ledger open; SQLite's integrity_check says ok;
- every identity the ledger holds is stored by the sandbox, with the content the ledger hashed;
- of the records this run got stored, those the ledger does not know (the next run sends them
  again) are at most the batches in flight (the client's max_in_flight x the batch size);
- no acknowledgement the ledger held before the run is gone or changed, and no record the ledger
  knew before the run was stored again.
After the last run, which is let finish: it exits 0 with balanced counts, the sandbox holds exactly
the warehouse's records, each equal to what the warehouse says, and the ledger equals the sandbox.

Used by tests/reliability/test_crash_anywhere.py (a handful of kills) and bench/crash_anywhere.py
(hundreds, on both backends).
"""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from base64 import b64encode
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import polars as pl

from replenit_pipelines.lib.delivery.config import ClientConfig
from replenit_pipelines.lib.ledger import content_hash, open_ledger

DAY = datetime(2026, 11, 26, tzinfo=UTC)
ENTITY = "customers"
IN_FLIGHT = ClientConfig(base_url="http://127.0.0.1:1", tenant_id=str(uuid.UUID(int=1)), api_key="k").max_in_flight
MAPPING = textwrap.dedent("""\
    timezone: UTC
    customers:
      source: {table: customers, window_column: updated_at, lookback_hours: 0}
      fields: {CustomerId: id, Email: email, Name: name, Language: locale, GdprOptin: gdpr}
""")
LOCALES = ("en-GB", "de-DE", "fr-FR", "nl-NL")

# The CLI as a user runs it, plus every thread's stack appended to a file on SIGUSR1. By a Python
# handler (it runs in the main thread between two bytecodes, holding the GIL): faulthandler's C-level
# dump reads the other threads' frames while they run, and crashed runs with SIGSEGV when sampled
# often. One os.write per dump, no buffered file: a signal handled inside a buffered write would
# re-enter it ("reentrant call inside BufferedWriter").
RUNNER = textwrap.dedent("""\
    import os, signal, sys, threading
    dump = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    def stacks(signum, frame):
        names = {t.ident: t.name for t in threading.enumerate()}
        out = []
        for ident, f in sys._current_frames().items():
            lines = [f"Thread {names.get(ident, ident)}:"]
            while f is not None:
                lines.append(f'  File "{f.f_code.co_filename}", line {f.f_lineno} in {f.f_code.co_name}')
                f = f.f_back
            out.append("\\n".join(lines))
        os.write(dump, ("\\n\\n".join(out) + "\\n\\nend\\n").encode())
    signal.signal(signal.SIGUSR1, stacks)
    os.write(dump, b"ready\\n")  # the harness signals only after this line
    from replenit_pipelines.cli import main
    try:
        code = main(sys.argv[2:])
    finally:  # the interpreter's exit would reset the handler to the default, which ends the process
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    sys.exit(code)
""")

# -- where a run is: its threads' stacks, mapped to the sync's stages ---------------------------------

_LEDGER_WRITES = {"acknowledge", "restamp", "forget", "queue_failures", "set_retry_status", "dequeue", "_write"}
_LEDGER_READS = {"lookup", "lookup_keys", "all_key_hashes", "_read_all", "_reader", "api_ids", "queued", "all_identities"}


def _point(path: str, func: str) -> str | None:
    """The stage one frame belongs to, or None (a frame outside the sync's own code)."""
    lib = path.split("/replenit_pipelines/lib/", 1)[1] if "/replenit_pipelines/lib/" in path else None
    if lib is None:
        if "/httpx/" in path or "/httpcore/" in path:
            return "delivery: HTTP"
        return None
    if lib.startswith("state/"):
        return "state store open" if func in ("__init__", "_prepare", "_locked", "open_state_store") else "state store write"
    if lib.startswith("ledger/"):
        if func in ("compact", "pending_compaction"):
            return "compaction"
        if func in _LEDGER_WRITES:
            return "acknowledgement"
        if func in ("__init__", "open", "_meta", "_add_api_id", "_prepare"):
            return "ledger open"
        if lib.startswith("ledger/retries"):
            return "retry"
        if func in _LEDGER_READS or lib.startswith(("ledger/diff", "ledger/hashing")):
            return "diff"
        return None  # a helper: the frames around it say what for
    if lib.startswith("stages/acknowledge"):
        return "acknowledgement"
    if lib.startswith("delivery/quota"):
        return "delivery: quota"
    if func in ("__init__", "client_from_env") and lib.startswith("delivery/"):
        return "start-up"  # the client being built
    if lib.startswith(("stages/plan", "delivery/batching", "contract/payload")):
        return "plan"
    if lib.startswith(("delivery/", "stages/deliver")):
        return "delivery"
    if lib.startswith("stages/retry"):
        return "retry"
    if lib.startswith("stages/diff"):
        return "diff"
    if lib.startswith(("stages/extract", "warehouse/")):
        return "read"
    if lib.startswith(("stages/map", "stages/validate", "validation/", "contract/")):
        return "validate"
    if lib.startswith("stages/delete"):
        return "delete planning"
    if lib.startswith("stages/report"):
        return "report"
    if lib.startswith("sync/"):
        return "sync"
    return None  # shared helpers (lib/postgres.py, lib/errors.py): the frames around them say what for


# The most specific first: a worker acknowledging beats the main thread waiting for the delivery.
PRECEDENCE = ("state store write", "state store open", "compaction", "acknowledgement", "ledger open", "delivery: HTTP", "delivery: quota",
              "plan", "delivery", "retry", "diff", "read", "validate", "delete planning", "report", "sync", "start-up")


def points_in(dump: str) -> list[str]:
    """The stages a dump of every thread's stack shows, most specific first: each thread counts as
    the most specific stage among its frames (a worker acknowledging inside the delivery is
    "acknowledgement"). A thread importing a module counts by its frames outside the import (the
    stage that imports lazily), or as "start-up" when it has none. Empty when no thread is in the
    sync's code."""
    found: set[str] = set()
    for block in dump.split("\n\n"):
        frames = []  # innermost first
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("File "):
                path, _, rest = line[len('File "'):].partition('"')
                frames.append((path, rest.rsplit(" in ", 1)[-1]))
        importing = [i for i, (path, _) in enumerate(frames) if "importlib._bootstrap" in path]
        if importing:
            frames = frames[max(importing) + 1:]  # the module being imported is not what runs
        points = {_point(path, func) for path, func in frames if func != "<module>"}
        points.discard(None)
        if not any(func == "_request" and "/lib/delivery/" in path for path, func in frames):
            points.discard("delivery: HTTP")  # httpx at work, but no request of the client's (the client being built)
        if points:
            found.add(min(points, key=PRECEDENCE.index))  # type: ignore[arg-type]
        elif importing:
            found.add("start-up")
    return sorted(found, key=PRECEDENCE.index)


# -- the warehouse and what the tenant must end up with -----------------------------------------------


def write_warehouse(path: Path, n: int, days: int = 1) -> None:
    """n customers, one row each, updated during `days` days from DAY (evenly: `day_of`)."""
    i = pl.int_range(n, eager=True)
    frame = pl.DataFrame({"i": i}).select(
        id="c" + pl.col("i").cast(pl.String), email="user" + pl.col("i").cast(pl.String) + "@example.com",
        name="User " + pl.col("i").cast(pl.String), locale=pl.lit(pl.Series(LOCALES)).gather(pl.col("i") % len(LOCALES)),
        gdpr=pl.col("i") % 3 != 0,
        updated_at=pl.lit(DAY.replace(tzinfo=None)) + pl.duration(seconds=pl.col("i") * (86_400 * days - 1) // max(n, 1)))
    with duckdb.connect(str(path)) as con:
        con.register("f", frame.to_arrow())
        con.execute("CREATE OR REPLACE TABLE customers AS SELECT * FROM f")


def day_of(i: int, n: int, days: int) -> int:
    """The day (0-based from DAY) customer i of write_warehouse(n, days) is updated in."""
    return i * (86_400 * days - 1) // n // 86_400


def expected_record(i: int) -> dict:
    """What the tenant must store for customer i of write_warehouse."""
    return {"CustomerId": f"c{i}", "Email": f"user{i}@example.com", "Name": f"User {i}", "Language": LOCALES[i % len(LOCALES)],
            "GdprOptin": i % 3 != 0}


def customer_number(identity: str) -> int | None:
    """i of the identity `email:user{i}@example.com` (the tenant's default priority), else None."""
    digits = identity.removeprefix("email:user").removesuffix("@example.com")
    return int(digits) if identity.startswith("email:user") and digits.isdigit() else None


def expected_records(n: int) -> dict[str, dict]:
    """What the tenant must store for write_warehouse(n), by identity (the email: the tenant's default)."""
    return {f"email:user{i}@example.com": expected_record(i) for i in range(n)}


# -- one tenant, state and warehouse, run and killed again and again ---------------------------------


@dataclass
class Outcome:
    """One run: killed (at `points`, the stages its stacks showed just before) or finished."""

    mode: str
    backend: str
    aim: str  # "random" or the stage aimed at
    killed: bool
    points: list[str]
    after_s: float
    stored_by_run: int = 0
    unacknowledged: int = 0  # stored by this run, unknown to the ledger: the next run sends them again
    resent: int = 0  # stored before this run and stored again by it
    stored_again_known: int = 0  # of those, records the ledger knew before the run: must be 0
    rate_limited: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def point(self) -> str:
        return self.points[0] if self.points else "start-up"


class Rig:
    """A fresh tenant of the sandbox at `sandbox_url`, its own state folder (or Postgres database:
    `state_url`), one warehouse, and `replenit sync customers` as a window (mode "window") or a
    reconciliation in chunks (mode "reconcile")."""

    def __init__(self, work: Path, sandbox_url: str, warehouse: Path, n: int, mode: str, state_url: str | None = None,
                 batch: int = 100, pace: str = "20/1", chunk_rows: int = 1000, local_store=None):
        self.work, self.url, self.n, self.mode, self.state_url, self.batch = work, sandbox_url, n, mode, state_url, batch
        self.local = local_store  # an in-process sandbox's store: read directly (a million records, no HTTP copy)
        work.mkdir(parents=True, exist_ok=True)
        self.tenant, key = str(uuid.uuid4()), b64encode(os.urandom(18)).decode()
        httpx.post(f"{sandbox_url}/_sandbox/tenants", json={"tenant_id": self.tenant, "key": key}, timeout=30).raise_for_status()
        (work / "mapping.yaml").write_text(MAPPING)
        self.state = work / "state"
        (work / "tmp").mkdir(exist_ok=True)
        self.env = {**os.environ, "REPLENIT_BASE_URL": sandbox_url, "REPLENIT_TENANT_ID": self.tenant, "REPLENIT_API_KEY": key,
                    "REPLENIT_WAREHOUSE": str(warehouse), "REPLENIT_MAPPING": str(work / "mapping.yaml"),
                    "REPLENIT_STATE_DIR": str(self.state), "REPLENIT_KEY_NAME": "crash-" + self.tenant[:8],
                    "TMPDIR": str(work / "tmp")}  # a killed reconciliation's chunk files land here, counted by leftovers()
        self.env.pop("REPLENIT_CUSTOMER_PRIORITY", None)
        self.env.pop("REPLENIT_STATE_URL", None)
        if state_url:
            self.env["REPLENIT_STATE_URL"] = state_url
        which = ["--partition", DAY.date().isoformat()] if mode == "window" else ["--all", "--chunk-rows", str(chunk_rows)]
        self.args = ["sync", ENTITY, *which, "--json", "--batch-size", str(batch), "--limits", pace]
        self.dump = work / "run0.stacks"
        self.runs = 0
        self.writes: dict[str, int] = {}  # the sandbox's writes per identity after the last run
        self.ledger: dict[str, bytes] = {}  # the ledger after the last run
        self.durations: list[float] = []
        self.rate_limited = 0  # 429s the tenant answered so far

    @property
    def expected(self) -> dict[str, dict]:
        return expected_records(self.n)

    @property
    def backend(self) -> str:
        return "postgres" if self.state_url else "files"

    # -- observation from outside --------------------------------------------------------------
    def stored(self) -> list[dict]:
        if self.local is not None:
            return self.local.snapshot(self.tenant, ENTITY)
        return httpx.get(f"{self.url}/_sandbox/records/{self.tenant}/{ENTITY}", timeout=120).json()

    def requests(self) -> list[dict]:
        if self.local is not None:
            with self.local._lock:  # the server thread appends meanwhile
                log = list(self.local.requests)
        else:
            log = httpx.get(f"{self.url}/_sandbox/requests", timeout=120).json()
        return [r for r in log if self.tenant in r["path"]]

    def settle(self, quiet_s: float = 0.3, timeout_s: float = 15.0) -> None:
        """Wait until the tenant's request log stops growing: requests that reached the sandbox
        before the kill finish there."""
        deadline, last, since = time.monotonic() + timeout_s, -1, time.monotonic()
        while time.monotonic() < deadline:
            n = len(self.requests())
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(0.05)

    def read_ledger(self) -> tuple[dict[str, bytes], list[str]]:
        """identity -> content hash, through the package's own opening of the ledger (the next run's),
        and what is wrong with the stores: a ledger, state store or quota ledger that does not open, a
        SQLite integrity_check that is not ok."""
        problems: list[str] = []
        try:
            with closing(open_ledger(self.state, self.url, self.tenant, ENTITY, state_url=self.state_url)) as ledger:
                ids = [i for chunk in ledger.all_identities() for i in chunk.to_list()]
                frame = ledger.lookup(ids)
                acked = dict(zip(frame["identity"].to_list(), frame["hash"].to_list(), strict=True))
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is the finding
            return {}, [f"the ledger does not open: {type(exc).__name__}: {exc}"]
        if not self.state_url:
            for path in self.state.glob(f"ledger/*/{ENTITY}.sqlite"):
                con = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)
                try:
                    verdict = con.execute("PRAGMA integrity_check").fetchone()[0]
                finally:
                    con.close()
                if verdict != "ok":
                    problems.append(f"integrity_check of {path.name}: {verdict}")
            for path in self.state.glob("quota/*.json"):
                try:
                    json.loads(path.read_text())
                except ValueError as exc:
                    problems.append(f"the quota ledger {path.name} does not parse: {exc}")
        try:
            from replenit_pipelines.lib.state import open_state_store

            if self.state_url or (self.state / "state.duckdb").exists():
                open_state_store(self.state / "state.duckdb", self.state_url).query("SELECT count(*) FROM sync_runs")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"the state store does not open: {type(exc).__name__}: {exc}")
        return acked, problems

    def leftovers(self) -> list[str]:
        """Files a killed run left in its temporary folder (a reconciliation's chunk files)."""
        return sorted(p.name for p in (self.work / "tmp").iterdir())

    # -- one run -------------------------------------------------------------------------------
    def launch(self, args: list[str], name: str) -> subprocess.Popen:
        """`replenit ARGS` in its own process (RUNNER), output in NAME.out and NAME.err, stacks on
        SIGUSR1 in NAME.stacks."""
        out, err = (open(self.work / f"{name}.{kind}", "w+") for kind in ("out", "err"))  # noqa: SIM115 - closed by the caller
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(self.work / f"{name}.stacks"), *args], env=self.env,
                                stdout=out, stderr=err, start_new_session=True)
        proc.out, proc.err = out, err  # type: ignore[attr-defined]
        return proc

    def start(self) -> subprocess.Popen:
        self.runs += 1
        self.dump = self.work / f"run{self.runs}.stacks"
        self._started = time.monotonic()
        proc = self.launch(self.args, f"run{self.runs}")
        self._out, self._err = proc.out, proc.err  # type: ignore[attr-defined]
        return proc

    def _ready(self, proc: subprocess.Popen) -> bool:
        """Wait until the run's traceback handler is in place (a SIGUSR1 before it would kill it)."""
        while proc.poll() is None:
            if self.dump.exists() and self.dump.read_text().startswith("ready\n"):
                return True
            time.sleep(0.002)
        return False

    def _stacks(self, proc: subprocess.Popen) -> list[str] | None:
        """The run's stages now (SIGUSR1: the runner writes every thread's stack), None if it has ended."""
        before = self.dump.stat().st_size
        try:
            os.kill(proc.pid, signal.SIGUSR1)
        except ProcessLookupError:
            return None
        deadline = time.monotonic() + 30  # the handler runs at the main thread's next bytecode
        while time.monotonic() < deadline and proc.poll() is None:
            with self.dump.open() as f:
                f.seek(before)
                text = f.read()
            if text.endswith("\nend\n"):
                return points_in(text)
            time.sleep(0.001)
        return None

    def run(self, aim: str | None, rng: random.Random, expected_s: float = 6.0, sample_every_s: float = 0.002) -> Outcome:
        """One run: killed at a random moment (aim "random"), as soon as a thread is in the stage
        `aim`, or let finish (aim None); then every check of `check_run`."""
        proc = self.start()
        points: list[str] = []
        killed = False
        if aim is not None and not self._ready(proc):
            aim = None
        if aim == "random":
            time.sleep(rng.uniform(0.0, expected_s))
            found = self._stacks(proc)
            if found is not None:
                points, killed = found, True
        elif aim is not None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                found = self._stacks(proc)
                if found is None:
                    break
                if aim in found:
                    points, killed = found, True
                    break
                time.sleep(sample_every_s * rng.uniform(0.5, 1.5))
        if killed:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                killed = False  # it ended between the dump and the kill
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        killed = killed and proc.returncode == -signal.SIGKILL
        took = time.monotonic() - self._started
        outcome = Outcome(self.mode, self.backend, aim or "none", killed, points if killed else [], took)
        if not killed:
            self.durations.append(took)
            outcome.problems += self._finished(proc)
        self.settle()
        self.check_run(outcome, final=not killed)
        self._out.close()
        self._err.close()
        return outcome

    def _finished(self, proc: subprocess.Popen) -> list[str]:
        self._out.seek(0)
        self._err.seek(0)
        out, err = self._out.read(), self._err.read()
        if proc.returncode != 0:
            return [f"run {self.runs} exited {proc.returncode}: {err[-1500:]}"]
        counts = json.loads(out.strip().splitlines()[-1])
        read = counts["rows_read"]
        accounted = sum(counts.get(k, 0) for k in ("rows_delivered", "rows_quarantined", "rows_superseded", "rows_unchanged",
                                                  "rows_dead_lettered", "rows_held_back", "rows_deleted"))
        return [] if read == accounted == self.n else [f"run {self.runs}: rows read {read}, accounted {accounted}, warehouse {self.n}"]

    def check_run(self, outcome: Outcome, final: bool) -> None:
        stored = {r["key"]: r for r in self.stored()}
        writes = {k: r["writes"] for k, r in stored.items()}
        acked, problems = self.read_ledger()
        outcome.problems += problems
        by_run = {k for k, w in writes.items() if w > self.writes.get(k, 0)}
        resent = {k for k in by_run if self.writes.get(k, 0) > 0}
        outcome.stored_by_run, outcome.resent = len(by_run), len(resent)
        outcome.stored_again_known = len(resent & set(self.ledger))
        hashes = {k: content_hash(r["record"]) for k, r in stored.items()}
        outcome.unacknowledged = sum(1 for k in by_run if acked.get(k) != hashes[k])
        rate_limited = sum(r["status"] == 429 for r in self.requests())
        outcome.rate_limited, self.rate_limited = rate_limited - self.rate_limited, rate_limited
        unknown = [k for k in acked if k not in stored]
        wrong = [k for k, h in acked.items() if k in stored and hashes[k] != h]
        if unknown:
            outcome.problems.append(f"{len(unknown)} identities acknowledged that the sandbox does not store, e.g. {unknown[:2]}")
        if wrong:
            outcome.problems.append(f"{len(wrong)} acknowledged with another content than stored, e.g. {wrong[:2]}")
        forgotten = [k for k, h in self.ledger.items() if acked.get(k) != h]
        if forgotten:
            outcome.problems.append(f"{len(forgotten)} acknowledgements of earlier runs are gone from the ledger, e.g. {forgotten[:2]}")
        if outcome.stored_again_known:
            outcome.problems.append(f"{outcome.stored_again_known} records the ledger knew were stored again")
        if outcome.unacknowledged > IN_FLIGHT * self.batch:
            outcome.problems.append(f"{outcome.unacknowledged} records stored by the run and unknown to the ledger: more than "
                                    f"{IN_FLIGHT} batches in flight ({IN_FLIGHT * self.batch})")
        if final:
            numbers = {k: customer_number(k) for k in stored}  # compared record by record: no second copy of a million
            unexpected = [k for k, i in numbers.items() if i is None or not 0 <= i < self.n]
            if unexpected or len(stored) != self.n:
                outcome.problems.append(f"the sandbox stores {len(stored)} records, the warehouse has {self.n} "
                                        f"(unexpected {unexpected[:2]})")
            different = [k for k, i in numbers.items() if i is not None and stored[k]["record"] != expected_record(i)]
            if different:
                k = different[0]
                outcome.problems.append(f"{len(different)} stored records differ from the warehouse, e.g. {stored[k]['record']} "
                                        f"!= {expected_record(numbers[k])}")  # type: ignore[arg-type]
            if acked != hashes:
                outcome.problems.append(f"the ledger ({len(acked)}) differs from the sandbox ({len(hashes)})")
        self.writes, self.ledger = writes, acked


def scenario(work: Path, sandbox_url: str, warehouse: Path, n: int, mode: str, aims: list[str], rng: random.Random,
             state_url: str | None = None, expected_s: float = 6.0, **rig_args) -> tuple[list[Outcome], Rig]:
    """A fresh tenant and state; one run per aim (killed there, or finished if it never got
    there: then the scenario ends early), then a last run let finish. Returns every run's outcome.
    A random kill comes within `expected_s` of the start (a run's length, as far as known)."""
    rig = Rig(work, sandbox_url, warehouse, n, mode, state_url, **rig_args)
    outcomes = []
    for aim in aims:
        outcome = rig.run(aim, rng, expected_s=expected_s)
        outcomes.append(outcome)
        if not outcome.killed:
            break
    if not outcomes or outcomes[-1].killed:
        outcomes.append(rig.run(None, rng))
    return outcomes, rig


def totals(outcomes: list[Outcome]) -> dict:
    kills = [o for o in outcomes if o.killed]
    return {"kills": len(kills), "runs": len(outcomes), "unacknowledged_max": max((o.unacknowledged for o in kills), default=0),
            "resent": sum(o.resent for o in outcomes), "stored_again_known": sum(o.stored_again_known for o in outcomes),
            "rate_limited": sum(o.rate_limited for o in outcomes), "problems": [p for o in outcomes for p in o.problems]}

