"""A dead API stops the delivery at once with what to check, instead of spending every batch's
retries (issue 14's "fail fast on an unreachable API", for the client, the sync and push)."""

import socket

import httpx
import pytest

from replenit_pipelines import cli
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient, UnreachableError

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def records(n: int) -> list[dict]:
    return [{"CustomerId": f"c{i}", "Email": f"u{i}@example.com"} for i in range(n)]


def scripted_link_config(tmp_path) -> ClientConfig:
    """Batches of 10, two attempts each, one in flight, three batches in a row without an answer
    stop the delivery: for a transport that scripts each request's fate."""
    return ClientConfig(base_url="http://127.0.0.1:9", tenant_id=TENANT, api_key="a2V5", limits=(),
                        quota_dir=str(tmp_path / "q"), batch_sizes={"customers": 10}, max_attempts=2,
                        backoff_base_s=0.001, backoff_cap_s=0.002, max_in_flight=1, max_unreachable_batches=3)


def deliver_until_unreachable(config: ClientConfig, handler):
    """100 customers over the scripted transport; the delivery must stop as unreachable: its report."""
    with ReplenitClient(config, transport=httpx.MockTransport(handler)) as client, \
            pytest.raises(UnreachableError) as caught:
        client.deliver("customers", records(100))
    return caught.value.report


def sync_until_unreachable(tmp_path, rows: list[dict], days: int = 1, **request):
    """A sync of `rows` (customers, from DAY over `days` days) against an API nobody answers,
    batches of 10: the result the UnreachableError carries, and the API's URL (the ledger's scope)."""
    from datetime import timedelta

    from helpers import CUSTOMER_MAPPING
    from test_ledger_sync import DAY, write_table

    from replenit_pipelines.lib.ledger import open_ledger
    from replenit_pipelines.lib.sync import SyncRequest, sync_window
    from replenit_pipelines.lib.warehouse import Warehouse

    url = closed_port_url()
    write_table(tmp_path / "wh.duckdb", "customers", rows)
    config = ClientConfig(base_url=url, tenant_id=TENANT, api_key="a2V5", limits=(), quota_dir=str(tmp_path / "q"),
                          batch_sizes={"customers": 10}, max_attempts=2, backoff_base_s=0.01, backoff_cap_s=0.02)
    with ReplenitClient(config) as client, open_ledger(tmp_path / "state", url, TENANT, "customers") as ledger, \
            pytest.raises(UnreachableError) as caught:
        sync_window(SyncRequest(mapping=CUSTOMER_MAPPING, warehouse=Warehouse(tmp_path / "wh.duckdb"), client=client,
                                store=None, start=DAY, end=DAY + timedelta(days=days), run_id="r1", ledger=ledger, **request))
    return caught.value.result, url  # type: ignore[attr-defined]


def test_an_unreachable_api_stops_after_the_first_batch_with_what_to_check(tmp_path):
    url = closed_port_url()
    config = ClientConfig(base_url=url, tenant_id=TENANT, api_key="a2V5", limits=(), quota_dir=str(tmp_path / "q"),
                          batch_sizes={"customers": 10}, max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.02)
    with ReplenitClient(config) as client, pytest.raises(UnreachableError) as caught:
        client.deliver("customers", records(100))
    report = caught.value.report
    assert report is not None and report.counters.requests == 3  # one batch's attempts, not ten batches' worth
    assert len(report.failed) == 100 and not report.accepted
    assert report.not_sent == set(range(10, 100))  # the first batch was tried; the other nine never were
    message = str(caught.value)
    assert f"cannot reach {url}" in message and "REPLENIT_BASE_URL" in message


def test_several_batches_in_a_row_without_an_answer_stop_a_delivery_that_began_well(tmp_path):
    sent: list[int] = []

    def first_then_dead(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        if len(sent) == 1:
            return httpx.Response(200, json={"success": True})
        raise httpx.ConnectError("connection refused", request=request)

    config = scripted_link_config(tmp_path)
    report = deliver_until_unreachable(config, first_then_dead)
    assert report is not None and len(report.accepted) == 10
    assert len(sent) == 1 + 3 * 2  # the first batch, then three batches of two attempts each; no more
    assert len(report.failed) == 90


def test_push_to_an_unreachable_api_says_so_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    path = tmp_path / "c.ndjson"
    path.write_text("\n".join(f'{{"CustomerId": "c{i}", "Email": "u{i}@example.com"}}' for i in range(60)) + "\n")
    monkeypatch.chdir(tmp_path)
    for k, v in {"REPLENIT_BASE_URL": closed_port_url(), "REPLENIT_TENANT_ID": TENANT, "REPLENIT_API_KEY": "a2V5",
                 "REPLENIT_STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(k, v)
    code = cli.main(["push", "customers", str(path), "--limits", "off", "--batch-size", "10"])
    err = capsys.readouterr().err
    assert code == 3
    assert "cannot reach" in err and "REPLENIT_BASE_URL" in err


def test_a_sync_stopped_by_an_unreachable_api_holds_back_what_it_never_sent_and_queues_it(tmp_path):
    """Issue 14: the rest is left unsent and counted as not attempted, nothing dead-lettered for it;
    it is queued, so the next run of the entity sends it first."""
    from test_ledger_sync import customers

    from replenit_pipelines.lib.ledger import open_ledger

    result, url = sync_until_unreachable(tmp_path, customers(100), partition_key="2026-11-26")
    c = result.counts()
    assert result.balanced(), c
    assert (c["rows_delivered"], c["rows_dead_lettered"], c["rows_held_back"], c["rows_not_attempted"]) == (0, 10, 90, 90)
    assert (c["records_sent"], c["records_failed"], c["records_not_attempted"]) == (10, 10, 90)  # the first batch's ten tried
    assert set(result.report.not_sent) == set(range(10, 100))
    with open_ledger(tmp_path / "state", url, TENANT, "customers") as ledger:
        assert ledger.queued().height == 100  # the ten tried and the ninety never sent: all go first next time


def test_a_batch_that_failed_on_answers_breaks_the_run_of_batches_without_one(tmp_path):
    """Accepted, then a batch whose attempts all got 500 (answered: not unreachable), then silence:
    the count of batches in a row without an answer starts after the 500s, so three more are tried."""
    sent: list[int] = []

    def accepted_then_500s_then_dead(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        if len(sent) == 1:
            return httpx.Response(200, json={"success": True})
        if len(sent) <= 3:
            return httpx.Response(500, json={"message": "boom"})
        raise httpx.ConnectError("connection refused", request=request)

    config = scripted_link_config(tmp_path)
    report = deliver_until_unreachable(config, accepted_then_500s_then_dead)
    assert report is not None and len(report.accepted) == 10
    assert len(sent) == 1 + 2 + 3 * 2  # the first batch, the 500s' two attempts, then three silent batches
    assert report.not_sent == set(range(50, 100))


def test_a_range_run_stopped_by_an_unreachable_api_counts_each_days_sent_records_apart_from_the_unsent(tmp_path):
    """A single-run backfill over two days, stopped after its first batch: each day's records_sent
    are its records that went out, never those the stop left unsent, and the days add up to the run."""
    from datetime import timedelta

    from test_ledger_sync import DAY, customers

    from replenit_pipelines.lib.stages.lookback import partition_counts, window_counts

    day2 = DAY + timedelta(days=1)
    result, _ = sync_until_unreachable(tmp_path, customers(40) + customers(60, at=day2, first=40), days=2,
                                       partition_key="range", partition_starts=(DAY, day2))
    parts, (own, _) = partition_counts(result, 2), window_counts(result)
    assert (own["records_sent"], own["rows_not_attempted"]) == (10, 90)
    assert [p["records_sent"] for p in parts] == [10, 0]  # day 2 was -30 when the split counted unsent records as sent
    assert [p["records_sent"] + p["rows_not_attempted"] for p in parts] == [40, 60]  # one row a record here
