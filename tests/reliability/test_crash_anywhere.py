"""Crash anywhere (issue 22 item 3): `replenit sync` killed with SIGKILL at random moments and in
chosen stages, a window and a reconciliation, on the files and on Postgres; each kill followed by
the next run, the last one let finish. What is checked after every run is crashes.py's docstring:
the stores open (integrity_check ok), no acknowledgement lost, no record the ledger knew stored again,
at most the batches in flight stored and unknown to the ledger, and at the end the tenant holds
exactly the warehouse's records and the ledger equals the tenant.

A handful of kills here; bench/crash_anywhere.py kills hundreds of times across every stage.
"""

import random

import crashes
import pytest

from replenit_pipelines.lib.sandbox import Sandbox

N = 2000  # customers: 20 requests of 100 (the batch size the rig asks for), about 1 s of quota at 20/s


@pytest.fixture(scope="module")
def paced_sandbox():
    """Paced like the client (20 a second, in 1-s windows: longer than this machine's latency, so
    the client's window-edge guard covers it and no 429 is expected)."""
    with Sandbox(limits=[(20, 1.0)]) as sb:
        yield sb


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash-warehouse") / "warehouse.duckdb"
    crashes.write_warehouse(path, N)
    return path


@pytest.mark.parametrize(("mode", "backend", "aims"), [
    ("window", "files", ["acknowledgement", "random", "state store write"]),  # an aimed kill first: a random one after a short run ends it unkilled
    ("window", "postgres", ["delivery: HTTP", "compaction"]),
    ("reconcile", "files", ["read", "compaction"]),
    ("reconcile", "postgres", ["acknowledgement", "diff"]),  # the short stage last: a run that slips past it ends the scenario after one kill
])
def test_a_sync_killed_anywhere_resumes_with_nothing_lost_or_stored_twice(request, tmp_path, paced_sandbox, warehouse,
                                                                         mode, backend, aims):
    state_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    outcomes, rig = crashes.scenario(tmp_path, paced_sandbox.url, warehouse, N, mode, aims, random.Random(22), state_url,
                                         expected_s=2.0)
    report = [(o.aim, o.killed, o.points, o.unacknowledged, o.resent) for o in outcomes]
    assert [o.problems for o in outcomes] == [[] for _ in outcomes], report
    *killed, last = outcomes
    assert not last.killed and all(o.killed for o in killed), report
    # Each aimed stage was reached and the kill happened there (a run that got through a short
    # stage between two samples ends the scenario early: at least one kill is required).
    assert killed and all(o.aim == "random" or o.aim in o.points for o in killed), report
    assert sum(o.rate_limited for o in outcomes) == 0  # killed runs' requests were counted in the key's quota ledger
    if state_url:
        assert not list(tmp_path.rglob("*.sqlite")) and not list(tmp_path.rglob("state.duckdb"))  # all in Postgres


def test_the_stages_are_read_from_the_stacks():
    """The labels of the kills: each thread by the most specific stage among its frames."""
    lib = "/x/replenit_pipelines/lib/"
    dump = "\n\n".join([
        f'Thread MainThread:\n  File "{lib}delivery/client.py", line 1 in deliver\n  File "{lib}sync/run.py", line 2 in sync_window',
        f'Thread replenit_0:\n  File "/v/sqlite3.py", line 1 in execute\n  File "{lib}postgres.py", line 3 in run\n'
        f'  File "{lib}ledger/postgres.py", line 4 in acknowledge\n  File "{lib}stages/acknowledge.py", line 5 in record\n'
        f'  File "{lib}delivery/client.py", line 6 in send_batch',
        f'Thread replenit_1:\n  File "/v/httpcore/_sync/connection.py", line 1 in handle_request\n'
        f'  File "{lib}delivery/client.py", line 2 in _request',
        'Thread idle:\n  File "/py/concurrent/futures/thread.py", line 1 in _worker',
    ])
    assert crashes.points_in(dump) == ["acknowledgement", "delivery: HTTP", "delivery"]
    assert crashes.points_in(f'Thread MainThread:\n  File "{lib}ledger/store.py", line 1 in compact\n'
                             f'  File "{lib}stages/acknowledge.py", line 2 in acknowledge') == ["compaction"]
    assert crashes.points_in(f'Thread MainThread:\n  File "{lib}state/store.py", line 1 in record\n'
                             f'  File "{lib}stages/report.py", line 2 in report') == ["state store write"]
    assert crashes.points_in('Thread MainThread:\n  File "<frozen importlib._bootstrap>", line 1 in _find_and_load') == ["start-up"]
    # Importing httpx at start-up is no HTTP; a lazy import inside a stage is that stage.
    importing = ('  File "/v/httpx/_models.py", line 1 in <module>\n  File "<frozen importlib._bootstrap>", line 2 in _find_and_load\n')
    assert crashes.points_in("Thread MainThread:\n" + importing + '  File "/x/replenit_pipelines/cli.py", line 3 in main') == ["start-up"]
    assert crashes.points_in("Thread MainThread:\n" + importing + f'  File "{lib}stages/validate.py", line 3 in validate') == ["validate"]
    building = (f'Thread MainThread:\n  File "/v/httpx/_client.py", line 1 in __init__\n  File "{lib}delivery/client.py", line 2 in __init__\n'
                '  File "/x/replenit_pipelines/commands_sync.py", line 3 in _sync')
    assert crashes.points_in(building) == ["start-up"]  # the client built, no request yet


def test_a_killed_reconciliation_leaves_no_chunk_files_behind(tmp_path, paced_sandbox, warehouse):
    """A reconciliation splits a table into Parquet chunk files (a folder replenit-reconcile-<hex>
    in the temp folder, lib/sync/scratch.py) and deletes them when it ends; killed, it left them,
    and no later run removed them: a copy of the table per kill (GBs for a large table) until
    someone emptied the temp folder. The next run sweeps the folders whose owner is dead."""
    outcomes, rig = crashes.scenario(tmp_path, paced_sandbox.url, warehouse, N, "reconcile", ["delivery: HTTP"], random.Random(3))
    assert [o.problems for o in outcomes] == [[], []] and outcomes[0].killed
    assert rig.leftovers() == []
