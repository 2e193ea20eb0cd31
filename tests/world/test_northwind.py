"""A Northwind-shaped warehouse (examples/northwind/generate.py: text customer ids, a table named
`Order Details`, DATE order dates without an update time, REAL discounts, a currency from the ship
country, and dirt planted with known verdicts) through examples/northwind/mapping.yaml: every
stored record equals what plain SQL over the raw tables says (tests/world/reference.py), each
planted row gets its verdict, the rows close, and an unchanged warehouse costs nothing."""

import math

import duckdb
import pytest
import reference
from conftest import CLOSING, EXAMPLES

from replenit_pipelines.lib.contract.entities import ENTITIES

MAPPING = EXAMPLES / "northwind" / "mapping.yaml"


@pytest.fixture(scope="module")
def northwind_path(tmp_path_factory):
    from northwind.generate import build

    return build(tmp_path_factory.mktemp("northwind") / "northwind.duckdb")


def test_northwind_is_stored_as_the_tables_say_with_each_planted_row_given_its_verdict(world, northwind_path):
    expected = reference.northwind(str(northwind_path))
    world.use(northwind_path, MAPPING)
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert code == 0, counts
        assert counts["rows_read"] == sum(counts[k] for k in CLOSING), counts
        stored = world.stored(entity)
        # Identities several rows share (SHARA and SHARB: one email; DUPLI twice): one of them, whole.
        for key, candidates in expected.get(f"{entity}_merged", {}).items():
            assert stored.pop(key) in [reference._clean(c) for c in candidates], key
        either = {k: stored.pop(k) for k in expected.get(f"{entity}_either", {})}
        records = len(expected[entity]) + len(either) + len(expected.get(f"{entity}_merged", {}))
        assert counts["records_sent"] == records and len(sent) == math.ceil(records / ENTITIES[entity].hard_max)
        result = reference.compare(stored, expected[entity])
        assert result["equal"] == result["expected"] == result["stored"], reference.summary(result)
    # 20009: product 5 on two lines of one order (the table's key repeated): one of them is sent.
    assert [(i["ProductId"], i["Quantity"]) for i in either["20009"]["OrderItems"]] in ([("5", 3)], [("5", 4)])
    counts = world.sync("customers", "--all")[1]
    assert (counts["rows_superseded"], counts["rows_merged"]) == (2, 1)  # DUPLI's other row; SHARA or SHARB
    with duckdb.connect(str(world.state_dir / "state.duckdb"), read_only=True) as con:
        verdicts = set(con.sql("SELECT entity, record_id, rule, field FROM quarantine").fetchall())
    long_id = "L" * 101
    for verdict in [
        ("customers", "customerid:BADEM", "email", "Email"), ("customers", "customerid:DOTDT", "email", "Email"),
        ("customers", "row 251", "one_of_required", "CustomerId, Email"),
        ("customers", "email:longid@example.com", "max_length", "CustomerId"),
        ("customers", "email:longname@example.com", "max_length", "Name"),
        ("customers", "email:emoji@example.com", "max_length", "Name"),        # 50 emoji + x: 101 UTF-16 units
        ("products", "78", "range", "ProductVariants.SalePrice"), ("products", "82", "range", "ProductVariants.StockQuantity"),
        ("orders", "20002", "range", "OrderItems.Quantity"), ("orders", "20003", "range", "OrderItems.Quantity"),
        ("orders", "20004", "range", "OrderItems.Price"), ("orders", "20011", "required", "Currency"),
        ("orders", "20013", "required", "OrderItems.ProductId"),
    ]:
        assert verdict in verdicts, (verdict, sorted(verdicts))
    assert not any(long_id in r for _, r, _, _ in verdicts)  # an id the contract refuses is no identity
    orphan = [r for r in verdicts if r[0] == "orders" and r[2:] == ("required", "OrderId")]
    assert len(orphan) == 1 and orphan[0][1].startswith("row ")                # the line of order 29999
    orders = world.stored("orders")
    assert orders["20001"]["OrderItems"] == [] and orders["20005"].get("OrderDate") is None
    # An unchanged warehouse: nothing sent.
    for entity in ("customers", "products", "orders"):
        code, counts, sent = world.sync(entity, "--all")
        assert (code, sent, counts["records_sent"]) == (0, [], 0), entity


def test_northwind_orders_of_a_day_are_read_by_its_midnight_partition(world, northwind_path):
    world.use(northwind_path, MAPPING, partitions_start="1996-01-01")
    code, counts, sent = world.sync("orders", "--partition", "1998-05-01-00:00")
    # The planted orders of 1998-05-01 (20001..20014 less 20005, undated, and the orphan line's 29999)
    # and the generated ones of that day; those with an invalid line quarantined whole.
    assert code == 0 and counts["records_sent"] >= 7 and counts["rows_quarantined"] == 6, counts
    assert counts["rows_read"] == sum(counts[k] for k in CLOSING)
    assert world.sync("orders", "--partition", "1998-05-01-01:00")[1]["rows_read"] == 0
