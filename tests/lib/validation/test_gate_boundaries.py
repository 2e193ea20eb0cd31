"""The quarantine gate at its exact boundaries, in both modes, and its share over the rows it
considers (read minus superseded). Shares here are exact binary fractions, so `==` is exact."""

import pytest

from replenit_pipelines.lib.sync import GatePolicy, RecentRun, decide
from replenit_pipelines.lib.validation.gate import gate_mode

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


def test_an_empty_window_or_one_of_only_superseded_rows_is_share_zero():
    for policy in (FIXED, BASELINE):
        for read, superseded in ((0, 0), (10, 10)):
            decision = decide(policy, read, superseded, 0, HISTORY)
            assert decision.share == 0.0 and not decision.held_back


def test_without_considered_rows_there_is_no_baseline():
    from replenit_pipelines.lib.validation.gate import baseline_share

    assert baseline_share([]) is None
    assert baseline_share([RecentRun(rows_read=50, rows_superseded=50, rows_quarantined=0)] * 3) is None


def test_fewer_runs_than_the_minimum_are_no_baseline_and_the_reason_says_so():
    decision = decide(BASELINE, 200, 0, 30, HISTORY[:2])
    assert decision.baseline is None and decision.baseline_runs == 2 and decision.threshold == 0.5
    assert decision.reason == "15.0% quarantined (30 of 200 rows); no baseline yet (2 earlier runs, 3 needed): ceiling 50%"
    decision = decide(BASELINE, 200, 0, 30, HISTORY)
    assert decision.baseline_runs == 3
    assert decision.reason == ("15.0% quarantined (30 of 200 rows); baseline 12.5% over the last 3 runs; trips above "
                               "37.5% (the larger of 3x baseline and baseline + 5%, at most the ceiling 50%)")


def test_the_fixed_rule_reports_no_baseline_and_its_threshold():
    decision = decide(FIXED, 800, 0, 101, HISTORY)
    assert (decision.baseline, decision.baseline_runs) == (None, 0)
    assert decision.reason == "12.6% quarantined, fixed threshold 12.5%"


@pytest.mark.parametrize("policy,rows,quarantined,suffix", [
    (FIXED, 8, 1, False),  # exactly at the threshold: not over, so no note
    (FIXED, 8, 2, True),  # over, but fewer than 20 quarantined: sent, and the reason says why
    (FIXED, 800, 101, False),  # over and not few: held back, no note
    (BASELINE, 8, 3, False),  # 0.375, exactly 3x the baseline
    (BASELINE, 8, 4, True),
])
def test_the_reason_notes_when_the_minimum_count_lets_a_window_through(policy, rows, quarantined, suffix):
    decision = decide(policy, rows, 0, quarantined, HISTORY)
    note = "; fewer than 20 rows quarantined, so the window is sent"
    assert decision.reason.endswith(note) is suffix, decision.reason
    assert note not in decision.reason[:-len(note)]


def test_a_gate_mode_must_be_one_of_the_two():
    assert GatePolicy(mode="baseline").mode == "baseline" and GatePolicy(mode="fixed").mode == "fixed"
    for wrong in ("Baseline", "BASELINE", "fixed ", "adaptive"):
        with pytest.raises(ValueError, match="gate must be 'baseline' or 'fixed'"):
            GatePolicy(mode=wrong)


def test_a_gate_mode_a_person_wrote_becomes_the_policy_of_that_mode():
    """The run config's text goes through gate_mode into GatePolicy (component/sync_asset.py, reconcile.py)."""
    for text in ("baseline", "fixed"):
        assert gate_mode(text) == text and GatePolicy(mode=gate_mode(text)).mode == text
    with pytest.raises(ValueError, match=r"^gate must be 'baseline' or 'fixed', not 'Fixed'$"):
        gate_mode("Fixed")


def test_the_decision_metadata():
    decision = decide(BASELINE, 200, 0, 76, HISTORY)
    assert decision.metadata(BASELINE) == {
        "gate": "baseline", "quarantine_share": 0.38, "threshold": 0.375, "baseline_share": 0.125, "baseline_runs": 3,
        "ceiling_share": 0.5, "min_quarantined_rows": 20}
    assert decide(FIXED, 800, 0, 104, []).metadata(FIXED) == {
        "gate": "fixed", "quarantine_share": 0.13, "threshold": 0.125, "baseline_share": None, "baseline_runs": 0,
        "ceiling_share": 0.5, "min_quarantined_rows": 20}


def test_the_metadata_rounds_shares_to_four_places():
    thirds = [RecentRun(rows_read=3, rows_superseded=0, rows_quarantined=1)] * 3
    md = decide(BASELINE, 3000, 0, 1000, thirds).metadata(BASELINE)
    assert (md["quarantine_share"], md["baseline_share"], md["threshold"]) == (0.3333, 0.3333, 0.5)
    third = GatePolicy(mode="fixed", max_quarantine_share=1 / 3)
    assert decide(third, 3000, 0, 1000, []).metadata(third)["threshold"] == 0.3333
