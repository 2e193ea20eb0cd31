"""Request bodies bounded by bytes (lib/delivery/batching.py): a body is `[` + the records joined
by `,` + `]`, and a batch that fills the byte limit exactly is kept whole."""

from replenit_pipelines.lib.delivery.batching import join, plan_batches


def test_a_batch_that_fills_the_byte_limit_exactly_is_not_cut():
    parts = [b"x" * 10] * 5
    # Two records make a body of 2 + 10 + 1 + 10 = 23 bytes: at a limit of 23, two a batch.
    batches = list(plan_batches(parts, 500, 23))
    assert batches == [[0, 1], [2, 3], [4]]
    assert [len(join(parts, b)) for b in batches] == [23, 23, 12]
    assert list(plan_batches(parts, 500, 22)) == [[0], [1], [2], [3], [4]]
