"""The retry stage (lib/stages/retry.py) acknowledges a re-sent payload with the time ITS warehouse
read began, not the time of the re-send: a run that read the warehouse later still wins the
send-time check against it. Real sandbox over HTTP, a real ledger file."""

import json
from contextlib import closing

from helpers import CUSTOMER

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import content_hash, failures_to_queue, open_ledger
from replenit_pipelines.lib.ledger.base import now_ms
from replenit_pipelines.lib.stages.acknowledge import NEWER_ELSEWHERE, send_check
from replenit_pipelines.lib.stages.retry import retry

IDENTITY = "customerid:c1"


def test_a_retried_payload_keeps_its_read_time_and_loses_to_a_later_read(sandbox, tenant, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    tenant_id, key = tenant
    old = json.dumps(CUSTOMER).encode()
    read_old = now_ms() - 3_600_000  # the failed run read the warehouse an hour ago
    with (
        closing(
            ReplenitClient(
                ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), quota_dir=str(tmp_path / "quota"))
            )
        ) as client,
        closing(open_ledger(tmp_path, sandbox.url, tenant_id, "customers")) as ledger,
    ):
        ledger.queue_failures(failures_to_queue([IDENTITY], [old], [content_hash(old)], ["failed"], ["HTTP 503"], "run-0", read_old))
        retried, stop = retry(ledger, client, "run-1", None)
        assert stop is None and (retried.records_retried, retried.records_retry_accepted) == (1, 1)
        assert ledger.lookup([IDENTITY])["read_at"].to_list() == [read_old]
        assert ledger.current_reads([IDENTITY])[IDENTITY].read_at == read_old
        # Another run read the warehouse half an hour ago (after the failed run, before the re-send): its newer version goes.
        newer = json.dumps({**CUSTOMER, "Name": "Ada Lovelace"}).encode()
        check = send_check(ledger, [IDENTITY], [content_hash(newer)], "run-2", now_ms() - 1_800_000)
        assert check is not None
        assert check([0]) == {}, f"the later read was taken for {NEWER_ELSEWHERE}"
