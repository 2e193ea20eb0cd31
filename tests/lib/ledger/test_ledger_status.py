"""`replenit state`'s view of a ledger (lib/ledger/status.py): the age of its newest acknowledgement,
in days, hours and minutes; the acknowledgements not yet compacted; and, when the state database
cannot be reached, what to check."""

import re
from datetime import timedelta

import polars as pl
import pytest

from replenit_pipelines.lib.ledger import failures_to_queue, open_ledger
from replenit_pipelines.lib.ledger.status import ledger_status, retry_queue
from replenit_pipelines.lib.postgres import PostgresError, StateUrl

SANDBOX, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_the_newest_acknowledgements_age_is_days_hours_and_minutes(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["customerid:c1"], [b"h" * 16], "run-1")
    newest = ledger_status(tmp_path)["newest_ack"][0]
    ages = [ledger_status(tmp_path, now=newest + gone)["age"][0] for gone in (
        timedelta(days=2, hours=23, minutes=59, seconds=59), timedelta(days=1), timedelta(minutes=5), -timedelta(hours=1))]
    assert ages == ["2d 23h 59m", "1d 0h 0m", "0h 5m", "0h 0m"]  # a clock behind the ledger's: no negative age


def test_the_status_counts_the_acknowledgements_waiting_for_compaction(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["customerid:c1", "customerid:c2"], [b"h" * 16, b"i" * 16], "run-1")
        ledger.acknowledge(["customerid:c1"], [b"j" * 16], "run-2")
    status = ledger_status(tmp_path)
    assert status.select("ledger_size", "pending_compaction").rows() == [(2, 3)]
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.compact()
    assert ledger_status(tmp_path).select("ledger_size", "pending_compaction").rows() == [(2, 0)]


def test_the_status_of_an_unreachable_state_database_says_what_to_check():
    url = StateUrl("postgresql://replenit:s3cr3t@127.0.0.1:9/replenit")  # nothing listens on port 9
    with pytest.raises(PostgresError) as refused:
        ledger_status("unused", state_url=url)
    assert re.match(r"^ledger status: cannot connect to postgresql://replenit:\*\*\*\*@127\.0\.0\.1:9/replenit \(.+\): "
                    r"check REPLENIT_STATE_URL, that the server is up and that the user may connect$", str(refused.value))


def test_the_retry_queue_names_each_entrys_ledger_scope(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    other = "9b2e8f40-0000-4000-8000-000000000001"
    scopes = []
    for tenant, identity in ((TENANT, "customerid:c1"), (other, "customerid:c2")):
        with open_ledger(tmp_path, SANDBOX, tenant, "customers") as ledger:
            ledger.queue_failures(failures_to_queue([identity], [b"{}"], [b"h" * 16], ["failed"], ["HTTP 503"], "run-1"))
            scopes.append((ledger.scope, identity))
    queue = retry_queue(tmp_path, "customers")
    assert queue["scope"].dtype == pl.String
    assert sorted(queue.select("scope", "identity").rows()) == sorted(scopes)


def test_the_retry_queue_shows_each_entrys_first_and_last_failure_as_utc_times(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.queue_failures(failures_to_queue(["customerid:c1"], [b"{}"], [b"h" * 16], ["failed"], ["HTTP 503"], "run-1"))
        ledger.queue_failures(failures_to_queue(["customerid:c1"], [b"{}"], [b"h" * 16], ["failed"], ["HTTP 502"], "run-2"))
        ms = ledger.queued().select("first_failure", "last_failure").row(0)
    queue = retry_queue(tmp_path, "customers")
    assert queue.columns == ["scope", "identity", "status", "attempts", "first_failure", "last_failure", "last_reason"]
    for column in ("first_failure", "last_failure"):
        dtype = queue.schema[column]
        assert isinstance(dtype, pl.Datetime) and dtype.time_zone == "UTC"
    first, last = queue.row(0, named=True)["first_failure"], queue.row(0, named=True)["last_failure"]
    assert (int(first.timestamp() * 1000), int(last.timestamp() * 1000)) == ms and first <= last
    assert queue.select("identity", "status", "attempts", "last_reason").rows() == [("customerid:c1", "failed", 2, "HTTP 502")]


def test_the_retry_queue_of_an_entity_with_no_ledger_is_empty_with_its_scope_and_identity_columns(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with open_ledger(tmp_path, SANDBOX, TENANT, "orders") as ledger:  # another entity's ledger only
        ledger.queue_failures(failures_to_queue(["orderid:o1"], [b"{}"], [b"h" * 16], ["failed"], ["HTTP 503"], "run-1"))
    queue = retry_queue(tmp_path, "customers")
    assert queue.height == 0 and queue.schema == pl.Schema({"scope": pl.String, "identity": pl.String})
