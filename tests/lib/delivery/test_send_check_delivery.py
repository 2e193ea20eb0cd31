"""The send-time check in the client (`before_send`): asked right before every attempt, after its
quota wait, so that a 400's re-send and a 5xx's retry are checked again; what it takes out is
settled as skipped, never sent. Scripted answers (test_client_faults.FaultServer) on a fake clock:
the sandbox cannot answer a 400 or a 500 on cue."""

import time

import httpx
import pytest
from helpers import FakeClock
from test_client_faults import FaultServer, customers, make_client

from replenit_pipelines.lib import delivery
from replenit_pipelines.lib.delivery import SendCheckError, batching


@pytest.fixture
def clock():
    return FakeClock(time.time())


class Check:
    """Each call answers with the next scripted drop set ({index: why}); calls are recorded."""

    def __init__(self, *drops: dict[int, str]):
        self.drops, self.calls = list(drops), []

    def __call__(self, batch: list[int]) -> dict[int, str]:
        self.calls.append(list(batch))
        return self.drops.pop(0) if self.drops else {}


def deliver(client, n: int, check) -> delivery.DeliveryReport:
    parts = batching.serialize(customers(n))
    return client.deliver_planned("customers", parts, client.plan("customers", parts), None, None, check)


def emails(records) -> list[str]:
    return [r["Email"] for r in records]


def test_a_400s_re_send_is_checked_again(clock, tmp_path):
    bad_1 = httpx.Response(400, json={"message": "Validation failed", "errors": {"[1].Email": ["is invalid"]}})
    server = FaultServer(clock, script=[bad_1])
    check = Check({}, {3: "newer_elsewhere"})
    report = deliver(make_client(tmp_path, server), 5, check)
    assert check.calls == [[0, 1, 2, 3, 4], [0, 2, 3, 4]]
    assert emails(server.seen[1][2]) == ["user0@example.com", "user2@example.com", "user4@example.com"]
    assert report.skipped == {3: "newer_elsewhere"} and sorted(report.accepted) == [0, 2, 4] and list(report.rejected) == [1]


def test_a_5xx_retry_is_checked_again_after_its_backoff(clock, tmp_path):
    server = FaultServer(clock, script=[httpx.Response(503)])
    check = Check({}, {0: "stored_elsewhere"})
    report = deliver(make_client(tmp_path, server), 3, check)
    assert server.sizes == [3, 2] and len(check.calls) == 2
    assert report.skipped == {0: "stored_elsewhere"} and sorted(report.accepted) == [1, 2]


def test_a_body_with_nothing_left_is_not_sent_and_its_quota_slot_is_given_back(clock, tmp_path):
    server = FaultServer(clock)
    client = make_client(tmp_path, server, batch_sizes={"customers": 3})
    report = deliver(client, 6, Check({0: "a", 1: "a", 2: "b"}))  # the first body: nothing left
    assert emails(r for _, _, records in server.seen for r in records) == [f"user{i}@example.com" for i in (3, 4, 5)]
    assert report.counters.requests == 1 and report.skipped == {0: "a", 1: "a", 2: "b"} and sorted(report.accepted) == [3, 4, 5]
    # The key's windows count the one request sent, not the slot taken for the body that had nothing left.
    assert set(client.quota.used().values()) == {1}
    assert sum(n for windows in client.quota.lane_counts().values() for per in windows.values() for n in per.values()) == 1


def test_a_check_that_cannot_ask_the_ledger_stops_the_delivery_before_sending(clock, tmp_path):
    def broken(batch):
        raise OSError("disk I/O error")

    server = FaultServer(clock)
    with pytest.raises(SendCheckError, match="could not check 3 records") as caught:
        deliver(make_client(tmp_path, server), 3, broken)
    assert server.seen == []
    assert caught.value.report is not None and caught.value.report.not_sent == {0, 1, 2}
    assert str(caught.value) == ("could not check 3 records against the ledger before sending them "
                                 "(OSError: disk I/O error); delivery stopped: the next run sends them")


def test_without_a_check_every_record_is_sent(clock, tmp_path):
    server = FaultServer(clock)
    report = deliver(make_client(tmp_path, server), 3, None)
    assert server.sizes == [3] and sorted(report.accepted) == [0, 1, 2] and report.skipped == {}


def test_both_halves_of_a_400_split_are_checked_again(clock, tmp_path):
    # A 400 whose errors name no record: the body is halved, and each half is a new request.
    unnamed = httpx.Response(400, json={"message": "Validation failed", "errors": {"$": ["is invalid"]}})
    server = FaultServer(clock, script=[unnamed])
    check = Check({}, {0: "newer_elsewhere"}, {3: "stored_elsewhere"})
    report = deliver(make_client(tmp_path, server), 4, check)
    assert check.calls == [[0, 1, 2, 3], [0, 1], [2, 3]]
    assert [emails(records) for _, _, records in server.seen[1:]] == [["user1@example.com"], ["user2@example.com"]]
    assert report.skipped == {0: "newer_elsewhere", 3: "stored_elsewhere"} and sorted(report.accepted) == [1, 2]
