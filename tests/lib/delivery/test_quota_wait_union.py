"""A delivery's `quota_wait_s` is the wall-clock time in which some request waited for quota
(report.union_length over the workers' waits): waits that overlap count once, waits apart add up.
Measured on the wall clock in test_delivery_client.py (left out of the mutation bench as load-
dependent); here on given intervals, exactly."""

import pytest

from replenit_pipelines.lib.delivery.report import union_length


@pytest.mark.parametrize(("waits", "covered"), [
    ([], 0.0),
    ([(10.0, 11.0)], 1.0),
    ([(10.0, 11.0), (12.0, 14.0), (20.0, 20.5)], 3.5),  # one worker, three waits: they add up
    ([(12.0, 14.0), (10.0, 11.0)], 3.0),  # in any order
    ([(10.0, 12.0), (11.0, 13.0), (11.5, 12.5)], 3.0),  # three workers waiting together count once
    ([(10.0, 12.0), (11.0, 13.0), (15.0, 16.0), (15.5, 15.75)], 4.0),
])
def test_waits_that_overlap_count_once_and_waits_apart_add_up(waits, covered):
    assert union_length(waits) == covered
