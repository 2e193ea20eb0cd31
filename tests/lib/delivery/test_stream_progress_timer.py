"""A streamed delivery (`replenit push`) reports progress on its timer while reading waits for a
free slot behind batches in flight, and after the read while the last batches are in flight, not
only when a batch ends. The server holds one batch until
the progress events it expects have come (or gives up after 0.9 s): no timing is measured."""

import json
import threading

import httpx

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient

TENANT = "0f8fad5b-d9cb-469f-a165-70867728950e"
OK = {"success": True, "message": "Data received successfully", "data": {}}


def stream_with_second_batch_held(tmp_path, records: int):
    """`records` customers streamed one a batch, one in flight; the server holds the second batch
    until two progress events came (or 0.9 s): (report, requests, [released in time], events meanwhile)."""
    held = threading.Event()  # the server is holding the second batch
    released = threading.Event()  # two progress events came while it was held
    during: list = []
    released_in_time: list[bool] = []
    requests = 0

    def server(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        if requests == 2:
            held.set()
            released_in_time.append(released.wait(0.9))
            held.clear()
        return httpx.Response(200, json=OK)

    def progress(event) -> None:
        if held.is_set():
            during.append(event)
            if len(during) >= 2:
                released.set()

    config = ClientConfig(
        base_url="http://127.0.0.1:9",
        tenant_id=TENANT,
        api_key="a2V5LWZvci10ZXN0cw",
        limits=(),
        quota_dir=str(tmp_path / "quota"),
        batch_sizes={"customers": 1},
        max_in_flight=1,
        progress_every_s=0.05,
    )
    parts = [(i, json.dumps({"CustomerId": f"c{i}", "Email": f"c{i}@example.com"}).encode()) for i in range(records)]
    with ReplenitClient(config, transport=httpx.MockTransport(server)) as client:
        report = client.deliver_stream("customers", iter(parts), progress, records_total=records)
    return report, requests, released_in_time, during


def test_progress_events_come_on_the_timer_while_reading_waits_for_a_slot(tmp_path):
    report, requests, released_in_time, during = stream_with_second_batch_held(tmp_path, 6)
    # Batch 1 alone, batches 2 and 3 take the two slots (one in flight, one planned), batch 4's read
    # waits: the events come every 0.05 s meanwhile, while batch 2 is held.
    assert released_in_time == [True]
    assert report.accepted_count == 6 and requests == 6
    assert all(not e.final and e.records_done == 1 for e in during[:2])


def test_progress_events_come_on_the_timer_while_the_last_batches_are_in_flight(tmp_path):
    """The stream is read to its end: what is left is waiting for the batches in flight, which
    reports on the same timer (a last batch held in a quota wait must not leave the run silent)."""
    report, requests, released_in_time, during = stream_with_second_batch_held(tmp_path, 2)
    # Batch 1 alone, then batch 2 (the last) in flight with nothing left to read: the events come
    # every 0.05 s while it is held.
    assert released_in_time == [True]
    assert report.accepted_count == 2 and requests == 2
    assert all(not e.final and e.records_done == 1 for e in during[:2])
