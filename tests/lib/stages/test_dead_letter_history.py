"""A dead letter's retry history (lib/stages/acknowledge.py with_history): its attempts, first and
last failure as UTC times, and last reason, from the retry queue of a real ledger file."""

from contextlib import closing
from datetime import UTC, datetime

import polars as pl

from replenit_pipelines.lib.ledger import failures_to_queue, open_ledger
from replenit_pipelines.lib.stages.acknowledge import with_history

BASE_URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_a_dead_letters_failures_are_utc_times(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        before = datetime.now(UTC).replace(microsecond=0)
        ledger.queue_failures(failures_to_queue(["customerid:c1"], [b"{}"], [b"h" * 16], ["failed"], ["HTTP 503"], "run-1"))
        ledger.queue_failures(failures_to_queue(["customerid:c1"], [b"{}"], [b"h" * 16], ["failed"], ["HTTP 502"], "run-2"))
        letters = with_history(pl.DataFrame({"record_id": ["customerid:c1", "customerid:c2"]}), ledger)
    utc = pl.Datetime("us", "UTC")
    assert (letters.schema["first_failure"], letters.schema["last_failure"]) == (utc, utc)
    first, last = letters["first_failure"][0], letters["last_failure"][0]
    assert before <= first <= last <= datetime.now(UTC)  # aware datetimes: a naive one would not compare
    assert letters.select("record_id", "attempts", "last_reason").rows() == [
        ("customerid:c1", 2, "HTTP 502"),
        ("customerid:c2", None, None),
    ]
