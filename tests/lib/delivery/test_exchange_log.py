"""ExchangeLog (what `replenit sync --sample` prints): each request and the API's answer as they
went over the wire, against the sandbox over HTTP: the records sent (a gzipped body decompressed)
and the body the API answered, in the order they were sent."""

import orjson

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.exchanges import ExchangeLog


def test_each_request_and_the_apis_answer_are_recorded_as_they_went_over_the_wire(sandbox, tmp_path):
    tenant_id, key = sandbox.add_tenant()
    config = ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), gzip=True, quota_dir=str(tmp_path / "quota"))
    records = [{"CustomerId": "c1", "Email": "ada@example.com"}, {"CustomerId": "c2", "Email": "not an e-mail"}]
    with ReplenitClient(config) as client:
        wire = ExchangeLog(client.session.http)
        client.deliver("customers", records[:1])
        client.delete_customer("c9")
        wire.close()
        client.deliver("customers", records)  # not recorded: the log is closed
    saved, gone = wire.ordered()
    assert (saved.seq, saved.method, saved.path, saved.status) == (1, "POST", f"/customers/{tenant_id}", 200)
    assert orjson.loads(saved.request_body) == records[:1]
    answer = orjson.loads(saved.response_body)
    assert (answer["success"], answer["message"], answer["data"]["count"]) == (True, "Customers saved.", 1)
    assert (gone.seq, gone.method, gone.path, gone.status, gone.request_body) == (2, "DELETE", f"/customers/{tenant_id}/c9", 404, b"")
    assert orjson.loads(gone.response_body) == {"success": False, "message": "Customer not found.", "data": {}}
