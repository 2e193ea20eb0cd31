"""The send-time check across two processes (issue 24), on the files (SQLite ledger) and on Postgres:
process A, a reconciliation, reads the warehouse and diffs, then waits in its quota's bulk lane
(a real QuotaLimiter whose one request a minute is spent, on a clock A moves once the test lets
it); meanwhile the record changes in the warehouse and process B, a real `replenit sync customers
--partition` of the same day, reads the newer version, sends and acknowledges it. Then A sends:
the tenant and the ledger must keep B's version, and A's accounting must say why it did not send."""

import json
import subprocess
import sys
import textwrap
import time

import crashes
import duckdb
import pytest

from replenit_pipelines.lib.ledger import open_ledger

N = 20
CHANGED = "email:user3@example.com"

# Process A: `replenit sync customers --all` as the library runs it, its quota held until `go` exists.
RECONCILER = textwrap.dedent("""\
    import json, os, sys, time
    from pathlib import Path
    from replenit_pipelines.lib.delivery import client_from_env
    from replenit_pipelines.lib.delivery.quota import QuotaLimiter
    from replenit_pipelines.lib.ledger import open_ledger
    from replenit_pipelines.lib.sync.reconcile import ReconcileRequest, reconcile
    from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict

    work = Path(sys.argv[1])
    clock = {"now": 1_000_000.0, "waits": 0}

    def sleep(pause):
        if clock["waits"] == 0:
            (work / "waiting").touch()  # read and diffed: now held in the bulk lane
            while not (work / "go").exists():
                time.sleep(0.01)
        clock["waits"] += 1
        clock["now"] += pause

    mapping = entity_mapping_from_dict("customers", {
        "source": {"table": "customers", "window_column": "updated_at"},
        "fields": {"CustomerId": "id", "Email": "email", "Name": "name", "Language": "locale", "GdprOptin": "gdpr"}})
    client = client_from_env()
    client.quota = QuotaLimiter([(1, 60.0)], work / "held-quota.json", clock=lambda: clock["now"], sleep=sleep, state_url=None)
    client.quota.acquire("bulk")  # the window's one request: spent
    ledger = open_ledger(os.environ["REPLENIT_STATE_DIR"], os.environ["REPLENIT_BASE_URL"], os.environ["REPLENIT_TENANT_ID"],
                         "customers")
    result = reconcile(ReconcileRequest(mapping=mapping, warehouse=Warehouse(os.environ["REPLENIT_WAREHOUSE"]), client=client,
                                        ledger=ledger, store=None, run_id="reconcile-a"))
    print(json.dumps({**result.counts(), "balanced": result.balanced(), "waits": clock["waits"]}))
""")
CLI = "import sys\nfrom replenit_pipelines.cli import main\nsys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("backend", ["files", "postgres"])
def test_a_reconciliation_in_another_process_does_not_overwrite_a_newer_read_stored_meanwhile(request, tmp_path, sandbox, backend):
    state_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    warehouse = tmp_path / "warehouse.duckdb"
    crashes.write_warehouse(warehouse, N)
    rig = crashes.Rig(tmp_path / "work", sandbox.url, warehouse, N, "window", state_url)
    a = subprocess.Popen([sys.executable, "-c", RECONCILER, str(rig.work)], env=rig.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (rig.work / "waiting").exists():
        assert a.poll() is None, a.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "process A never waited for its quota"
        time.sleep(0.01)
    with duckdb.connect(str(warehouse)) as con:  # the record changes after A read it
        con.execute("UPDATE customers SET name = 'Renamed' WHERE id = 'c3'")
    b = subprocess.run([sys.executable, "-c", CLI, "sync", "customers", "--partition", crashes.DAY.date().isoformat(), "--json"],
                       env=rig.env, capture_output=True, text=True, timeout=300)
    assert b.returncode == 0, b.stderr[-3000:]
    window = json.loads(b.stdout.strip().splitlines()[-1])
    assert window["records_accepted"] == N
    with open_ledger(rig.state, sandbox.url, rig.tenant, "customers", state_url=state_url) as ledger:
        stored_by_b = ledger.current_reads([CHANGED])[CHANGED]
    (rig.work / "go").touch()
    out, err = a.communicate(timeout=300)
    assert a.returncode == 0, err[-3000:]
    reconciled = json.loads(out.strip().splitlines()[-1])

    stored = {r["key"]: r["record"] for r in rig.stored()}
    assert stored[CHANGED]["Name"] == "Renamed"  # the newest read won
    with open_ledger(rig.state, sandbox.url, rig.tenant, "customers", state_url=state_url) as ledger:
        assert ledger.current_reads([CHANGED])[CHANGED] == stored_by_b  # and the ledger agrees with the tenant
    assert stored_by_b.run_id != "reconcile-a"
    assert reconciled["balanced"] and reconciled["waits"] >= 1
    assert (reconciled["records_newer_elsewhere"], reconciled["records_stored_elsewhere"], reconciled["requests"]) == (1, N - 1, 0)
