"""TPC-H through examples/tpch/mapping.yaml: every record Replenit stores equals what plain SQL
over the raw TPC-H tables says it must be (tests/world/reference.py), the requests are the
minimum, and an unchanged warehouse costs nothing the second time."""

import math

import pytest
import reference
from conftest import EXAMPLES, TPCH_SF

from replenit_pipelines.lib.contract.entities import ENTITIES

MAPPING = EXAMPLES / "tpch" / "mapping.yaml"


@pytest.fixture(scope="module")
def expected(tpch_path):
    return reference.tpch(str(tpch_path))


def assert_conforms(world, entity: str, expected: dict[str, dict]) -> dict:
    result = reference.compare(world.stored(entity), expected)
    assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
    return result


def test_tpch_whole_load_stores_every_record_as_the_reference_computes_it_in_the_fewest_requests(world, tpch_path, expected):
    world.use(tpch_path, MAPPING)
    # rows: a customer is a row; a product one row per part-supplier (4 per part); an order one row per line.
    rows = {"customers": 1500, "products": 8000, "orders": 60175}
    assert TPCH_SF == 0.01  # the row counts above are TPC-H's at this scale factor
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        records = len(expected[entity])
        assert code == 0, counts
        assert (counts["rows_read"], counts["rows_delivered"], counts["records_sent"]) == (rows[entity], rows[entity], records)
        assert counts["rows_quarantined"] == counts["rows_superseded"] == counts["rows_dead_lettered"] == 0
        # The minimum: full batches of the API's hard maximum (bulk work: docs/cli.md), every one accepted first time.
        assert len(sent) == math.ceil(records / ENTITIES[entity].hard_max), [r["records"] for r in sent]
        assert {r["status"] for r in sent} == {200}
        assert_conforms(world, entity, expected[entity])
    for entity in ("customers", "products"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["rows_unchanged"]) == (0, [], rows[entity])


def test_tpch_orders_rerun_of_an_unchanged_warehouse_sends_nothing(world, tpch_path):
    world.use(tpch_path, MAPPING)
    code, counts, sent = world.sync("orders", "--all")
    assert code == 0 and len(sent) == 30  # 15,000 orders at the hard maximum, 500 a request
    # Three re-runs: each reads the lines in whatever order DuckDB's parallel scan gives them.
    reruns = [world.sync("orders", "--all") for _ in range(3)]
    assert [(len(sent), counts["records_sent"]) for _, counts, sent in reruns] == [(0, 0)] * 3


def test_tpch_an_hourly_partition_reads_the_orders_of_its_date(world, tpch_path, expected):
    """o_orderdate is a DATE: the 00:00 partition of its day selects the day's orders, whole
    (every line), and the day's other hours select nothing."""
    world.use(tpch_path, MAPPING, partitions_start="1992-01-01")
    day = "1995-03-15"
    want = {k: r for k, r in expected["orders"].items() if r["OrderDate"].startswith(day)}
    assert len(want) >= 3
    code, counts, sent = world.sync("orders", "--partition", f"{day}-00:00")
    assert code == 0 and counts["records_sent"] == len(want)
    assert_conforms(world, "orders", want)
    code, counts, sent = world.sync("orders", "--partition", f"{day}-01:00")
    assert (code, counts["rows_read"], sent) == (0, 0, [])
