"""TPC-DS through examples/tpcds/mapping.yaml: a star schema with surrogate keys, an SCD-2 item
dimension, sale times in date and time dimensions, lines in their own `query:` source, NULLs
sprinkled by the generator. Every stored record equals the independent SQL reference
(tests/world/reference.py), every refused order is quarantined with all its lines, the requests
are the minimum and an unchanged warehouse costs nothing the second time."""

import math
from datetime import timedelta

import pytest
import reference
from conftest import EXAMPLES

from replenit_pipelines.lib.contract.entities import ENTITIES

MAPPING = EXAMPLES / "tpcds" / "mapping.yaml"


@pytest.fixture(scope="module")
def expected(tpcds_path):
    return reference.tpcds(str(tpcds_path))


def assert_conforms(world, entity: str, expected: dict[str, dict]) -> None:
    result = reference.compare(world.stored(entity), expected)
    assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)


def test_tpcds_whole_load_stores_every_record_as_the_reference_computes_it_and_quarantines_the_rest(world, tpcds_path, expected):
    world.use(tpcds_path, MAPPING)
    refused = expected["orders_quarantined"]
    assert refused, "TPC-DS leaves some quantities and prices NULL at this scale factor"
    # At this scale no two customers share an email and every current item has a start date
    # (at sf 1 some do: bench/tpc_conformance.py reports them; --all reads them: tests/lib/warehouse/test_windows.py).
    assert not expected["customers_merged"] and not expected["products_undated"]
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        records = len(expected[entity])
        assert counts["records_sent"] == records
        assert counts["rows_superseded"] == counts["rows_dead_lettered"] == 0
        if entity == "orders":
            # Each refused order is quarantined whole: all its lines, none of them sent.
            assert (code, counts["records_quarantined"], counts["rows_quarantined"]) == (0, len(refused), sum(refused.values()))
        else:
            assert (code, counts["rows_quarantined"]) == (0, 0)
        assert len(sent) == math.ceil(records / ENTITIES[entity].hard_max), [r["records"] for r in sent]
        assert {r["status"] for r in sent} == {200}
        assert_conforms(world, entity, expected[entity])
    assert not set(refused) & set(world.stored("orders"))
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (sent, counts["records_sent"]) == ([], 0), entity


def test_tpcds_windows_derived_from_date_and_time_keys_select_their_sales_and_item_versions(world, tpcds_path, expected):
    """An hourly orders partition reads the orders whose sale time (date_dim + time_dim keys) is in
    the partition or its 6 h lookback; a products partition reads the current item versions that
    started in it or its 24 h lookback (SCD-2: rows that ended are never read)."""
    world.use(tpcds_path, MAPPING, partitions_start="1998-01-01")
    sold_at = expected["orders_sold_at"]
    busiest = max({t.replace(minute=0, second=0) for t in sold_at.values()},
                  key=lambda h: sum(h - timedelta(hours=6) <= t < h + timedelta(hours=1) for t in sold_at.values()))
    in_window = {k for k, t in sold_at.items() if busiest - timedelta(hours=6) <= t < busiest + timedelta(hours=1)}
    want = {k: r for k, r in expected["orders"].items() if k in in_window}
    assert len(in_window) >= 2
    code, counts, sent = world.sync("orders", "--partition", busiest.strftime("%Y-%m-%d-%H:00"))
    assert counts["records_sent"] == len(want) and counts["records_quarantined"] == len(in_window - set(want))
    assert_conforms(world, "orders", want)

    day = "2001-10-27"  # TPC-DS starts the newest item versions on this day
    started = current_versions_started(tpcds_path, day)
    want = {k: r for k, r in expected["products"].items() if k in started}
    assert want
    code, counts, sent = world.sync("products", "--partition", f"{day}-00:00")
    assert code == 0 and counts["records_sent"] == len(want)
    assert_conforms(world, "products", want)


def current_versions_started(path, day: str) -> set[str]:
    """Items whose current version started on `day` or the day before (a products run's lookback is 24 h)."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return {r[0] for r in con.sql("SELECT i_item_id FROM item WHERE i_rec_end_date IS NULL AND i_rec_start_date "
                                      "BETWEEN CAST($day AS DATE) - 1 AND CAST($day AS DATE)", params={"day": day}).fetchall()}


def test_replenit_check_accepts_the_lines_in_their_own_query_source_and_a_customer_table_without_a_window(tpcds_path, capsys):
    from replenit_pipelines.cli import main

    main(["check", "--mapping", str(MAPPING), "--warehouse", str(tpcds_path)])
    report = capsys.readouterr().out
    # The customers table has no update time (window_column: null): a warning says what sends it.
    assert "WARNING customers.window_column: none: no partition reads customers" in report
    assert "reconcile_customers" in report and "ERROR" not in report, report
    assert "orders.OrderItems" not in report, report
    # The orders query filters on its sale time without $all: the note says what that leaves out.
    assert "NOTE    orders.source: the query decides which rows any run reads" in report
