"""Realistic sizes (issue 22 item 2): a window killed and resumed, a window's diff, and a
reconciliation killed and resumed, at 25,000 and 250,000 identities, and a reconciliation of
1,000,000. Real `replenit sync` processes (tests/reliability/crashes.py: SIGKILLed in the stage
named, checked after every run), the sandbox in this process (read directly: a million records
are not copied over HTTP), SQLite ledger files.

Slow (minutes): not in the default suite. Run them with
    ./dev test -m slow tests/reliability/test_sizes.py
(docs/testing.md quotes the time).
"""

import json
import math
import random

import crashes
import duckdb
import polars as pl
import pytest

from replenit_pipelines.lib.ledger import content_hash
from replenit_pipelines.lib.sandbox import Sandbox

pytestmark = pytest.mark.slow
BATCH = 500  # the customers' recommended batch


@pytest.fixture(scope="module")
def big_sandbox():
    with Sandbox(limits=[]) as sb:  # unlimited: the sizes, not the quota, are under test
        yield sb


def rig_for(tmp_path, sandbox, n: int, mode: str) -> crashes.Rig:
    warehouse = tmp_path / "warehouse.duckdb"
    crashes.write_warehouse(warehouse, n)
    return crashes.Rig(tmp_path / "run", sandbox.url, warehouse, n, mode, batch=BATCH, pace="off", chunk_rows=250_000,
                       local_store=sandbox.state.store)


def assert_resumed_whole(outcomes: list[crashes.Outcome], aims: list[str]) -> None:
    report = [(o.aim, o.killed, o.points, o.unacknowledged, o.resent, round(o.after_s, 1)) for o in outcomes]
    assert [o.problems for o in outcomes] == [[] for _ in outcomes], report
    *killed, last = outcomes
    assert len(killed) == len(aims) and all(o.killed and o.aim in o.points for o in killed), report
    assert not last.killed, report


@pytest.mark.parametrize("n", [25_000, 250_000])
def test_a_large_window_killed_in_delivery_acknowledgement_and_compaction_resumes_whole(tmp_path, big_sandbox, n):
    aims = ["delivery: HTTP", "acknowledgement", "compaction"]
    warehouse = tmp_path / "warehouse.duckdb"
    crashes.write_warehouse(warehouse, n)
    outcomes, _ = crashes.scenario(tmp_path / "run", big_sandbox.url, warehouse, n, "window", aims, random.Random(n), batch=BATCH,
                                   pace="off", local_store=big_sandbox.state.store)
    assert_resumed_whole(outcomes, aims)


@pytest.mark.parametrize("n", [25_000, 250_000, 1_000_000])
def test_a_large_reconciliation_killed_and_resumed_stores_the_warehouse_and_then_sends_nothing(tmp_path, big_sandbox, n):
    aims = ["delivery: HTTP", "acknowledgement"] if n < 1_000_000 else ["delivery: HTTP"]
    warehouse = tmp_path / "warehouse.duckdb"
    crashes.write_warehouse(warehouse, n)
    outcomes, rig = crashes.scenario(tmp_path / "run", big_sandbox.url, warehouse, n, "reconcile", aims, random.Random(n),
                                     batch=BATCH, pace="off", chunk_rows=250_000, local_store=big_sandbox.state.store)
    assert_resumed_whole(outcomes, aims)
    before = len(rig.requests())
    again = rig.run(None, random.Random(0))
    assert again.problems == [] and again.stored_by_run == 0
    assert len(rig.requests()) == before  # an unchanged warehouse: not one request


def append_and_change(warehouse, n: int, changed_every: int, new: int) -> tuple[set[int], set[int]]:
    """Every changed_every-th customer renamed, `new` customers added in the same day: (changed, added)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customers SET name = name || ' (renamed)' WHERE CAST(substr(id, 2) AS BIGINT) % ? = 0", [changed_every])
        added = crashes.DAY.replace(tzinfo=None)
        frame = pl.DataFrame({"i": pl.int_range(n, n + new, eager=True)}).select(
            id="c" + pl.col("i").cast(pl.String), email="user" + pl.col("i").cast(pl.String) + "@example.com",
            name="User " + pl.col("i").cast(pl.String),
            locale=pl.lit(pl.Series(crashes.LOCALES)).gather(pl.col("i") % len(crashes.LOCALES)),
            gdpr=pl.col("i") % 3 != 0, updated_at=pl.lit(added) + pl.duration(seconds=pl.col("i") - n))
        con.register("f", frame.to_arrow())
        con.execute("INSERT INTO customers SELECT * FROM f")
    return set(range(0, n, changed_every)), set(range(n, n + new))


@pytest.mark.parametrize("n", [25_000, 250_000])
def test_the_diff_of_a_large_window_sends_exactly_the_changed_and_new_records(tmp_path, big_sandbox, n):
    """After a whole load, 1% of the window's customers renamed and 0.4% added: the next run sends
    exactly those (in the fewest requests), the tenant then holds the warehouse, the ledger the
    tenant, and a third run sends nothing."""
    rig = rig_for(tmp_path, big_sandbox, n, "window")
    first = rig.run(None, random.Random(0))
    assert first.problems == [] and first.stored_by_run == n
    changed, added = append_and_change(rig.work.parent / "warehouse.duckdb", n, 100, n // 250)
    before = len(rig.requests())
    proc = rig.launch(rig.args, "diff")
    assert proc.wait(timeout=1800) == 0, proc.err.seek(0) or proc.err.read()[-3000:]
    proc.out.seek(0)
    counts = json.loads(proc.out.read().strip().splitlines()[-1])
    sent = len(changed) + len(added)
    assert (counts["records_sent"], counts["records_changed"], counts["records_new"], counts["records_unchanged"]) == (
        sent, len(changed), len(added), n - len(changed))
    assert len(rig.requests()) - before == math.ceil(sent / BATCH)
    stored = {r["key"]: r for r in rig.stored()}
    assert len(stored) == n + len(added)
    for key, entry in stored.items():
        i = crashes.customer_number(key)
        want = crashes.expected_record(i)
        if i in changed:
            want["Name"] += " (renamed)"
        assert entry["record"] == want, key
        assert entry["writes"] == (2 if i in changed else 1), key  # nothing unchanged stored again
    acked, problems = rig.read_ledger()
    assert problems == [] and acked == {k: content_hash(e["record"]) for k, e in stored.items()}
    before = len(rig.requests())
    proc = rig.launch(rig.args, "unchanged")
    assert proc.wait(timeout=1800) == 0
    assert len(rig.requests()) == before
