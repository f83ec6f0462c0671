"""Fast mode's verdict (compare/fast.py): the exactly rounded <gradient, direction>."""

from fractions import Fraction

import numpy as np
import pytest

from gradcheck.compare.fast import EXTENDED, along_directions

EPS = np.finfo(np.float64).eps


def _exact(a: np.ndarray, u: np.ndarray) -> Fraction:
    return sum((Fraction(x) * Fraction(y) for x, y in zip(a.tolist(), u.tolist())), Fraction(0))


@pytest.mark.parametrize("extended, products", [pytest.param(True, 1 / 64, marks=pytest.mark.skipif(
    not EXTENDED, reason="NumPy's long double is a plain double here")), (False, 1 / 2)])
def test_along_directions_is_within_its_bound_of_the_exact_dot(extended, products):
    """Products spanning 16 orders of magnitude, over more elements than a chunk: within
    eps/2 |<a, u>| + eps/2 sum |a_i u_i| of the exact rational value (the allowance reserves
    2 eps sum |a_i u_i|); in extended precision the products' share is below eps/64 sum |a_i u_i|.
    The same numbers chunk by chunk."""
    rng = np.random.default_rng(3)
    n = 20_001
    a = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, size=n)
    u = np.stack([rng.normal(size=n), np.sign(a) / np.abs(a)])  # the second: n ones (up to u's rounding)
    got = along_directions(a, u, chunk=4096, extended=extended)
    assert np.array_equal(got, along_directions(a, u, extended=extended))
    for k in range(2):
        exact = _exact(a, u[k])
        bound = EPS / 2 * abs(float(exact)) + products * EPS * float(np.sum(np.abs(a * u[k])))
        assert abs(Fraction(got[k]) - exact) <= Fraction(bound)
    assert abs(got[1] - n) <= n * EPS


@pytest.mark.parametrize("extended", [EXTENDED, False])
def test_along_directions_keeps_what_float64_cancels(extended):
    assert along_directions(np.array([1e16, 1.0, -1e16]), np.ones((2, 3)), extended=extended).tolist() == [1.0, 1.0]
    assert np.array([1e16, 1.0, -1e16]) @ np.ones(3) == 0.0
    assert along_directions(np.zeros(0), np.zeros((3, 0)), extended=extended).tolist() == [0.0, 0.0, 0.0]
