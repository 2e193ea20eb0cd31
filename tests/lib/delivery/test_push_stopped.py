"""A push stopped by a refused key (401) after some batches were accepted: its outcome still counts
what the API accepted before the stop, so that records read = accepted + failed + not sent."""

import json

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.push import EXIT_STOPPED, PushOutcome, push_file


def test_a_push_stopped_mid_way_counts_the_records_accepted_before_the_stop(sandbox, tmp_path, records_in_sandbox):
    tenant_id, key = sandbox.add_tenant()
    config = ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), max_in_flight=1,
                          batch_sizes={"customers": 5}, quota_dir=str(tmp_path / "quota"))
    path = tmp_path / "c.ndjson"
    path.write_text("\n".join(json.dumps({"CustomerId": f"c{i}", "Email": f"c{i}@example.com"}) for i in range(20)))

    def revoke_once_some_are_accepted(event) -> None:
        if event.accepted:
            sandbox.state.keys.pop(key, None)  # the key revoked on the tenant's side

    with ReplenitClient(config) as client:
        outcome = push_file(client, "customers", path, "email", progress=revoke_once_some_are_accepted)
    stored = records_in_sandbox(sandbox, tenant_id, "customers")
    summary = outcome.summary()
    assert outcome.exit_code == EXIT_STOPPED and outcome.stopped is not None and "401" in outcome.stopped
    assert 5 <= len(stored) < 20 and summary["accepted"] == len(stored)
    assert summary["accepted"] + summary["failed"] + summary["not_sent"] == summary["records_read"] == 20
    # Nothing failed: every record not accepted was never sent (the batch the 401 answered, those
    # queued behind it, the rest of the file), so none is listed or dead-lettered as "failed".
    assert summary["failed"] == 0 and summary["not_sent"] == 20 - len(stored)
    assert outcome.not_accepted == []


def test_an_outcome_without_a_delivery_report_still_has_every_count_key():
    # `replenit push --json` prints summary(): an outcome with no delivery report (the type allows
    # it; push_file always sets one) still has the same keys, each delivery count 0.
    outcome = PushOutcome("customers", "c.ndjson", "push-1", records_read=3, superseded=1, refused=2)
    assert outcome.summary() == {"entity": "customers", "file": "c.ndjson", "run_id": "push-1", "records_read": 3,
                                 "superseded": 1, "refused": 2, "accepted": 0, "rejected": 0, "failed": 0, "sent": 0,
                                 "not_sent": 0}
