"""The retry queue (lib/ledger/retries.py) over a real ledger file."""

import time
from contextlib import closing

import polars as pl
import pytest

from replenit_pipelines.lib.ledger import (
    Ledger,
    content_hash,
    diff,
    failures_to_queue,
    hold_unchanged_rejections,
    open_ledger,
    plan_retries,
)
from replenit_pipelines.lib.validation import payload_parts

BASE_URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def payload(customer: str, name: str) -> bytes:
    return f'{{"CustomerId":"{customer}","Name":"{name}"}}'.encode()


def queue(ledger: Ledger, customer: str, name: str, status: str, run_id: str = "run-1") -> None:
    p = payload(customer, name)
    ledger.queue_failures(failures_to_queue([f"customerid:{customer}"], [p], [content_hash(p)], [status],
                                            ["HTTP 503" if status == "failed" else "Email: invalid"], run_id))


def plan(ledger: Ledger, current: list[str] | None = None, **kw):
    queued = ledger.queued()
    return plan_retries(queued, ledger.lookup(queued["identity"]), pl.Series(current or [], dtype=pl.String), **kw)


@pytest.fixture
def ledger(tmp_path, state_backend):  # the SQLite file and the Postgres ledger (REPLENIT_STATE_URL)
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as opened:
        yield opened


def test_failed_records_are_resent_until_the_attempts_cap(ledger):
    queue(ledger, "c1", "Ann", "failed")
    for attempt in (1, 2):
        p = plan(ledger, max_attempts=3)
        assert p.send["identity"].to_list() == ["customerid:c1"] and p.send["attempts"][0] == attempt
        queue(ledger, "c1", "Ann", "failed", run_id=f"run-{attempt + 1}")  # the re-send failed again
    p = plan(ledger, max_attempts=3)
    assert p.send.height == 0 and p.exhausted["identity"].to_list() == ["customerid:c1"]
    entry = ledger.queued().row(0, named=True)
    assert entry["attempts"] == 3 and entry["first_failure"] <= entry["last_failure"] and entry["run_id"] == "run-3"
    ledger.set_retry_status(p.exhausted["identity"].to_list(), "needs_attention")
    assert plan(ledger, max_attempts=3).waiting["status"].to_list() == ["needs_attention"]
    # A replay sends it whatever its attempts.
    assert plan(ledger, max_attempts=3, replay=True).send["identity"].to_list() == ["customerid:c1"]


def test_new_content_for_a_queued_identity_starts_over(ledger):
    queue(ledger, "c1", "Ann", "failed")
    queue(ledger, "c1", "Ann", "failed")
    queue(ledger, "c1", "Anna", "failed")
    entry = ledger.queued().row(0, named=True)
    assert entry["attempts"] == 1 and entry["payload"] == payload("c1", "Anna")


def test_rejected_is_not_resent_until_its_content_changes(ledger):
    queue(ledger, "c1", "Ann", "rejected")
    p = plan(ledger)
    assert p.send.height == 0 and p.waiting["identity"].to_list() == ["customerid:c1"]
    # The same record arrives again through the normal path: held, not sent to be refused again.
    records = pl.DataFrame({"CustomerId": ["c1", "c2"], "Name": ["Ann", "Bo"], "__key": ["customerid:c1", "customerid:c2"],
                            "__rows": [1, 1]})
    d = diff(records, payload_parts(records), ledger.lookup(records["__key"]))
    send, held = hold_unchanged_rejections(d.send, ledger.queued())
    assert send["__key"].to_list() == ["customerid:c2"] and held["__key"].to_list() == ["customerid:c1"]
    # Fixed in the warehouse: new content goes through.
    fixed = records.with_columns(pl.lit("Ann Lee").alias("Name"))
    d = diff(fixed, payload_parts(fixed), ledger.lookup(fixed["__key"]))
    send, held = hold_unchanged_rejections(d.send, ledger.queued())
    assert send["__key"].to_list() == ["customerid:c1", "customerid:c2"] and held.height == 0
    assert plan(ledger, replay=True).send["identity"].to_list() == ["customerid:c1"]  # or an explicit replay


def test_a_queued_payload_never_overwrites_newer_data(ledger):
    queue(ledger, "c1", "Old", "failed")
    queue(ledger, "c2", "Old", "failed")
    queue(ledger, "c3", "Old", "failed")
    time.sleep(0.005)
    # c1: a newer version was acknowledged after the failure (and the acknowledgement dequeued it).
    ledger.acknowledge(["customerid:c1"], [content_hash(payload("c1", "New"))], "run-2")
    assert "customerid:c1" not in ledger.queued()["identity"].to_list()
    # Even if it were still queued (another writer, another backend), the plan drops it as stale.
    queue_row = failures_to_queue(["customerid:c1"], [payload("c1", "Old")], [content_hash(payload("c1", "Old"))],
                                  ["failed"], ["HTTP 503"], "run-1").with_columns(
        pl.lit(1).alias("attempts"), pl.lit(0).alias("first_failure"), pl.lit(0).alias("last_failure"))
    stale = plan_retries(queue_row.select(ledger.queued().columns), ledger.lookup(["customerid:c1"]))
    assert stale.stale["identity"].to_list() == ["customerid:c1"] and stale.send.height == 0
    # c2: this run carries c2 (whatever its content): its own version goes, not the queued one.
    p = plan(ledger, current=["customerid:c2"])
    assert p.deferred["identity"].to_list() == ["customerid:c2"]
    assert p.send["identity"].to_list() == ["customerid:c3"]
    # Every queued entry is in exactly one part of the plan.
    assert sum(f.height for f in (p.send, p.stale, p.deferred, p.exhausted, p.waiting)) == ledger.queued().height


@pytest.mark.parametrize("read_at", ["null", "no column"])
def test_an_entry_without_its_read_time_is_stale_only_if_acknowledged_after_its_failure(ledger, read_at):
    """An entry queued before read times were recorded (NULL, or a queue frame from before the
    column existed) is judged by the acknowledgement's time against its first failure: one in the
    same millisecond is not known to be newer, so the queued payload still goes."""
    ledger.acknowledge(["customerid:c1"], [content_hash(payload("c1", "New"))], "run-2")
    acked_at = ledger.lookup(["customerid:c1"])["acked_at"][0]

    def planned(first_failure: int) -> tuple[list[str], list[str]]:
        row = failures_to_queue(["customerid:c1"], [payload("c1", "Old")], [content_hash(payload("c1", "Old"))], ["failed"],
                                ["HTTP 503"], "run-1").with_columns(
            pl.lit(1).alias("attempts"), pl.lit(first_failure).alias("first_failure"), pl.lit(first_failure).alias("last_failure"))
        row = row.select(ledger.queued().columns)
        p = plan_retries(row if read_at == "null" else row.drop("read_at"), ledger.lookup(["customerid:c1"]))
        return p.send["identity"].to_list(), p.stale["identity"].to_list()

    assert planned(acked_at) == (["customerid:c1"], [])  # acknowledged in the failure's millisecond
    assert planned(acked_at - 1) == ([], ["customerid:c1"])  # acknowledged after it: newer data is stored


def test_a_successful_resend_leaves_the_queue(ledger):
    queue(ledger, "c1", "Ann", "failed")
    p = plan(ledger)
    sent = p.send.row(0, named=True)
    ledger.acknowledge([sent["identity"]], [sent["hash"]], "run-2")  # the re-send got its 200
    assert ledger.queued().height == 0
    assert ledger.lookup(["customerid:c1"])["hash"][0] == content_hash(payload("c1", "Ann"))


def test_a_queued_payload_read_after_the_stored_version_is_resent_though_acknowledged_before_it(ledger):
    """The read times decide, not the acknowledgement time: a late acknowledgement of an older read
    (a reconcile) leaves the queued newer payload to be sent, not dropped as stale."""
    older, newer = payload("c1", "Old"), payload("c1", "New")
    ledger.queue_failures(failures_to_queue(["customerid:c1"], [newer], [content_hash(newer)], ["failed"], ["HTTP 503"],
                                            "window-2", [2_000]))
    ledger.acknowledge(["customerid:c1"], [content_hash(older)], "reconcile", read_at=[1_000])  # acked now, read at 1000
    p = plan(ledger)
    assert p.send["identity"].to_list() == ["customerid:c1"] and p.stale.height == 0
    assert p.send["payload"].to_list() == [newer]


def test_failures_queued_without_a_read_time_are_queued_with_none(ledger):
    """`read_at` is optional in what queue_failures takes (a queue written before it was recorded):
    the entries are queued with no read time, which a later acknowledgement always supersedes."""
    p = payload("c1", "Ada")
    ledger.queue_failures(failures_to_queue(["customerid:c1"], [p], [content_hash(p)], ["failed"], ["HTTP 503"], "run-1")
                          .drop("read_at"))
    queued = ledger.queued()
    assert queued.select("identity", "status", "attempts", "last_reason", "run_id", "read_at").rows() == [
        ("customerid:c1", "failed", 1, "HTTP 503", "run-1", None)]


def test_holding_rejections_splits_the_diffs_records_into_two_frames_of_the_diffs_columns(ledger):
    # The split hands back the diff's own frame in two parts: no bookkeeping column of the split's left behind.
    queue(ledger, "c1", "Ann", "rejected")
    records = pl.DataFrame({"CustomerId": ["c1", "c2"], "Name": ["Ann", "Bo"], "__key": ["customerid:c1", "customerid:c2"],
                            "__rows": [1, 1]})
    d = diff(records, payload_parts(records), ledger.lookup(records["__key"]))
    send, held = hold_unchanged_rejections(d.send, ledger.queued())
    assert send.columns == d.send.columns and held.columns == d.send.columns
    assert pl.concat([send, held]).sort("__key").equals(d.send.sort("__key"))


def test_a_queued_payload_read_at_the_same_time_as_the_stored_version_is_resent(ledger):
    """Only a version read later supersedes a queued payload: one read at the same instant (another
    run's read, with other content) is no newer, so the queued payload goes, not dropped as stale."""
    stored, queued = payload("c1", "Stored"), payload("c1", "Queued")
    ledger.acknowledge(["customerid:c1"], [content_hash(stored)], "run-a", read_at=[1_000])
    ledger.queue_failures(failures_to_queue(["customerid:c1"], [queued], [content_hash(queued)], ["failed"], ["HTTP 503"],
                                            "run-b", [1_000]))
    p = plan(ledger)
    assert p.send["payload"].to_list() == [queued] and p.stale.height == 0


def test_only_failed_or_rejected_records_are_queued():
    with pytest.raises(ValueError, match=r"^a run queues only failed or rejected records, not accepted, skipped$"):
        failures_to_queue(["customerid:c1", "customerid:c2", "customerid:c3"], [b"{}"] * 3, [b"h" * 16] * 3,
                          ["skipped", "failed", "accepted"], ["", "HTTP 503", ""], "run-1")
