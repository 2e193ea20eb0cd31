"""The acknowledge stage (lib/stages/acknowledge.py) after a serializer change: records whose bytes
are new but whose content the ledger holds are not sent, and the stage restamps their exact hashes
so that the next run compares bytes only (the fast path). A real ledger file."""

from contextlib import closing

from helpers import CUSTOMER_MAPPING, customer_rows, run

from replenit_pipelines.lib.ledger import open_ledger
from replenit_pipelines.lib.stages.acknowledge import acknowledge
from replenit_pipelines.lib.stages.diff import diff
from replenit_pipelines.lib.stages.plan import Plan

BASE_URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_unchanged_records_in_new_bytes_are_restamped_by_the_acknowledge_stage(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    prepared = run(CUSTOMER_MAPPING, [customer_rows(id=f"c{i}", email=f"user{i}@example.com") for i in range(3)])
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        first = diff(prepared, ledger)
        # Acknowledged by an older serializer: the same content, other bytes (so another exact hash).
        ledger.acknowledge(first.keys, first.hashes, "run-0", [bytes([i]) * 16 for i in range(3)])
        changes = diff(prepared, ledger)
        assert (changes.to_send, changes.records_unchanged) == ([], 3)
        assert changes.restamp is not None and sorted(changes.restamp["identity"].to_list()) == sorted(first.keys)
        done = acknowledge(prepared, changes, Plan("customers", [], []), None, ledger, "run-1")
        assert (done.rows_delivered, done.rows_dead_lettered) == (0, 0)
        stored = dict(ledger.lookup(first.keys).select("identity", "exact").iter_rows())
        assert stored == dict(zip(first.keys, first.exact, strict=True))  # the bytes sent now
        again = diff(prepared, ledger)
        assert again.records_unchanged == 3 and (again.restamp is None or again.restamp.height == 0)
