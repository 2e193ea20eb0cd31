"""`Ledger.entries` (what a sample sync shows the ledger holds): one row per acknowledged identity
asked, with its hash, time and run, however many are asked (four rows of four columns included)."""

from contextlib import closing

from replenit_pipelines.lib.ledger import open_ledger

BASE_URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_the_entries_of_four_identities_are_four_rows(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    ids = [f"customerid:c{i}" for i in range(4)]
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        ledger.acknowledge(ids, [bytes([i]) * 16 for i in range(4)], "run-1")
        entries = ledger.entries([*ids, "customerid:nobody"])
    assert entries.columns == ["identity", "hash", "acked_at", "run_id"]
    assert entries.select("identity", "hash", "run_id").rows() == [(i, bytes([n]) * 16, "run-1") for n, i in enumerate(ids)]
