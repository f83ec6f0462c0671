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


def test_random_signs_take_sign_and_magnitude_from_one_draw_independently():
    """u >= 1/2 gives the sign and 1 + (2u mod 1)/2 the magnitude: a fair sign, and on either side
    magnitudes uniform on [1, 1.5) (quartiles 1.125, 1.25, 1.375)."""
    u = np.random.default_rng(3).random((4, 50_000))
    drawn = seeded.random_signs(3, (4, 50_000))
    assert np.array_equal(drawn > 0, u >= 0.5)
    assert np.allclose(np.abs(drawn), 1.0 + 0.5 * np.where(u >= 0.5, 2 * u - 1, 2 * u))
    for side in (drawn > 0, drawn < 0):
        assert np.allclose(np.quantile(np.abs(drawn[side]), [0.25, 0.5, 0.75]), [1.125, 1.25, 1.375], atol=0.005)
    assert 0.49 < np.mean(drawn > 0) < 0.51


def test_the_jitter_is_one_kept_draw_per_input_size():
    """The steps' jitter and the batching probe's nudges read the same draw: no second generator."""
    assert seeded.jitter(300) is seeded.uniform(300, (300,))
    assert np.array_equal(seeded.jitter(300), np.random.default_rng(300).random(300))
