"""`replenit push` remembers the line and identity of the records in flight only (to name a
rejected or failed one): once a batch is settled its records are forgotten, so the send pass's
memory does not grow with the file (bench/push_memory.py measures the whole push on a large file).
Counted with tracemalloc: the objects push.py itself allocated still alive when the last batch is settled."""

import json
import tracemalloc

import replenit_pipelines.lib.delivery.push as push_module
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.push import push_file


def test_settled_batches_leave_nothing_of_their_records_behind(sandbox, tmp_path):
    tenant_id, key = sandbox.add_tenant()
    config = ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), max_in_flight=1,
                          batch_sizes={"customers": 100}, quota_dir=str(tmp_path / "quota"))
    path = tmp_path / "c.ndjson"
    path.write_text("\n".join(json.dumps({"CustomerId": f"c{i}", "Email": f"c{i}@example.com"}) for i in range(3000)))
    held: list[int] = []

    def at_the_final_event(event) -> None:
        if event.final:  # every batch settled; the push has not returned yet
            snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, push_module.__file__)])
            held.append(sum(stat.count for stat in snapshot.statistics("filename")))

    tracemalloc.start()
    try:
        with ReplenitClient(config) as client:
            outcome = push_file(client, "customers", path, "customerid", progress=at_the_final_event)
    finally:
        tracemalloc.stop()
    assert outcome.exit_code == 0 and outcome.report is not None and outcome.report.accepted_count == 3000
    # Kept, the 3,000 records' (line, identity) would be thousands of objects; what is left is a few
    # dozen (the closures, the outcome, the table of records in flight: a dict keeps its size).
    assert len(held) == 1 and held[0] < 200, held
