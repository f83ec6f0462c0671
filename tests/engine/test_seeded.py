"""Seeded draws (engine/seeded.py): fast mode's directions, the steps' jitter, the batching probe's nudges."""

import numpy as np

from gradcheck.engine import fast, seeded


def test_seeded_directions_are_kept_for_small_inputs_and_drawn_alike_for_large_ones():
    """Kept directions (small inputs) are read-only and the same each time; any size gets random signs
    times magnitudes in [1, 1.5), the same for the same seed, different for another."""
    kept = fast.seeded_directions(fast.SEED, 4, 1000)
    assert kept is fast.seeded_directions(fast.SEED, 4, 1000) and not kept.flags.writeable
    large = seeded.KEPT // 4 + 1
    drawn = fast.seeded_directions(fast.SEED, 4, large)
    assert drawn is not fast.seeded_directions(fast.SEED, 4, large)
    assert np.array_equal(drawn, fast.seeded_directions(fast.SEED, 4, large))
    assert not np.array_equal(drawn, fast.seeded_directions(fast.SEED + 1, 4, large))
    for directions in (kept, drawn):
        assert np.all((np.abs(directions) >= 1.0) & (np.abs(directions) < 1.5))
        assert 0.4 < np.mean(directions > 0) < 0.6


def test_uniform_draws_are_the_generators_own_numbers_kept_or_not():
    """A kept draw is the same read-only array each time, with the numbers default_rng(seed) gives;
    a large one is drawn anew, with the same numbers."""
    small = seeded.uniform(7, (2, 5))
    assert small is seeded.uniform(7, (2, 5)) and not small.flags.writeable
    assert np.array_equal(small, np.random.default_rng(7).random((2, 5)))
    assert not np.array_equal(small, seeded.uniform(8, (2, 5)))
    large = seeded.uniform(7, (seeded.KEPT + 1,))
    assert large is not seeded.uniform(7, (seeded.KEPT + 1,))
    assert np.array_equal(large, np.random.default_rng(7).random(seeded.KEPT + 1))
