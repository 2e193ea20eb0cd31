"""The ledger store over real SQLite files, in several processes where concurrency matters; the tests of
its interface (those taking `state_backend`) run on the Postgres ledger too (REPLENIT_STATE_URL)."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import polars as pl
import pytest

from replenit_pipelines.lib.ledger import LedgerScopeError, SqliteLedger, ledger_scope, open_ledger

SANDBOX, PROD = "http://127.0.0.1:8765", "https://api.replen.it"
TENANT = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"


def h(text: str) -> bytes:
    return text.encode().ljust(16, b"\0")[:16]


def test_lookup_acknowledge_round_trip(tmp_path, state_backend):
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        assert ledger.size() == 0 and ledger.newest_ack() is None
        ledger.acknowledge(["email:a@x.io", "email:b@x.io"], [h("a1"), h("b1")], "run-1", [h("ea1"), h("eb1")])
        before = time.time_ns() // 1_000_000
        ledger.acknowledge(["email:a@x.io"], [h("a2")], "run-2")
        found = ledger.lookup(["email:a@x.io", "email:b@x.io", "email:nobody@x.io"]).sort("identity")
        assert found["identity"].to_list() == ["email:a@x.io", "email:b@x.io"]
        assert found["hash"].to_list() == [h("a2"), h("b1")]  # the newest acknowledgement wins
        assert found["exact"].to_list() == [None, h("eb1")]
        assert ledger.size() == 2 and ledger.newest_ack() >= before
        ledger.compact()  # folding the log into the keyed table changes nothing a reader sees
        assert ledger.lookup(["email:a@x.io", "email:b@x.io"]).sort("identity").equals(found)
        assert [s.to_list() for s in ledger.all_identities(chunk_size=1)] == [["email:a@x.io"], ["email:b@x.io"]]
        ledger.forget(["email:a@x.io"])
        assert ledger.lookup(["email:a@x.io"]).height == 0 and ledger.size() == 1


def test_the_delete_id_is_the_newest_known_across_log_and_compaction(tmp_path, state_backend):
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["email:a@x.io", "email:b@x.io"], [h("a1"), h("b1")], "run-1", api_ids=["c-a", None])
        ledger.acknowledge(["email:a@x.io"], [h("a2")], "run-2")  # a retry acknowledges without an id
        assert ledger.api_ids(["email:a@x.io", "email:b@x.io", "email:nobody@x.io"]) == {"email:a@x.io": "c-a", "email:b@x.io": None}
        ledger.compact()
        ledger.acknowledge(["email:a@x.io", "email:b@x.io"], [h("a3"), h("b3")], "run-3", api_ids=["c-a2", "c-b"])
        assert ledger.api_ids(["email:a@x.io", "email:b@x.io"]) == {"email:a@x.io": "c-a2", "email:b@x.io": "c-b"}
        ledger.compact()
        ledger.acknowledge(["email:b@x.io"], [h("b4")], "run-4")
        assert ledger.api_ids(["email:a@x.io", "email:b@x.io"]) == {"email:a@x.io": "c-a2", "email:b@x.io": "c-b"}


def test_the_holders_of_a_delete_id_are_the_identities_whose_newest_id_it_is(tmp_path, state_backend):
    """A customer who changed email: its old and new address under one CustomerId (the deletes ask
    before a DELETE by that id, lib/stages/delete.py). An address that moved to another id is no
    longer a holder of its old one, from the log or after compaction."""
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["email:old@x.io", "email:b@x.io"], [h("o1"), h("b1")], "run-1", api_ids=["c7", "c-b"])
        ledger.compact()
        ledger.acknowledge(["email:new@x.io", "email:b@x.io"], [h("n1"), h("b2")], "run-2", api_ids=["c7", "c8"])
        for _ in range(2):  # from the log, then folded
            held = ledger.holders(["c7", "c-b", "c8", "nobody"])
            assert {k: sorted(v) for k, v in held.items()} == {"c7": ["email:new@x.io", "email:old@x.io"], "c8": ["email:b@x.io"]}
            assert ledger.holders(["c-b"]) == {}  # b's id was c-b once; a DELETE of c-b takes nobody the ledger holds
            ledger.compact()


def test_many_identities_read_the_ledger_whole(tmp_path, state_backend):
    ids = [f"customerid:{i}" for i in range(30_000)]  # above the scan threshold
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(ids[:20_000], [h(str(i)) for i in range(20_000)], "r")
        ledger.compact()
        ledger.acknowledge(ids[:5], [h("new")] * 5, "r2")  # in the log, not compacted
        found = ledger.lookup(ids)
        by = dict(zip(found["identity"].to_list(), found["hash"].to_list(), strict=True))
        assert len(by) == 20_000 and by["customerid:0"] == h("new") and by["customerid:9"] == h("9")


def test_a_whole_ledger_read_of_an_exact_hash_of_another_length_reads_its_range_row_by_row(tmp_path):
    """The packed read (`_packed_chunks`) takes 16-byte hashes end to end; a range holding an exact
    hash of another length (a ledger written by other code) is read row by row instead, and gives
    what the per-identity lookup gives."""
    ids = [f"customerid:{i}" for i in range(4)]
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(ids, [h(f"h{i}") for i in range(4)], "run-1", [h(f"e{i}") for i in range(3)] + [b"short"])
        ledger.compact()
        whole = ledger.all_key_hashes()
        one_by_one = ledger.lookup_keys(ids).with_columns(pl.col("hash").bin.reinterpret(dtype=pl.Int128))
    assert whole.sort("idkey").equals(one_by_one.select(whole.columns).sort("idkey"))
    assert whole["exact"].null_count() == 1  # the short one: no 128-bit exact hash


def test_two_scopes_never_mix(tmp_path):
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers") as sandbox, \
            SqliteLedger.open(tmp_path, PROD, TENANT, "customers") as prod:
        sandbox.acknowledge(["email:a@x.io"], [h("sandbox")], "r1")
        assert prod.lookup(["email:a@x.io"]).height == 0
        assert sandbox.path != prod.path
    # One scope however its URL and tenant are spelled; different hosts, ports or tenants are not one.
    assert ledger_scope("HTTPS://API.Replen.it:443/", TENANT) == ledger_scope("https://api.replen.it", TENANT.lower())
    assert len({ledger_scope(u, t) for u, t in [(PROD, TENANT), (SANDBOX, TENANT), ("http://127.0.0.1:8766", TENANT),
                                                (PROD, "00000000-0000-0000-0000-000000000001")]}) == 4
    # A ledger file moved under another scope refuses to open instead of answering for it.
    path = SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers").path
    with pytest.raises(LedgerScopeError, match="is the ledger of customers at http://127.0.0.1:8765"):
        SqliteLedger(path, ledger_scope(PROD, TENANT), "customers")


WRITER = textwrap.dedent("""
    import sys
    from replenit_pipelines.lib.ledger import SqliteLedger
    ledger = SqliteLedger.open(sys.argv[1], "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "customers")
    batch = 0
    while True:
        ids = [f"customerid:{batch}-{j}" for j in range(500)]
        ledger.acknowledge(ids, [batch.to_bytes(16, "big")] * 500, "run")
        print(batch, flush=True)  # the 200 was "received" and its acknowledgement committed
        batch += 1
""")


@pytest.mark.parametrize("kill_after", [3, 17, 41])
def test_kill_9_while_acknowledging_keeps_every_committed_batch(tmp_path, kill_after):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    committed = -1
    try:
        while committed < kill_after:
            committed = int(proc.stdout.readline())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # Lines printed after the one read may have been committed too: they are allowed, not required.
    # Those already in the pipe were committed before the kill (a loaded machine reads them late).
    committed = max([committed, *(int(line) for line in proc.stdout.read().split())])
    path = next(tmp_path.glob("ledger/*/customers.sqlite"))
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        everything = pl.concat(list(ledger.all_identities()))
        batches = everything.str.extract(r"customerid:(\d+)-").cast(pl.Int64).value_counts()
        counts = dict(zip(batches["identity"].to_list(), batches["count"].to_list(), strict=True))
        assert all(counts.get(b) == 500 for b in range(committed + 1)), "a committed batch was lost"
        assert set(counts.values()) == {500}, "a batch was half written"
        assert max(counts) <= committed + 1  # at most the batch in flight beyond what was reported
        ledger.acknowledge(["customerid:after"], [h("x")], "run-2")  # and it is writable again
        assert ledger.lookup(["customerid:after"]).height == 1


HOLDER = textwrap.dedent("""
    import sys, time
    from replenit_pipelines.lib.ledger import SqliteLedger
    ledger = SqliteLedger.open(sys.argv[1], "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", sys.argv[2])
    ledger._con.execute("BEGIN IMMEDIATE")  # hold the entity's write lock, as a long commit would
    ledger._con.execute("INSERT INTO acks (identity, idkey, hash, acked_at) VALUES ('customerid:held', 0, x'00', 0)")
    print("holding", flush=True)
    sys.stdin.read()  # until the test has run its acknowledgements (a fixed time raced a slow start-up under load)
    ledger._con.execute("COMMIT")
""")

ACKER = textwrap.dedent("""
    import sys, time
    from replenit_pipelines.lib.ledger import SqliteLedger
    ledger = SqliteLedger(*sys.argv[1:4], busy_timeout_ms=int(sys.argv[4]))
    worst = 0.0
    for b in range(20):
        started = time.perf_counter()
        ledger.acknowledge([f"id:{b}-{j}" for j in range(500)], [b.to_bytes(16, "big")] * 500, "run")
        worst = max(worst, time.perf_counter() - started)
    print(worst)
""")


def _ack_while_held(tmp_path, held_entity: str, acking_entity: str, busy_ms: int):
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, acking_entity) as ledger:  # created before the lock is taken
        args = [str(ledger.path), ledger.scope, acking_entity, str(busy_ms)]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), held_entity],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.perf_counter()
        acker = subprocess.run([sys.executable, "-c", ACKER, *args], capture_output=True, text=True)
        return acker, time.perf_counter() - started
    finally:
        holder.stdin.close()  # the holder commits and ends
        holder.wait(timeout=30)


def test_two_entities_never_wait_on_each_other(tmp_path):
    # Products acknowledges 20 batches while another process holds the customers ledger's write lock.
    acker, _ = _ack_while_held(tmp_path, "customers", "products", busy_ms=30_000)
    assert acker.returncode == 0, acker.stderr
    worst_s = float(acker.stdout)
    print(f"worst acknowledge of products while customers was locked: {worst_s * 1000:.1f} ms")
    assert worst_s < 1.0  # the customers lock was held all along: products never waited for it
    # Control: the same entity does wait (here, times out), so the lock above was real.
    same, _ = _ack_while_held(tmp_path, "orders", "orders", busy_ms=200)
    assert same.returncode != 0 and "database is locked" in same.stderr


def test_readers_in_other_processes_see_committed_acknowledgements(tmp_path):
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, "orders") as ledger:
        ledger.acknowledge(["o-1"], [h("o1")], "run-1")
        code = ("import sys; from replenit_pipelines.lib.ledger import SqliteLedger; "
                "l = SqliteLedger.open(sys.argv[1], 'http://127.0.0.1:8765', sys.argv[2], 'orders'); "
                "print(l.size(), l.lookup(['o-1'])['hash'][0].hex())")
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path), TENANT], capture_output=True, text=True, check=True)
        assert out.stdout.split() == ["1", h("o1").hex()]


def test_worker_threads_acknowledge_through_one_ledger(tmp_path, state_backend):
    from concurrent.futures import ThreadPoolExecutor

    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        def batch(b: int) -> None:
            ledger.acknowledge([f"customerid:{b}-{j}" for j in range(100)], [h(str(b))] * 100, "run")

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(batch, range(40)))
        assert ledger.size() == 4000


def test_a_ledger_file_of_the_older_layout_refuses_to_open(tmp_path):
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        path = ledger.path
    con = sqlite3.connect(path)
    con.execute("DELETE FROM meta WHERE key = 'layout'")  # what a file written before the integer key holds
    con.commit()
    con.close()
    with pytest.raises(LedgerScopeError, match="table layout 1.*full_refresh"):
        SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers")


def test_many_identities_asked_of_an_empty_ledger_find_none(tmp_path, state_backend):
    ids = [f"customerid:{i}" for i in range(20_001)]  # above the scan threshold: the ledger is read whole
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        found = ledger.lookup(ids)
        assert found.height == 0 and found.columns == ["identity", "hash", "exact", "acked_at", "read_at"]
        assert ledger.lookup_keys(ids).height == 0 and ledger.all_key_hashes().height == 0


def test_the_snapshot_read_of_every_identity_names_its_connection_for_the_database_admin(tmp_path, postgres_url):
    # pg_stat_activity shows whose a long read is: the ledger's (application_name replenit-ledger).
    import psycopg

    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", state_url=postgres_url) as ledger:
        ledger.acknowledge(["email:a@x.io", "email:b@x.io"], [h("a"), h("b")], "run-1")
        chunks = ledger.all_identities(chunk_size=1)
        assert next(chunks).to_list() == ["email:a@x.io"]  # the snapshot's cursor is open
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            names = admin.execute("SELECT application_name FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                                  "AND query LIKE '%replenit_all_identities%'").fetchall()
        assert names == [("replenit-ledger",)]
        assert [s.to_list() for s in chunks] == [["email:b@x.io"]]


def test_a_ledger_whose_state_database_cannot_be_reached_says_what_to_check(tmp_path):
    from replenit_pipelines.lib.postgres import PostgresError

    url = "postgresql://replenit:s3cr3t@127.0.0.1:9/replenit"  # nothing listens on port 9
    with pytest.raises(PostgresError) as refused:
        open_ledger(tmp_path, SANDBOX, TENANT, "customers", state_url=url)
    assert re.match(r"^ledger: cannot connect to postgresql://replenit:\*\*\*\*@127\.0\.0\.1:9/replenit \(.+\): "
                    r"check REPLENIT_STATE_URL, that the server is up and that the user may connect$", str(refused.value))
