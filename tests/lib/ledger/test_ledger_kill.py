"""The ledger keeps every acknowledgement through a kill -9 and beside other processes, whatever
the window's size (issue 21 item 1).

A window of more than 20,000 identities reads the whole ledger (`SqliteLedger._read_all`). When
that read opened the file with a second SQLite library (ADBC's), closing it unlinked the -wal and
-shm files under the writer: every later acknowledgement went into a deleted file, a kill -9 lost
them all, and another process opening the ledger started a second WAL and corrupted it. Real
files, real subprocesses (`replenit sync`), the sandbox over HTTP with a time-scaled quota.
"""

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import polars as pl

from replenit_pipelines.lib.delivery.config import DEFAULT_BATCH_SIZES, ClientConfig
from replenit_pipelines.lib.ledger import SqliteLedger, content_hash
from replenit_pipelines.lib.ledger import store as ledger_store
from replenit_pipelines.lib.ledger.sql import CURRENT, SQLITE
from replenit_pipelines.lib.ledger.status import ledger_status
from replenit_pipelines.lib.sandbox import Sandbox

URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
DAY = datetime(2026, 11, 26, tzinfo=UTC)
WINDOW = 25_000  # customers in one daily partition: above the whole-ledger read's threshold (20,000)
BATCH = DEFAULT_BATCH_SIZES["customers"]
IN_FLIGHT = ClientConfig(base_url=URL, tenant_id=TENANT, api_key="k").max_in_flight  # batches a kill may lose
PACE = "1/0.12"  # the client's and the sandbox's quota: ~8 requests/s, a 50-request window in ~6 s
MAPPING = textwrap.dedent("""\
    timezone: UTC
    customers:
      source: {table: customers, window_column: updated_at, lookback_hours: 0}
      fields: {CustomerId: id, Email: email, Name: name, Language: locale, GdprOptin: gdpr}
""")


def h(i: int) -> bytes:
    return i.to_bytes(16, "little")


def deleted_wal_files() -> list[str]:
    """-wal/-shm files this process holds open although they are gone from the folder."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.endswith(" (deleted)") and (".sqlite-wal" in target or ".sqlite-shm" in target):
            found.append(target)
    return found


# -- the store: one SQLite library per file, and the packed whole-ledger read -------------------------


def test_whole_ledger_reads_leave_the_wal_and_shm_in_place(tmp_path):
    """The guard: after every whole-ledger read (a lookup above 20,000 identities, all_key_hashes,
    all_identities) the writer's -wal and -shm are still on disk and none is held open deleted."""
    ids = [f"customerid:{i}" for i in range(WINDOW)]
    with SqliteLedger.open(tmp_path, URL, TENANT, "customers") as ledger:
        wal, shm = (ledger.path.with_name(ledger.path.name + suffix) for suffix in ("-wal", "-shm"))
        ledger.acknowledge(ids, [h(i) for i in range(WINDOW)], "r1", [h(i) for i in range(WINDOW)])
        ledger.compact()
        ledger.acknowledge(ids[:BATCH], [h(WINDOW)] * BATCH, "r2")  # in the log: the reads take both paths
        reads = {"lookup_keys": lambda: ledger.lookup_keys(ids).height, "all_key_hashes": lambda: ledger.all_key_hashes().height,
                 "lookup": lambda: ledger.lookup(ids).height, "all_identities": lambda: sum(c.len() for c in ledger.all_identities())}
        for name, read in reads.items():
            assert read() == WINDOW, name
            assert deleted_wal_files() == [], name
            assert wal.exists() and shm.exists(), name
        ledger.acknowledge(["customerid:after"], [h(1)], "r3")
        assert wal.stat().st_size > 0 and deleted_wal_files() == []
    with SqliteLedger.open(tmp_path, URL, TENANT, "customers") as again:
        assert again.lookup(["customerid:after"]).height == 1


KILLED_AFTER_READ = """
import os, signal, sys
from replenit_pipelines.lib.ledger import SqliteLedger
state, url, tenant, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ledger = SqliteLedger.open(state, url, tenant, "customers")
ids = [f"customerid:{i}" for i in range(n)]
ledger.acknowledge(ids, [i.to_bytes(16, "little") for i in range(n)], "r1")
ledger.compact()
assert ledger.lookup_keys(ids).height == n  # a window above 20,000: the whole ledger is read
ledger.all_key_hashes()
ledger.acknowledge(["customerid:batch-after-the-read"], [bytes(16)], "r2")  # committed, fsync'd
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_acknowledgement_after_a_whole_ledger_read_survives_a_kill(tmp_path):
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_READ, str(tmp_path), URL, TENANT, str(WINDOW)],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    with SqliteLedger.open(tmp_path, URL, TENANT, "customers") as ledger:
        assert ledger.lookup(["customerid:batch-after-the-read"]).height == 1
        assert ledger.size() == WINDOW + 1
        assert ledger._con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_the_packed_read_equals_the_row_by_row_read(tmp_path, monkeypatch):
    """The whole-ledger read (SQLite packs each column of a key range, Polars unpacks it) returns
    what the newest-acknowledgement query returns row by row: across many ranges, with NULL exact
    hashes in some, a hash of another length in one, an empty identity, and a log that supersedes
    compacted entries and adds new ones."""
    monkeypatch.setattr(ledger_store, "_PACK_ROWS", 7)  # many ranges from a small ledger
    ids = ["", *(f"customerid:{i:03d}" for i in range(60))]
    with SqliteLedger.open(tmp_path, URL, TENANT, "customers") as ledger:
        ledger.acknowledge(ids[:40], [h(i) for i in range(40)], "r1", [h(1000 + i) for i in range(40)])
        ledger.acknowledge(ids[10:13], [h(500 + i) for i in range(3)], "retry")  # NULL exact
        ledger.acknowledge(ids[30:31], [b"short"], "legacy", [h(7)])  # not 16 bytes: that range row by row
        ledger.compact()
        ledger.acknowledge(ids[20:50], [h(2000 + i) for i in range(30)], "r2", [h(3000 + i) for i in range(30)])
        ledger.acknowledge(ids[45:46], [h(9)], "r3")  # the newest of the log wins, NULL exact
        schema = {"idkey": pl.Int64, "hash": pl.Binary, "exact": pl.Binary}
        rows = ledger._con.execute(f"SELECT idkey, hash, exact FROM ({SQLITE.sql(CURRENT)})").fetchall()  # noqa: S608
        expected = pl.DataFrame(rows, schema=schema, orient="row")
        as_int = {"hash": lambda c: c, "exact": lambda c: c.bin.reinterpret(dtype=pl.Int128)}
        for read, wanted in ((ledger.lookup_keys(ids), expected.with_columns(as_int["exact"](pl.col("exact")))),
                             (ledger.all_key_hashes(), expected.with_columns(
                                 pl.col("hash").bin.reinterpret(dtype=pl.Int128), pl.col("exact").bin.reinterpret(dtype=pl.Int128)))):
            assert read.height == 50
            assert read.sort("idkey").equals(wanted.sort("idkey"))
        assert ledger.all_key_hashes().filter(pl.col("exact").is_null()).height == 4  # 10, 11, 12 and 45
        ledger.compact()
        assert ledger.lookup_keys(ids).sort("idkey").equals(
            pl.DataFrame(ledger._con.execute("SELECT idkey, hash, exact FROM ledger").fetchall(), schema=schema, orient="row")
            .with_columns(pl.col("exact").bin.reinterpret(dtype=pl.Int128)).sort("idkey"))



def test_whole_ledger_reads_open_the_file_under_any_folder_name(tmp_path):
    """The read-only connection is opened by URI: a folder name with '#', '?' or '%' is escaped,
    not cut (a cut name opened another file, or none)."""
    ids = [f"customerid:{i}" for i in range(3)]
    with SqliteLedger.open(tmp_path / "state #1 ?mode=rw&x=%20", URL, TENANT, "customers") as ledger:
        ledger.acknowledge(ids, [h(i) for i in range(3)], "r1")
        ledger.compact()
        assert ledger.all_key_hashes().height == 3
        assert [s.to_list() for s in ledger.all_identities()] == [ids]
    assert ledger_status(tmp_path / "state #1 ?mode=rw&x=%20")["ledger_size"].to_list() == [3]  # `replenit state`

# -- a real partition, killed and resumed, and two processes on one ledger ---------------------------------


def customer_rows(n: int, day: datetime, first: int = 0) -> pl.DataFrame:
    i = pl.int_range(first, first + n, eager=True)
    return pl.DataFrame({"i": i}).select(
        id="c" + pl.col("i").cast(pl.String), email="user" + pl.col("i").cast(pl.String) + "@example.com",
        name=pl.lit("User"), locale=pl.lit("en-GB"), gdpr=pl.lit(True),
        updated_at=pl.lit(day.replace(tzinfo=None)) + pl.duration(seconds=(pl.col("i") - first) * 86_399 // n))


def customer_number(identity: str) -> int:
    return int(identity.removeprefix("email:user").split("@")[0])


def write_warehouse(path: Path, days: dict[datetime, int]) -> None:
    frames, first = [], 0
    for day, n in days.items():
        frames.append(customer_rows(n, day, first))
        first += n
    with duckdb.connect(str(path)) as con:
        con.register("f", pl.concat(frames).to_arrow())
        con.execute("CREATE TABLE customers AS SELECT * FROM f")


class Rig:
    """A warehouse of WINDOW customers a day, a mapping, a sandbox tenant and a state folder;
    `start(day)` runs `replenit sync customers --partition DAY --json` in its own process."""

    def __init__(self, tmp_path: Path, sandbox: Sandbox, days: dict[datetime, int]):
        self.sandbox = sandbox
        self.tenant, key = sandbox.add_tenant()
        (tmp_path / "mapping.yaml").write_text(MAPPING)
        write_warehouse(tmp_path / "warehouse.duckdb", days)
        self.state = tmp_path / "state"
        self.env = {**os.environ, "REPLENIT_BASE_URL": sandbox.url, "REPLENIT_TENANT_ID": self.tenant,
                    "REPLENIT_API_KEY": key, "REPLENIT_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
                    "REPLENIT_MAPPING": str(tmp_path / "mapping.yaml"), "REPLENIT_STATE_DIR": str(self.state),
                    "REPLENIT_KEY_NAME": "ledger-kill"}
        self.env.pop("REPLENIT_STATE_URL", None)

    def start(self, day: datetime, limits: str = PACE) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "replenit_pipelines.cli", "sync", "customers", "--partition",
                                 day.date().isoformat(), "--limits", limits, "--json"], env=self.env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def requests(self, since: int = 0) -> list[dict]:
        log = httpx.get(f"{self.sandbox.url}/_sandbox/requests", params={"since": since}).json()
        return [r for r in log if self.tenant in r["path"] and r["method"] == "POST"]

    def last_seq(self) -> int:
        return max((r["seq"] for r in httpx.get(f"{self.sandbox.url}/_sandbox/requests").json()), default=0)

    def stored(self) -> dict[str, dict]:
        return {r["key"]: r["record"] for r in httpx.get(f"{self.sandbox.url}/_sandbox/records/{self.tenant}/customers").json()}

    def ledger_file(self) -> Path:
        (path,) = self.state.glob("ledger/*/customers.sqlite")
        return path

    def acknowledged(self) -> dict[str, bytes]:
        """identity -> content hash, the newest acknowledgement (read from outside the run's process)."""
        con = sqlite3.connect(self.ledger_file())
        try:
            return dict(con.execute(f"SELECT identity, hash FROM ({SQLITE.sql(CURRENT)})").fetchall())  # noqa: S608
        finally:
            con.close()

    def wait_accepted(self, proc: subprocess.Popen, batches: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while sum(r["status"] == 200 for r in self.requests()) < batches:
            assert proc.poll() is None, f"the run ended before {batches} batches: {proc.communicate()}"
            assert time.monotonic() < deadline, f"fewer than {batches} batches accepted in {timeout} s"
            time.sleep(0.02)


def finish(proc: subprocess.Popen, timeout: float = 120) -> dict:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out)


def integrity(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def ledger_matches_sandbox(rig: Rig) -> None:
    """The ledger holds exactly what the tenant stores: the same identities, each with the content
    hash of the record stored."""
    stored, acked = rig.stored(), rig.acknowledged()
    assert set(acked) == set(stored)
    assert {k: content_hash(record) for k, record in stored.items()} == acked


def test_a_killed_partition_of_25000_resumes_with_at_most_the_batches_in_flight(tmp_path):
    """kill -9 of `replenit sync` after some accepted batches of a 25,000-customer partition, then
    the same partition again: it sends only what the tenant had not accepted, plus at most the
    batches that were in flight when it was killed (before the fix: all 25,000 again)."""
    with Sandbox(limits=[(1, 0.12)]) as sandbox:
        rig = Rig(tmp_path, sandbox, {DAY: WINDOW})
        first = rig.start(DAY)
        rig.wait_accepted(first, 8)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        time.sleep(0.3)  # requests that reached the sandbox before the kill finish there
        stored_before, acked = rig.stored(), rig.acknowledged()
        assert len(stored_before) >= 8 * BATCH
        assert set(acked) <= set(stored_before)
        lost = len(stored_before) - len(acked)  # accepted by the tenant, unknown to the ledger
        assert lost <= IN_FLIGHT * BATCH, f"{len(acked)} acknowledged of {len(stored_before)} accepted before the kill"
        assert integrity(rig.ledger_file()) == "ok"

        since = rig.last_seq()
        second = finish(rig.start(DAY))
        accepted = [r for r in rig.requests(since) if r["status"] == 200]  # (a 429 of the quota is re-sent by the client)
        not_accepted = WINDOW - len(stored_before)
        assert second["records_unchanged"] == len(acked)  # nothing the ledger holds is sent again
        assert second["records_sent"] == sum(r["records"] for r in accepted) == WINDOW - len(acked)
        assert len(accepted) <= math.ceil(not_accepted / BATCH) + IN_FLIGHT
        assert len(rig.stored()) == WINDOW
        ledger_matches_sandbox(rig)
        assert integrity(rig.ledger_file()) == "ok"


READER = """
import sys
from replenit_pipelines.lib.ledger.status import ledger_files, ledger_status, open_file
state, rounds = sys.argv[1], int(sys.argv[2])
for _ in range(rounds):  # what `replenit state` shows of the ledgers, and a window's whole-ledger read
    status = ledger_status(state)
    with open_file(ledger_files(state)[0]) as ledger:
        print(status["ledger_size"][0], ledger.lookup_keys([f"x{i}" for i in range(20_001)]).height, ledger.all_key_hashes().height)
"""


def test_a_second_process_on_the_ledger_during_a_large_window_corrupts_nothing(tmp_path):
    """While `replenit sync` delivers a 25,000-customer partition, a sync of the day before
    (another 25,000: its own whole-ledger read and acknowledgements) and a reader (the ledgers'
    status as `replenit state` shows it, and whole-ledger reads) run in other processes on the
    same ledger: both syncs finish, nothing is lost, the file is intact and holds exactly what the
    tenant stores. (`replenit state` itself is left out: its DuckDB state store refuses to open
    while a sync writes it, which is not the ledger's doing.)"""
    before = DAY - timedelta(days=1)
    with Sandbox(limits=[]) as sandbox:
        rig = Rig(tmp_path, sandbox, {before: WINDOW, DAY: WINDOW})
        # The first run paced to ~10 s, so the second (paced faster, sharing the key's quota
        # ledger) reads, delivers and acknowledges while the first is still writing.
        first = rig.start(DAY, limits="1/0.2")
        rig.wait_accepted(first, 2)  # its whole-ledger read is done: the others open the file after it
        second = rig.start(before, limits="1/0.04")
        deadline = time.monotonic() + 60
        while not any(customer_number(identity) < WINDOW for identity in rig.acknowledged()):  # the day before's
            assert second.poll() is None, second.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the second run acknowledged nothing in 60 s"
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the second acknowledged anything: no overlap"
        reader = subprocess.run([sys.executable, "-c", READER, str(rig.state), "3"], env=rig.env, capture_output=True,
                                text=True, timeout=120)
        assert reader.returncode == 0, reader.stderr[-3000:]
        sizes = [int(n) for line in reader.stdout.splitlines() for n in line.split()]
        assert len(sizes) == 9 and sizes[0] > 0 and sizes == sorted(sizes)  # growing as both acknowledge, never losing one
        results = [finish(first), finish(second)]
        assert all(r["records_accepted"] == r["records_sent"] == WINDOW for r in results)
        assert integrity(rig.ledger_file()) == "ok"
        assert len(rig.stored()) == 2 * WINDOW
        ledger_matches_sandbox(rig)
