"""The last progress event of a delivery stopped by a refused key (401) mid-way, against the
sandbox over HTTP: it is the final event, says why the delivery stopped, and counts the records
never sent; its log line says "stopped" (the sync logs it, `replenit push` streams)."""

import orjson
import pytest

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient, UnauthorizedError
from replenit_pipelines.lib.delivery.report import BatchProgress, progress_line


def client_for(sandbox, tmp_path) -> tuple[ReplenitClient, str]:
    tenant_id, key = sandbox.add_tenant()
    config = ClientConfig(
        base_url=sandbox.url,
        tenant_id=tenant_id,
        api_key=key,
        limits=(),
        max_in_flight=1,
        batch_sizes={"customers": 5},
        quota_dir=str(tmp_path / "quota"),
    )
    return ReplenitClient(config), key


def revoking(sandbox, key: str, events: list[BatchProgress]):
    def progress(event: BatchProgress) -> None:
        events.append(event)
        if event.accepted:
            sandbox.state.keys.pop(key, None)  # the key revoked on the tenant's side

    return progress


def customers(n: int) -> list[dict]:
    return [{"CustomerId": f"c{i}", "Email": f"c{i}@example.com"} for i in range(n)]


def check_last_event(events: list[BatchProgress], exc: UnauthorizedError) -> None:
    last = events[-1]
    assert last.final is True and last.stopped == str(exc)
    line = progress_line("customers", last)
    assert line.startswith("customers stopped after 2 requests: 5 of 20 records accepted, 0 rejected, ") and line.endswith(f"Why: {exc}")
    assert not any(e.final or e.stopped for e in events[:-1])


def test_a_planned_delivery_stopped_by_a_refused_key_ends_on_a_final_event_that_says_why(sandbox, tmp_path):
    client, key = client_for(sandbox, tmp_path)
    events: list[BatchProgress] = []
    with client, pytest.raises(UnauthorizedError) as caught:
        client.deliver("customers", customers(20), revoking(sandbox, key, events))
    check_last_event(events, caught.value)
    assert progress_line("customers", events[-1]) == (
        "customers stopped after 2 requests: 5 of 20 records accepted, 0 rejected, 0 failed, 15 not sent; "
        f"0 answers 429 (rate limited), 0 retries. Why: {caught.value}"
    )


def test_a_streamed_delivery_stopped_by_a_refused_key_ends_on_a_final_event_that_says_why(sandbox, tmp_path):
    client, key = client_for(sandbox, tmp_path)
    events: list[BatchProgress] = []
    parts = ((i, orjson.dumps(r)) for i, r in enumerate(customers(20)))
    with client, pytest.raises(UnauthorizedError) as caught:
        client.deliver_stream("customers", parts, revoking(sandbox, key, events), records_total=20)
    check_last_event(events, caught.value)
    # Counted as the planned delivery counts them: the batch the 401 answered and the one queued
    # behind it were not sent, with the batch never read (it once said "0 failed, 5 not sent",
    # 10 of the 20 records in no count, and "failed" for records never sent).
    assert progress_line("customers", events[-1]) == (
        "customers stopped after 2 requests: 5 of 20 records accepted, 0 rejected, 0 failed, 15 not sent; "
        f"0 answers 429 (rate limited), 0 retries. Why: {caught.value}"
    )
    report = caught.value.report
    assert report.accepted_count == 5 and report.rejected == {} and set(report.failed) == report.not_sent
    assert len(report.not_sent) + report.accepted_count == report.records_done
