"""A record a push gave up on is dead-lettered with the reason it failed (what the operator reads
in the state store before a replay), as the push's outcome lists it."""

import json

import duckdb

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.push import push_file
from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox
from replenit_pipelines.lib.state import DuckDBStateStore


def test_a_failed_record_is_dead_lettered_with_its_reason(tmp_path):
    path = tmp_path / "c.ndjson"
    path.write_text(json.dumps({"CustomerId": "c1", "Email": "c1@example.com"}) + "\n")
    db = tmp_path / "state.duckdb"
    with Sandbox(limits=[], faults=FaultConfig(seed=1, p503=1.0)) as sb:
        tenant_id, key = sb.add_tenant()
        config = ClientConfig(
            base_url=sb.url,
            tenant_id=tenant_id,
            api_key=key,
            limits=(),
            quota_dir=str(tmp_path / "quota"),
            max_attempts=2,
            backoff_base_s=0.01,
            backoff_cap_s=0.01,
        )
        with ReplenitClient(config) as client:
            outcome = push_file(client, "customers", path, "customerid", open_store=lambda: DuckDBStateStore(db))
    [listed] = outcome.not_accepted
    assert (listed.record_id, listed.status, listed.reasons) == ("c1", "failed", ["HTTP 503; gave up after 2 attempts"])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("SELECT record_id, status, reasons FROM dead_letters").fetchall() == [
            ("c1", "failed", ["HTTP 503; gave up after 2 attempts"])
        ]
