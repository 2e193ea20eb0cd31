"""Deletes stopped by a refused key (401) mid-way, against the sandbox over HTTP: the report the
error carries keeps what was done and fails the rest as not sent, so the sync forgets only what
was deleted and the next run deletes the rest."""

import pytest

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient, UnauthorizedError


def test_a_key_revoked_during_deletes_stops_them_and_the_report_keeps_what_was_done(sandbox, tmp_path, records_in_sandbox):
    tenant_id, key = sandbox.add_tenant()
    config = ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), max_in_flight=1,
                          quota_dir=str(tmp_path / "quota"))
    with ReplenitClient(config) as client:
        client.deliver("customers", [{"CustomerId": f"c{i}", "Email": f"c{i}@example.com"} for i in range(4)])
        done: list[int] = []

        def revoke_after_the_first(i: int) -> None:
            done.append(i)
            sandbox.state.keys.pop(key, None)  # the key revoked on the tenant's side

        with pytest.raises(UnauthorizedError) as info:
            client.delete_records("customers", ["c0", "c1", "c2", "c3"], on_done=revoke_after_the_first)
    report = info.value.report
    assert (report.deleted, report.already_gone, done) == ([0], [], [0])
    assert sorted(report.failed) == [1, 2, 3]
    assert report.failed[1] == f"not sent: {info.value}"
    assert {report.failed[2], report.failed[3]} == {"not sent: the delivery was stopped by an earlier error"}
    assert report.counters.requests == 2  # the delete done and the one refused; none after
    assert sorted(r["record"]["CustomerId"] for r in records_in_sandbox(sandbox, tenant_id, "customers").values()) == [
        "c1", "c2", "c3"]
