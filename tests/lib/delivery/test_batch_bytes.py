"""Request bodies bounded by bytes (lib/delivery/batching.py): a body is `[` + the records joined
by `,` + `]`, and a batch that fills the byte limit exactly is kept whole, the first one included."""

from replenit_pipelines.lib.delivery.batching import body_size, join, plan_batches


def test_a_bodys_size_is_its_records_the_commas_between_them_and_the_brackets():
    parts = [b'{"CustomerId":"c1"}', b'{"CustomerId":"c22"}', b'{"CustomerId":"c333"}']
    for indices in ([], [0], [0, 1], [2, 0, 1]):
        assert body_size(parts, indices) == len(join(parts, indices))
    assert body_size(parts, [0, 1, 2]) == 2 + 19 + 20 + 21 + 2


def test_a_batch_that_fills_the_byte_limit_exactly_is_not_cut():
    parts = [b"x" * 10] * 5
    # Two records make a body of 2 + 10 + 1 + 10 = 23 bytes: at a limit of 23, two a batch.
    batches = list(plan_batches(parts, 500, 23))
    assert batches == [[0, 1], [2, 3], [4]]
    assert [len(join(parts, b)) for b in batches] == [23, 23, 12]
    assert list(plan_batches(parts, 500, 22)) == [[0], [1], [2], [3], [4]]
