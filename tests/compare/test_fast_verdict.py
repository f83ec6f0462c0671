"""Fast mode's verdict (compare/fast.py): the exactly rounded <gradient, direction>."""

import math

import numpy as np

from gradcheck.compare.fast import exact_dot


def test_exact_dot_is_fsum_of_the_products_across_chunks():
    """Products spanning 16 orders of magnitude, over more elements than a chunk: the same bits as
    math.fsum over the whole product, where NumPy's pairwise sum loses the small terms."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=200_001) * 10.0 ** rng.integers(-8, 8, size=200_001)
    u = rng.normal(size=200_001)
    assert exact_dot(a, u, chunk=4096) == math.fsum((a * u).tolist()) == exact_dot(a, u)
    assert exact_dot(np.array([1e16, 1.0, -1e16]), np.ones(3)) == 1.0  # np.dot gives 0.0
    assert exact_dot(np.zeros(0), np.zeros(0)) == 0.0
