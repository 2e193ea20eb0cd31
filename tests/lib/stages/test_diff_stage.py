"""The diff stage (lib/stages/diff.py) against a real ledger file: what the ledger holds as it is
costs nothing, unless a full refresh is asked for."""

from contextlib import closing

from helpers import CUSTOMER_MAPPING, customer_rows, run

from replenit_pipelines.lib.ledger import failures_to_queue, open_ledger
from replenit_pipelines.lib.stages.diff import diff

BASE_URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_acknowledged_records_are_not_sent_again_unless_a_full_refresh_is_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    prepared = run(CUSTOMER_MAPPING, [customer_rows(id=f"c{i}", email=f"user{i}@example.com") for i in range(3)])
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        first = diff(prepared, ledger)
        assert (len(first.to_send), first.records_new) == (3, 3)
        ledger.acknowledge(first.keys, first.hashes, "run-1", first.exact)
        again = diff(prepared, ledger)  # the default: an incremental run
        assert (again.to_send, again.records_unchanged, again.rows_unchanged, again.full_refresh) == ([], 3, 3, False)
        refresh = diff(prepared, ledger, full_refresh=True)
        assert (len(refresh.to_send), refresh.records_refreshed, refresh.full_refresh) == (3, 3, True)


def test_a_record_whose_retries_ran_out_is_held_while_its_content_is_the_same(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    prepared = run(CUSTOMER_MAPPING, [customer_rows(id="c1", email="user1@example.com")])
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        first = diff(prepared, ledger)
        ledger.queue_failures(failures_to_queue(first.keys, first.parts, first.hashes, ["failed"], ["HTTP 503"], "run-1"))
        ledger.set_retry_status(first.keys, "needs_attention")  # the retries ran out: only a replay re-sends it
        again = diff(prepared, ledger)
    assert (again.to_send, again.records_held, again.rows_held) == ([], 1, 1)
