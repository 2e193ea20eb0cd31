"""The quarantine gate (issue 9, item 3): steady dirt flows, what is abnormal for the entity trips."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from replenit_pipelines.lib.state import open_state_store
from replenit_pipelines.lib.sync import GatePolicy, RecentRun, decide

DEFAULT = GatePolicy()
STEADY = [RecentRun(rows_read=10_000, rows_superseded=100, rows_quarantined=q) for q in (560, 640, 710, 600, 590)]


def test_steady_dirt_of_a_realistic_warehouse_flows_from_the_first_run():
    # 5.6-7.1% quarantined, as on the dirty test warehouse: no history yet, then with its history.
    for history in ([], STEADY[:2], STEADY):
        decision = decide(DEFAULT, 10_000, 50, 700, history)
        assert not decision.held_back, decision.reason


def test_a_share_far_above_the_entitys_recent_runs_trips_and_says_why():
    decision = decide(DEFAULT, 10_000, 0, 2_500, STEADY)
    baseline = sum(r.rows_quarantined for r in STEADY) / sum(r.rows_read - r.rows_superseded for r in STEADY)
    assert decision.held_back
    assert decision.baseline == pytest.approx(baseline)
    assert decision.threshold == pytest.approx(3 * baseline)
    assert "25.0% quarantined" in decision.reason and f"baseline {baseline:.1%}" in decision.reason
    assert "ceiling 50%" in decision.reason


def test_a_clean_entity_trips_on_an_absolute_jump_not_on_noise():
    clean = [RecentRun(1_000, 0, 1)] * 5  # 0.1%
    assert not decide(DEFAULT, 1_000, 0, 40, clean).held_back  # 4%: within baseline + 5 points
    assert decide(DEFAULT, 1_000, 0, 80, clean).held_back  # 8%: a broken upstream on a clean entity


def test_the_ceiling_trips_without_history_and_caps_a_dirty_baseline():
    assert decide(DEFAULT, 1_000, 0, 510, []).held_back
    dirty = [RecentRun(1_000, 0, 300)] * 5  # 30% steady: 3x would be 90%
    decision = decide(DEFAULT, 1_000, 0, 520, dirty)
    assert decision.held_back and decision.threshold == DEFAULT.ceiling_share


def test_few_quarantined_rows_never_hold_back_a_window():
    decision = decide(DEFAULT, 30, 0, 19, STEADY)  # 63%, but 19 rows
    assert not decision.held_back and "fewer than 20" in decision.reason
    assert decide(DEFAULT, 30, 0, 20, STEADY).held_back


def test_fixed_mode_is_the_old_absolute_threshold():
    fixed = GatePolicy(mode="fixed", max_quarantine_share=0.05)
    assert decide(fixed, 10_000, 0, 600, STEADY).held_back  # 6% > 5%, whatever the history
    assert not decide(fixed, 10_000, 0, 400, []).held_back
    with pytest.raises(ValueError, match="baseline.*fixed"):
        GatePolicy(mode="adaptive")  # type: ignore[arg-type]


def test_the_baseline_is_the_entitys_recent_runs_that_were_not_held_back(tmp_path, state_backend):  # DuckDB and Postgres
    store = open_state_store(tmp_path / "state.duckdb")
    empty = pl.DataFrame(schema={"record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String,
                                 "field": pl.String, "value": pl.String})
    dead = pl.DataFrame(schema={"record_id": pl.String, "status": pl.String, "reasons": pl.List(pl.String),
                                "payload": pl.String})
    start = datetime(2026, 11, 1, tzinfo=UTC)
    runs = [("customers", "delivered", 60), ("customers", "held_back", 900), ("orders", "delivered", 5),
            ("customers", "failed", 70), ("customers", "delivered", 80)]
    for i, (entity, outcome, quarantined) in enumerate(runs):
        day = (start + timedelta(days=i)).strftime("%Y-%m-%d")
        store.record(f"r{i}", day, entity, empty, dead, {
            "entity": entity, "partition_key": day, "outcome": outcome, "rows_read": 1_000,
            "rows_quarantined": quarantined, "rows_superseded": 0})
    assert [r.rows_quarantined for r in store.recent_runs("customers", 10)] == [80, 70, 60]
    assert [r.rows_quarantined for r in store.recent_runs("customers", 2)] == [80, 70]
    assert [r.rows_quarantined for r in store.recent_runs("customers", 10, exclude_partition="2026-11-05")] == [70, 60]
