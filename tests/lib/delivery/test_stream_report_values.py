"""What a streamed delivery (`replenit push`) reports beyond its counts: why the records of the batch
a refused key stopped were not sent, and its records per request to one decimal."""

import json

import orjson
import pytest

from replenit_pipelines import cli
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.errors import UnauthorizedError
from replenit_pipelines.lib.delivery.stream import StreamReport
from replenit_pipelines.lib.sandbox import Sandbox


def test_the_batch_a_refused_key_stopped_says_why_its_records_were_not_sent(sandbox, tmp_path):
    tenant_id, key = sandbox.add_tenant()
    sandbox.state.keys.pop(key, None)  # revoked before the first request
    config = ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(),
                          batch_sizes={"customers": 5}, quota_dir=str(tmp_path / "quota"))
    parts = [(i, orjson.dumps({"CustomerId": f"c{i}", "Email": f"c{i}@example.com"})) for i in range(3)]
    with ReplenitClient(config) as client, pytest.raises(UnauthorizedError) as stopped:
        client.deliver_stream("customers", iter(parts))
    report = stopped.value.report
    assert isinstance(report, StreamReport)
    assert report.not_sent == {0, 1, 2}
    assert report.failed == {i: f"not sent: {stopped.value}" for i in range(3)}
    assert str(stopped.value).startswith("Replenit refused the API key (401 Unauthorized)")


def test_records_per_request_is_reported_to_one_decimal(push_env, capsys, tmp_path):
    # 5 records in batches of 2: 3 requests, 5/3 = 1.67 records a request, reported as 1.7.
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        path = tmp_path / "c.ndjson"
        path.write_text("\n".join(json.dumps({"CustomerId": f"c{i}", "Email": f"c{i}@example.com"}) for i in range(5)))
        code = cli.main(["push", "customers", str(path), "--batch-size", "2", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and (summary["accepted"], summary["requests"]) == (5, 3)
    assert summary["records_per_request"] == 1.7
