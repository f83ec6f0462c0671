"""Fast mode's directions (engine/fast.py)."""

import numpy as np

from gradcheck.engine import fast


def test_seeded_directions_are_kept_for_small_inputs_and_drawn_alike_for_large_ones():
    """Kept directions (small inputs) are read-only and the same each time; any size gets random signs
    times magnitudes in [1, 1.5), the same for the same seed, different for another."""
    kept = fast.seeded_directions(fast.SEED, 4, 1000)
    assert kept is fast.seeded_directions(fast.SEED, 4, 1000) and not kept.flags.writeable
    large = fast.CACHED_SIZE + 1
    drawn = fast.seeded_directions(fast.SEED, 4, large)
    assert drawn is not fast.seeded_directions(fast.SEED, 4, large)
    assert np.array_equal(drawn, fast.seeded_directions(fast.SEED, 4, large))
    assert not np.array_equal(drawn, fast.seeded_directions(fast.SEED + 1, 4, large))
    for directions in (kept, drawn):
        assert np.all((np.abs(directions) >= 1.0) & (np.abs(directions) < 1.5))
        assert 0.4 < np.mean(directions > 0) < 0.6
