"""The quarantine gate at its exact boundaries, in both modes, and its share over the rows it
considers (read minus superseded). Shares here are exact binary fractions, so `==` is exact."""

import pytest

from replenit_pipelines.lib.sync import GatePolicy, RecentRun, decide

FIXED = GatePolicy(mode="fixed", max_quarantine_share=0.125, min_quarantined_rows=20)
BASELINE = GatePolicy(min_quarantined_rows=20)  # ceiling 0.5, factor 3, margin 0.05
HISTORY = [RecentRun(rows_read=800, rows_superseded=0, rows_quarantined=100)] * 3  # baseline 0.125 exactly


@pytest.mark.parametrize("quarantined,held", [(99, False), (100, False), (101, True)])
def test_fixed_gate_trips_above_the_share_not_at_it(quarantined, held):
    decision = decide(FIXED, 800, 0, quarantined, [])
    assert decision.threshold == 0.125
    assert decision.held_back is held, decision.reason


@pytest.mark.parametrize("quarantined,held", [(99, False), (100, False), (101, True)])
def test_baseline_gate_without_history_trips_above_the_ceiling_not_at_it(quarantined, held):
    decision = decide(BASELINE, 200, 0, quarantined, [])  # 100 of 200 is the ceiling, 0.5
    assert decision.baseline is None and decision.threshold == 0.5
    assert decision.held_back is held, decision.reason


@pytest.mark.parametrize("quarantined,held", [(74, False), (75, False), (76, True)])
def test_baseline_gate_trips_above_three_times_the_baseline_not_at_it(quarantined, held):
    decision = decide(BASELINE, 200, 0, quarantined, HISTORY)  # 3 x 0.125 = 0.375 = 75 of 200
    assert decision.baseline == 0.125 and decision.threshold == 0.375
    assert decision.held_back is held, decision.reason


@pytest.mark.parametrize("policy", [FIXED, BASELINE])
@pytest.mark.parametrize("quarantined,held", [(19, False), (20, True)])
def test_the_minimum_count_is_inclusive(policy, quarantined, held):
    decision = decide(policy, quarantined, 0, quarantined, HISTORY)  # every row quarantined
    assert decision.held_back is held, decision.reason


@pytest.mark.parametrize("policy", [FIXED, BASELINE])
def test_the_share_leaves_superseded_rows_out(policy):
    # 1,000 rows read, 600 superseded: 60 quarantined of the 400 considered is 15%, not 6%.
    decision = decide(policy, 1000, 600, 60, [])
    assert decision.share == 60 / 400
    assert decision.held_back is (policy.mode == "fixed")  # above 12.5%; the ceiling is 50%


def test_the_baseline_leaves_superseded_rows_out():
    history = [RecentRun(rows_read=1000, rows_superseded=500, rows_quarantined=50)] * 3  # 10% of 500, not 5%
    decision = decide(BASELINE, 1000, 0, 250, history)  # 25%: under 3 x 10% = 30%, over 3 x 5% + 5% = 20%
    assert decision.baseline == pytest.approx(0.1)
    assert not decision.held_back, decision.reason
