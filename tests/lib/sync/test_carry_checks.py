"""A request shared by two chunks (lib/sync/carry.py CarryOver) checks each side by its own
chunk's send-time check, and only by it: a next chunk planned without a check (NextPlan's default)
sends its borrowed records as they are, its own chunk's check looks at its own records only. Real
sandbox over HTTP (its request log and stored records)."""

import json
from contextlib import closing

import httpx
from helpers import CUSTOMER

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.stages.acknowledge import STORED_ELSEWHERE
from replenit_pipelines.lib.stages.plan import Plan
from replenit_pipelines.lib.sync.carry import CarryOver, NextPlan


def parts(*ids: str) -> list[bytes]:
    return [json.dumps({**CUSTOMER, "CustomerId": i, "Email": f"{i}@example.com"}).encode() for i in ids]


def test_a_shared_request_checks_each_side_by_its_own_chunks_check_and_a_side_without_one_not_at_all(sandbox, tenant, tmp_path):
    tenant_id, key = tenant
    config = ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), quota_dir=str(tmp_path / "quota"),
                          batch_sizes={"customers": 3})
    with closing(ReplenitClient(config)) as client:
        first = Plan("customers", parts("a1", "a2", "a3", "a4"), [[0, 1, 2], [3]])
        second = Plan("customers", parts("b1", "b2", "b3"), [[0, 1, 2]])
        asked: list[list[int]] = []

        def check(batch: list[int]) -> dict[int, str]:  # the first chunk's: a4 is stored already
            asked.append(batch)
            return {i: STORED_ELSEWHERE for i in batch if i == 3}

        acked: dict[str, list[int]] = {"first": [], "second": []}
        carry = CarryOver(client, "customers")
        report, stop = carry.send(first, acked["first"].extend, check,
                                  lambda: NextPlan(second, acked["second"].extend))  # no check of its own
        assert stop is None and report is not None
        assert asked == [[0, 1, 2], [3]]  # its own records only, the shared request's included
        assert (sorted(report.accepted), report.skipped) == ([0, 1, 2], {3: STORED_ELSEWHERE})
        assert (acked["first"], acked["second"]) == ([0, 1, 2], [0, 1])  # b1 and b2 went in a4's request
        rest, stop = carry.send(second, acked["second"].extend, None, lambda: None)
        assert stop is None and rest is not None and sorted(rest.accepted) == [0, 1, 2]
        stored = httpx.get(f"{sandbox.url}/_sandbox/records/{tenant_id}/customers").json()
        assert sorted(r["record"]["CustomerId"] for r in stored) == ["a1", "a2", "a3", "b1", "b2", "b3"]
        log = [r for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json() if tenant_id in r["path"] and r["method"] == "POST"]
        assert [r["records"] for r in log] == [3, 2, 1]


def test_a_tail_takes_the_next_chunks_record_that_fills_the_body_limit_exactly(sandbox, tenant, tmp_path):
    """The byte limit is inclusive when filling a tail: `[a3,b1]` is exactly max_body_bytes long and
    goes as one request (6 records in 3 full requests, not 4)."""
    tenant_id, key = tenant
    first, second = parts("a1", "a2", "a3"), parts("b1", "b2", "b3")
    width = len(first[0])
    assert all(len(p) == width for p in first + second)
    limit = 2 + 2 * width + 1  # two records a body: "[" + p + "," + p + "]"
    config = ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(), quota_dir=str(tmp_path / "quota"),
                          batch_sizes={"customers": 3}, max_body_bytes=limit)
    with closing(ReplenitClient(config)) as client:
        acked: dict[str, list[int]] = {"first": [], "second": []}
        carry = CarryOver(client, "customers")
        report, stop = carry.send(Plan("customers", first, []), acked["first"].extend, None,
                                  lambda: NextPlan(Plan("customers", second, []), acked["second"].extend))
        assert stop is None and report is not None and sorted(report.accepted) == [0, 1, 2]
        assert acked["second"] == [0]  # b1 went in a3's request
        rest, stop = carry.send(Plan("customers", second, []), acked["second"].extend, None, lambda: None)
        assert stop is None and rest is not None and sorted(rest.accepted) == [0, 1, 2]
        log = [r for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json() if tenant_id in r["path"] and r["method"] == "POST"]
        assert [(r["records"], r["bytes"]) for r in log] == [(2, limit)] * 3
        dry = CarryOver(client, "customers")  # a dry run counts the same requests
        assert dry.count(Plan("customers", first, []), lambda: NextPlan(Plan("customers", second, []), None)) == 2
        assert dry.count(Plan("customers", second, []), lambda: None) == 1
