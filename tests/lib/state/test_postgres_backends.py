"""REPLENIT_STATE_URL (issue 15): the state store on both backends, what only Postgres does (one
quota across machines, one ledger across machines), and the state URL's password kept secret.
Over the session's real PostgreSQL server (conftest.postgres_server)."""

import logging
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg
import pytest
from helpers import FakeClock

from replenit_pipelines.lib.delivery.quota import QuotaLimiter, ledger_name
from replenit_pipelines.lib.ledger import open_ledger
from replenit_pipelines.lib.postgres import PostgresError, StateUrl, mask_url
from replenit_pipelines.lib.settings import Settings
from replenit_pipelines.lib.state.postgres import PostgresStateStore
from replenit_pipelines.lib.sync import open_state_store

SANDBOX = "http://127.0.0.1:8765"
TENANT = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
SECRET = "s3cr3t-Pa55word"
ROLE = "replenit_" + __import__("uuid").uuid4().hex[:8]


def quarantine(n: int) -> pl.DataFrame:
    return pl.DataFrame({"record_id": [f"c{i}" for i in range(n)], "source_row": list(range(n)), "rule": ["email"] * n,
                         "field": ["email"] * n, "value": ["nope"] * n}, schema_overrides={"source_row": pl.UInt32})


def dead_letters(n: int) -> pl.DataFrame:
    return pl.DataFrame({"record_id": [f"d{i}" for i in range(n)], "status": ["rejected"] * n,
                         "reasons": [["Email: invalid", "Name: missing"]] * n, "payload": ['{"CustomerId":"d"}'] * n})


def run_row(outcome: str = "delivered", rows_read: int = 10, **kw) -> dict:
    return {"entity": "customers", "window_start": datetime(2026, 11, 26, tzinfo=UTC), "window_end": datetime(2026, 11, 27, tzinfo=UTC),
            "outcome": outcome, "rows_read": rows_read, "rows_delivered": rows_read - 3, "rows_quarantined": 2,
            "rows_superseded": 1, "rows_unchanged": 0, "rows_dead_lettered": 0, "rows_held_back": 0, "requests": 1, **kw}


# --- the state store, both backends -----------------------------------------------------------------

def test_the_state_store_records_replaces_and_appends_on_both_backends(tmp_path, state_backend):
    store = open_state_store(tmp_path / "state.duckdb")
    assert isinstance(store, PostgresStateStore) == (state_backend is not None)
    one, two = {"run_id": "run-1", "partition_key": "2026-11-26"}, {"run_id": "run-2", "partition_key": "2026-11-27"}
    store.record("run-1", "2026-11-26", "customers", quarantine(5), dead_letters(2), run_row(**one))
    store.record("run-1", "2026-11-26", "customers", quarantine(3), dead_letters(1), run_row(rows_read=20, **one))  # a re-run replaces
    store.record("run-2", "2026-11-27", "customers", quarantine(0), dead_letters(0), run_row(outcome="held_back", rows_read=7, **two))
    store.append_push("push-1", "file.ndjson", "orders", quarantine(2), dead_letters(1))
    store.append_push("push-1", "file.ndjson", "orders", quarantine(2), dead_letters(0))  # a push appends
    counts = store.query("SELECT entity, count(*) AS n FROM quarantine GROUP BY entity ORDER BY entity")
    assert counts.rows() == [("customers", 3), ("orders", 4)]
    dl = store.query("SELECT record_id, reasons, attempts FROM dead_letters WHERE entity = ? ORDER BY record_id", ["customers"])
    assert dl.rows() == [("d0", ["Email: invalid", "Name: missing"], None)]
    runs = store.query("SELECT run_id, rows_read FROM sync_runs WHERE rows_read > ? ORDER BY run_id", [5])
    assert runs.rows() == [("run-1", 20), ("run-2", 7)]
    # The gate's baseline: held-back runs and the window being judged are left out.
    assert [r.rows_read for r in store.recent_runs("customers", 5)] == [20]
    assert store.recent_runs("customers", 5, exclude_partition="2026-11-26") == []


def test_the_state_store_on_postgres_is_shared_by_processes_and_readable_with_the_cli(tmp_path, postgres_url, monkeypatch):
    code = ("import sys, polars as pl; from replenit_pipelines.lib.sync import open_state_store; "
            "s = open_state_store('unused', sys.argv[1]); "
            "s.record(sys.argv[2], 'p', 'customers', pl.DataFrame(schema={'record_id': pl.String, 'source_row': pl.UInt32, "
            "'rule': pl.String, 'field': pl.String, 'value': pl.String}), pl.DataFrame(schema={'record_id': pl.String, "
            "'status': pl.String, 'reasons': pl.List(pl.String), 'payload': pl.String}), {'run_id': sys.argv[2], 'outcome': 'delivered'})")
    for worker in ("a", "b"):  # two run workers (think: two pods) write the one store
        subprocess.run([sys.executable, "-c", code, postgres_url, f"run-{worker}"], check=True, timeout=60)
    monkeypatch.setenv("REPLENIT_STATE_URL", postgres_url)
    monkeypatch.chdir(tmp_path)  # no state folder here: the CLI reads Postgres, not a file
    out = subprocess.run([sys.executable, "-m", "replenit_pipelines.cli", "state",
                          "SELECT run_id FROM sync_runs ORDER BY run_id"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "run-a" in out.stdout and "run-b" in out.stdout


# --- the quota across machines ----------------------------------------------------------------------

def test_limiters_on_two_machines_share_the_keys_quota_through_postgres(tmp_path, postgres_url):
    """Two run workers with no file in common (their own quota folders, as two pods) spend from one
    budget on Postgres. With the file ledgers, each would believe the whole window was its own."""
    clock = FakeClock(1000.0)
    name = ledger_name(SANDBOX, "the-key")
    machines = [QuotaLimiter([(4, 1.0)], tmp_path / m / "quota" / name, clock=clock, sleep=clock.sleep, state_url=postgres_url)
                for m in ("pod-a", "pod-b")]
    for _ in range(2):
        for q in machines:
            assert q.acquire("fresh") == 0.0
    assert machines[1].acquire("fresh") == pytest.approx(1.001)  # the fifth request of the window waits for the next one
    with psycopg.connect(postgres_url) as con:
        rows = con.execute("SELECT key_id, key_label, window_seconds, requests FROM quota_counts JOIN quota_keys USING (key_id)").fetchall()
    assert rows == [(name.removesuffix(".json"), "default", 1.0, 1)]  # the digest of the key names the row, never the key


def test_concurrent_limiters_never_overspend_a_window(postgres_url, tmp_path):
    """Threads of four limiters (four connections) race for one window of 25 on a fixed clock:
    the key's row lock lets exactly 25 through."""
    clock = FakeClock(5000.0)
    granted: list[int] = []
    limiters = [QuotaLimiter([(25, 60.0)], tmp_path / f"m{i}" / "k.json", clock=clock, sleep=lambda s: None,
                             state_url=postgres_url) for i in range(4)]

    def take(q: QuotaLimiter) -> None:
        for _ in range(20):
            with q._state() as state:  # one attempt each: acquire() would sleep-loop on the fixed clock
                if q._wait_needed(state, clock()) <= 0:
                    counts = q._counts(state, 60.0)
                    counts["83"] = counts.get("83", 0) + 1
                    granted.append(1)

    threads = [threading.Thread(target=take, args=(q,)) for q in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 25
    assert limiters[0].used() == {60.0: 25}


# --- the ledger across machines ---------------------------------------------------------------------

def test_the_postgres_ledger_is_one_ledger_for_every_state_folder(tmp_path, postgres_url):
    a = open_ledger(tmp_path / "pod-a", SANDBOX, TENANT, "customers", state_url=postgres_url)
    b = open_ledger(tmp_path / "pod-b", SANDBOX, TENANT, "customers", state_url=postgres_url)
    other = open_ledger(tmp_path / "pod-a", "https://api.replen.it", TENANT, "customers", state_url=postgres_url)
    a.acknowledge(["email:a@x.io", "email:a@x.io", "email:b@x.io"], [b"1" * 16, b"2" * 16, b"3" * 16], "run-1",
                  [b"e" * 16] * 3, api_ids=["api-1", "api-2", None])  # twice in one batch: the last wins
    found = b.lookup(["email:a@x.io", "email:b@x.io"]).sort("identity")
    assert found["hash"].to_list() == [b"2" * 16, b"3" * 16]
    keys = b.lookup_keys(["email:a@x.io"])
    assert keys.columns == ["idkey", "hash", "exact"] and keys["exact"].dtype == pl.Int128 and keys["exact"][0] is not None
    assert other.lookup(["email:a@x.io"]).height == 0  # another API's ledger never answers for this one
    a.acknowledge(["email:a@x.io"], [b"4" * 16], "run-2")  # no api id this time: the known one is kept
    assert b.pending_compaction() == 3 and b.lookup(["email:a@x.io"])["hash"].to_list() == [b"4" * 16]
    b.compact()  # the log folded into the keyed table: newest hash, newest known api id
    assert b.pending_compaction() == 0 and b.size() == 2
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT identity, api_id FROM ledger_entries ORDER BY identity").fetchall() == [
            ("email:a@x.io", "api-2"), ("email:b@x.io", None)]
    for ledger in (a, b, other):
        ledger.close()


def test_the_stores_carry_on_after_the_server_dropped_their_connections(tmp_path, postgres_url):
    """A database restart or failover between two batches: each store connects again and the
    operation goes through, instead of failing the run."""
    store = open_state_store("unused", postgres_url)
    ledger = open_ledger(tmp_path, SANDBOX, TENANT, "customers", state_url=postgres_url)
    clock = FakeClock(1000.0)
    quota = QuotaLimiter([(100, 60.0)], tmp_path / "k.json", clock=clock, sleep=clock.sleep, state_url=postgres_url)
    ledger.acknowledge(["email:a@x.io"], [b"1" * 16], "run-1")
    quota.acquire("fresh")
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        dropped = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()) t").fetchone()[0]
    assert dropped >= 3
    ledger.acknowledge(["email:b@x.io"], [b"2" * 16], "run-2")
    assert quota.acquire("fresh") == 0.0 and quota.used() == {60.0: 2}
    store.record("run-1", "p", "customers", quarantine(1), dead_letters(1), run_row(run_id="run-1", partition_key="p"))
    assert store.query("SELECT count(*) AS n FROM sync_runs")["n"][0] == 1
    assert ledger.size() == 2


# --- the state URL is a secret ----------------------------------------------------------------------

def test_the_state_urls_password_never_shows(postgres_server, postgres_url, caplog):
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{SECRET}'")  # noqa: S608 - a test role
    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {ROLE}")
    url = postgres_url.replace("postgresql://postgres:@", f"postgresql://{ROLE}:{SECRET}@")
    settings = Settings.from_env({"REPLENIT_STATE_URL": url})
    from replenit_pipelines.commands import _settings_in_force  # what `replenit check` prints

    rows, _ = _settings_in_force(settings)
    shown = [repr(settings), str(settings.state_url), mask_url(url), str(rows)]
    assert f"Postgres at postgresql://{ROLE}:****@" in dict(rows)["state store, ledgers, quota (REPLENIT_STATE_URL)"]
    caplog.set_level(logging.DEBUG)
    store = open_state_store("unused", url)
    ledger = open_ledger("unused", SANDBOX, TENANT, "customers", state_url=url)
    quota = QuotaLimiter([(10, 60.0)], Path("/nonexistent") / ledger_name(SANDBOX, "k"), state_url=url)
    shown += [repr(store), repr(ledger), repr(quota._store)]
    with pytest.raises(ValueError) as bad_sql:
        store.query("SELECT no_such_column FROM sync_runs")
    shown.append(str(bad_sql.value))
    # A server that cannot be reached: the error names the URL, masked, and says what to check.
    unreachable = StateUrl(f"postgresql://replenit:{SECRET}@127.0.0.1:9/replenit")
    with pytest.raises(PostgresError) as refused:
        open_state_store("unused", unreachable)
    shown += [str(refused.value), repr(refused.value), caplog.text]
    assert "REPLENIT_STATE_URL" in str(refused.value) and "replenit:****@127.0.0.1:9" in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert all(SECRET not in text for text in shown), [t for t in shown if SECRET in t]
    assert f"{ROLE}:****@" in repr(settings)


def test_the_quota_view_reads_the_keys_and_runs_in_postgres(tmp_path, postgres_url, monkeypatch):
    from replenit_pipelines.lib.plan.view import current_quota_view

    monkeypatch.setenv("REPLENIT_STATE_URL", postgres_url)
    limits = [(100, 60.0), (5000, 3600.0)]
    limiter = QuotaLimiter(limits, tmp_path / "quota" / ledger_name(SANDBOX, "key-a"))
    for _ in range(7):
        limiter.acquire("fresh")
    store = open_state_store(tmp_path / "state.duckdb")
    store.record("run-1", "2026-11-26", "customers", quarantine(0), dead_letters(0),
                 run_row(run_id="run-1", partition_key="2026-11-26", requests=7))
    # Nothing on disk: both the key's counts and the runs come from Postgres.
    view = current_quota_view(tmp_path / "quota", limits, tmp_path / "state.duckdb", [])
    assert not (tmp_path / "quota").exists() and not (tmp_path / "state.duckdb").exists()
    assert [w["spent"] for w in view["keys"][0]["windows"]] == [7, 7]
    assert {e["entity"]: e["requests"] for e in view["requests_last_24h"]} == {"customers": 7}


def test_replenit_state_shows_the_postgres_ledgers_and_their_retry_queues(tmp_path, postgres_url, monkeypatch):
    from replenit_pipelines.lib.ledger.retries import failures_to_queue

    with open_ledger(tmp_path, SANDBOX, TENANT, "orders", state_url=postgres_url) as ledger:
        ledger.acknowledge(["o1", "o2"], [b"h" * 16, b"i" * 16], "run-1")
        ledger.queue_failures(failures_to_queue(["o3"], [b'{"OrderId":"o3"}'], [b"j" * 16], ["failed"], ["503 twice"], "run-1"))
    monkeypatch.setenv("REPLENIT_STATE_URL", postgres_url)
    monkeypatch.chdir(tmp_path)  # no state folder: everything is read from Postgres
    run = [sys.executable, "-m", "replenit_pipelines.cli", "state"]
    summary = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert summary.returncode == 0, summary.stderr
    assert "orders" in summary.stdout and SECRET not in summary.stdout
    queue = subprocess.run([*run, "--retries", "orders"], capture_output=True, text=True, timeout=120)
    assert queue.returncode == 0, queue.stderr
    assert "o3" in queue.stdout and "503 twice" in queue.stdout


def test_an_acknowledgement_log_from_before_issue_28_loses_its_unread_index_and_keeps_its_rows(postgres_url, tmp_path):
    """The log's seq index cost a third of each acknowledgement's WAL and nothing read it: a database
    made before drops it when a ledger opens, and the log's unfolded rows still count."""
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("CREATE TABLE ledger_acks (ledger_id INTEGER NOT NULL, seq BIGSERIAL PRIMARY KEY, identity TEXT NOT NULL, "
                    "idkey BIGINT NOT NULL, hash BYTEA NOT NULL, exact BYTEA, acked_at BIGINT NOT NULL, run_id TEXT, api_id TEXT)")
    ledger = open_ledger(tmp_path, "http://127.0.0.1:8765", TENANT, "customers", state_url=postgres_url)
    try:
        ledger.acknowledge(["customerid:a", "customerid:b"], [b"h" * 16, b"i" * 16], "run-1")
        ledger.acknowledge(["customerid:a"], [b"j" * 16], "run-2")  # newer: wins, before and after the fold
        with psycopg.connect(postgres_url, autocommit=True) as con:
            assert con.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'ledger_acks'").fetchone()[0] == 0
        assert ledger.pending_compaction() == 3 and ledger.size() == 2
        assert dict(ledger.lookup(["customerid:a"]).select("identity", "hash").iter_rows()) == {"customerid:a": b"j" * 16}
        ledger.compact()
        assert ledger.pending_compaction() == 0 and ledger.size() == 2
        assert dict(ledger.lookup(["customerid:a"]).select("identity", "hash").iter_rows()) == {"customerid:a": b"j" * 16}
    finally:
        ledger.close()


def test_namespaces_keep_two_tenants_state_apart_on_one_database(postgres_url, monkeypatch, tmp_path):
    """Two component instances (tenants) on one REPLENIT_STATE_URL: each store's tables are in its
    own schema, so one's quarantine and run counts (its gate's baseline) never show in the other's;
    the CLI reads one through the URL's search path."""
    url = StateUrl(postgres_url)
    brand_a, brand_b = PostgresStateStore(url, "replenit_state_brand_a"), PostgresStateStore(url, "replenit_state_brand_b")
    assert "brand_a" in repr(brand_a) and SECRET not in repr(brand_a)
    brand_a.record("run-a", "2026-11-26", "customers", quarantine(4), dead_letters(1), run_row(run_id="run-a", partition_key="2026-11-26", rows_read=40))
    brand_b.record("run-b", "2026-11-26", "customers", quarantine(1), dead_letters(0), run_row(run_id="run-b", partition_key="2026-11-26", rows_read=9))
    assert brand_a.query("SELECT run_id FROM sync_runs").rows() == [("run-a",)]
    assert brand_b.query("SELECT count(*) FROM quarantine").rows() == [(1,)]
    assert [r.rows_read for r in brand_b.recent_runs("customers", 5)] == [9]
    shared = PostgresStateStore(url)  # the default instance: the URL's own search path (public)
    assert shared.query("SELECT count(*) FROM sync_runs").rows() == [(0,)]
    with psycopg.connect(postgres_url) as con:
        tables = con.execute("SELECT table_schema, count(*) FROM information_schema.tables WHERE table_name IN "
                             "('quarantine', 'dead_letters', 'sync_runs') GROUP BY 1 ORDER BY 1").fetchall()
    assert tables == [("public", 3), ("replenit_state_brand_a", 3), ("replenit_state_brand_b", 3)]
    # `replenit state` on one instance's tables: the URL's options name its schema.
    sep = "&" if "?" in postgres_url else "?"
    monkeypatch.setenv("REPLENIT_STATE_URL", f"{postgres_url}{sep}options=-csearch_path%3Dreplenit_state_brand_a")
    monkeypatch.chdir(tmp_path)
    out = subprocess.run([sys.executable, "-m", "replenit_pipelines.cli", "state", "--json",
                          "SELECT run_id, rows_read FROM sync_runs"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "run-a" in out.stdout and "run-b" not in out.stdout


def test_the_reconnect_patience_is_read_from_its_variable_and_a_bad_value_says_what_to_give():
    from replenit_pipelines.lib.postgres import DEFAULT_RECONNECT_S, PostgresError, reconnect_patience_s

    assert reconnect_patience_s({}) == DEFAULT_RECONNECT_S == 60.0
    assert reconnect_patience_s({"REPLENIT_STATE_RECONNECT_S": " 5 "}) == 5.0
    assert reconnect_patience_s({"REPLENIT_STATE_RECONNECT_S": "0"}) == 0.0
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(PostgresError, match=r"REPLENIT_STATE_RECONNECT_S is '.*': give the seconds a run waits .*0: fail at once"):
            reconnect_patience_s({"REPLENIT_STATE_RECONNECT_S": bad})
