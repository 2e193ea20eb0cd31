"""The ledger's read times (the send-time check, issue 24): each acknowledgement keeps when the
warehouse read of its version began; `current_reads` answers one request's identities. SQLite
files and Postgres (`state_backend`)."""

import sqlite3

from replenit_pipelines.lib.ledger import SqliteLedger, failures_to_queue, open_ledger

SANDBOX = "http://127.0.0.1:8765"
TENANT = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
A, B, C = "email:a@x.io", "email:b@x.io", "email:c@x.io"


def h(text: str) -> bytes:
    return text.encode().ljust(16, b"\0")[:16]


def test_current_reads_are_the_newest_acknowledgements_read_times_across_log_and_keyed_table(tmp_path, state_backend):
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge([A, B], [h("a1"), h("b1")], "window-1", read_at=1_000)
        ledger.compact()
        ledger.acknowledge([A], [h("a2")], "window-2", read_at=2_000)  # in the log, newer than the keyed entry
        ledger.acknowledge([C], [h("c1")], "reconcile", read_at=[500])  # a read time per record
        got = ledger.current_reads([A, B, C, "email:nobody@x.io"])
        assert got == {A: (h("a2"), 2_000, "window-2"), B: (h("b1"), 1_000, "window-1"), C: (h("c1"), 500, "reconcile")}
        assert ledger.lookup([A])["read_at"].to_list() == [2_000]
        ledger.compact()  # folding keeps the read times
        assert ledger.current_reads([A, B, C]) == got


def test_the_log_is_read_only_when_another_run_has_acknowledgements_in_it(tmp_path, state_backend):
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge([A], [h("a1")], "window-1", read_at=1_000)
        ledger.compact()
        ledger.acknowledge([B], [h("b1")], "reconcile", read_at=1_500)  # the checking run's own chunk
        # Its own acknowledgements are never the newer read of another run: the log is not read.
        assert ledger.current_reads([A, B], "reconcile") == {A: (h("a1"), 1_000, "window-1")}
        ledger.acknowledge([A], [h("a2")], "window-2", read_at=2_000)  # a run beside it, not folded yet
        assert ledger.current_reads([A, B], "reconcile") == {A: (h("a2"), 2_000, "window-2"), B: (h("b1"), 1_500, "reconcile")}
        ledger.compact()
        assert ledger.current_reads([A, B], "reconcile") == {A: (h("a2"), 2_000, "window-2"), B: (h("b1"), 1_500, "reconcile")}


def test_an_acknowledgement_without_a_read_time_reads_as_its_acknowledgement_time(tmp_path, state_backend):
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge([A], [h("a1")], "old-code")
        acked_at = ledger.lookup([A])["acked_at"][0]
        assert ledger.current_reads([A])[A].read_at == acked_at


def test_an_acknowledgement_of_an_older_read_leaves_a_newer_queued_payload_in_the_queue(tmp_path, state_backend):
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.queue_failures(failures_to_queue([A, B], [b"{}", b"{}"], [h("a2"), h("b2")], ["failed", "failed"], ["HTTP 503"] * 2,
                                                "window-2", [2_000, 2_000]))
        ledger.acknowledge([A, B], [h("a1"), h("b3")], "reconcile", read_at=[1_000, 3_000])
        assert ledger.queued()["identity"].to_list() == [A]  # B's queued version is older than the one stored; A's is newer


def test_a_ledger_file_written_before_read_times_opens_and_gets_them(tmp_path):
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge([A], [h("a1")], "run-1")
        ledger.compact()
        path = ledger.path
    with sqlite3.connect(path) as con:  # the file as the code before issue 24 left it
        for table in ("ledger", "acks", "retries"):
            con.execute(f"ALTER TABLE {table} DROP COLUMN read_at")
        con.execute("DROP TABLE ack_runs")
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        assert ledger.current_reads([A])[A].read_at == ledger.lookup([A])["acked_at"][0]
        ledger.acknowledge([B], [h("b1")], "run-2", read_at=5)
        assert ledger.current_reads([B], "run-3") == {B: (h("b1"), 5, "run-2")}


def test_checks_and_acknowledgements_from_the_workers_of_one_ledger_never_collide(tmp_path, state_backend):
    """The client's workers acknowledge and check through one connection at once (as a delivery
    with several requests in flight does): a COMMIT while another thread's read was still stepping
    failed with "database is locked" before reads took the connection's lock."""
    import threading

    errors: list[BaseException] = []
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["email:other@x.io"], [h("o")], "other-run", read_at=1)  # the check reads the log too

        def acknowledging(worker: int) -> None:
            try:
                for b in range(40):
                    ids = [f"email:{worker}-{b}-{j}@x.io" for j in range(50)]
                    ledger.acknowledge(ids, [h(f"{worker}{b}")] * 50, "run", read_at=b)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        def checking(worker: int) -> None:
            try:
                for b in range(40):
                    ledger.current_reads([f"email:{(worker + 1) % 3}-{b}-{j}@x.io" for j in range(50)], "run")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=f, args=(w,)) for w in range(3) for f in (acknowledging, checking)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert ledger.size() == 3 * 40 * 50 + 1
