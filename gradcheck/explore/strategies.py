"""Where to look: Hypothesis strategies over an input's support.

A gradient is most often wrong in the branches written for numerical
stability: the overflow-safe branch of softplus for large x, the series of
sinc for tiny |x|, a clamp near 0, the half-line a test never draws from. So
elements are drawn across magnitudes from 1e-6 to 1e6 with both signs, exact
zeros and values beside them, small integers, and, for reductions, arrays
whose elements repeat a few values (ties) — each clipped to the support. The
first alternative of each `one_of` is what Hypothesis shrinks towards, so a
failure shrinks to as many zeros (or support ends) as it can, and to the
smallest magnitudes that still fail.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAGNITUDES = (-6.0, 6.0)  # log10 of the smallest and largest magnitude searched
SMALLEST = 10.0 ** MAGNITUDES[0]


def _inside(low: float, high: float):
    return lambda v: low <= v <= high


def elements(low: float = -math.inf, high: float = math.inf) -> st.SearchStrategy[float]:
    """One element of an input whose support is [low, high] (either end may be infinite)."""
    simplest = 0.0 if low <= 0.0 <= high else (low if math.isfinite(low) else high)
    magnitude = st.builds(lambda e, sign: sign * 10.0 ** e, st.floats(*MAGNITUDES), st.sampled_from([1.0, -1.0]))
    choices = [
        st.just(simplest),
        st.sampled_from([v for v in (1.0, -1.0, 2.0, -2.0, 0.5, -0.5) if low <= v <= high] or [simplest]),
        magnitude.filter(_inside(low, high)),
    ]
    if math.isfinite(low) and math.isfinite(high):  # a bounded support: anywhere inside it, too
        anywhere = st.floats(low, high, allow_nan=False, allow_infinity=False)
        # below the smallest magnitude searched, a value means 0 (where 0 is in the support)
        choices.append(anywhere.map(lambda v: simplest if abs(v) < SMALLEST and low <= 0.0 <= high else v))
    if 0.0 < low or high < 0.0:  # beside a finite end of the support, where a domain edge sits
        edge = low if math.isfinite(low) else high
        choices.append(st.floats(1e-9, 1e-3).map(lambda d: edge + d if edge == low else edge - d))
    return st.one_of(*choices)


STRUCTURED = ("symmetric", "spd")  # generators whose support is a set of matrices, not a box
SMALL = 64  # elements: up to here each element is drawn (and shrunk) on its own
OVERRIDES = 8  # elements of a larger input set one by one over its background


def _spread(shape: tuple[int, ...], seed: int, scale: float, low: float, high: float) -> np.ndarray:
    """Values of about `scale`, both signs, by NumPy from `seed`, folded into [low, high]."""
    rng = np.random.default_rng(seed)
    if math.isfinite(low) and math.isfinite(high):  # within scale of 0, or of the end nearer 0
        a, b = max(low, -scale), min(high, scale)
        return rng.uniform(a, b, shape) if a < b else rng.uniform(low, min(high, low + scale), shape)
    values = scale * rng.standard_normal(shape)
    if math.isfinite(low):
        return low + np.abs(values)
    return high - np.abs(values) if math.isfinite(high) else values


def _large(shape: tuple[int, ...], low: float, high: float) -> st.SearchStrategy[np.ndarray]:
    """A large input, cheap to draw (Hypothesis drawing thousands of elements one by one costs more
    than the check): a background (one value everywhere, values of one magnitude, or a few values
    repeated) with up to OVERRIDES elements set one by one. It shrinks to a constant background and
    the fewest set elements."""
    size = int(np.prod(shape, dtype=np.int64))
    seed = st.integers(0, 2**32 - 1)
    constant = elements(low, high).map(lambda v: np.full(shape, v))
    spread = st.builds(lambda k, e: _spread(shape, k, 10.0 ** e, low, high), seed, st.floats(*MAGNITUDES))
    tied = st.builds(lambda k, pool: np.random.default_rng(k).choice(np.array(pool), shape), seed,
                     st.lists(elements(low, high), min_size=1, max_size=3))

    def build(background: np.ndarray, overrides: list[tuple[int, float]]) -> np.ndarray:
        array = np.array(background, dtype=np.float64)
        for index, value in overrides:
            array.flat[index] = value
        return array
    overrides = st.lists(st.tuples(st.integers(0, size - 1), elements(low, high)), max_size=OVERRIDES)
    return st.builds(build, st.one_of(constant, spread, tied), overrides)


def arrays(shape: tuple[int, ...], low: float = -math.inf, high: float = math.inf, *,
           dist: str | None = None, complex_values: bool = False) -> st.SearchStrategy[np.ndarray]:
    """An input of `shape`: elements drawn freely, or a few values repeated (ties for max, min, sort);
    an input of more than SMALL elements as a background with a few elements set; a symmetric or
    SPD generator's input as such a matrix (its support). A complex input draws its real and
    imaginary parts so, independently (the support bounds each)."""
    real = _real_arrays(shape, low, high, dist)
    return st.builds(lambda re, im: re + 1j * im, real, real) if complex_values else real


def _real_arrays(shape: tuple[int, ...], low: float, high: float, dist: str | None) -> st.SearchStrategy[np.ndarray]:
    if dist in STRUCTURED:
        return matrices(dist, tuple(shape))
    if int(np.prod(shape, dtype=np.int64)) > SMALL:
        return _large(tuple(shape), low, high)
    free = hnp.arrays(np.float64, shape, elements=elements(low, high))
    tied = st.lists(elements(low, high), min_size=1, max_size=3).flatmap(
        lambda pool: hnp.arrays(np.float64, shape, elements=st.sampled_from(pool)))
    return st.one_of(free, tied)


def _orthogonal(seed: int, batch: tuple[int, ...], n: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((*batch, n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def matrices(dist: str, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """The inputs of a generator whose draws are structured, kept in its support: `symmetric`,
    (A + A^T) / 2; `spd`, Q diag(λ) Q^T with λ from 1e-3 to 1e3 (condition numbers to 1e6) and Q a
    seeded rotation. They shrink to 0 and to the identity."""
    if dist == "symmetric":
        return arrays(shape).map(lambda a: (a + np.swapaxes(a, -1, -2)) / 2)
    *batch, n, _ = shape
    eigenvalue = st.one_of(st.just(1.0), st.floats(-3.0, 3.0).map(lambda e: 10.0 ** e))
    eigenvalues = hnp.arrays(np.float64, (*batch, n), elements=eigenvalue)

    def build(seed: int, lam: np.ndarray) -> np.ndarray:
        q = np.eye(n) if seed == 0 else _orthogonal(seed, tuple(batch), n)
        matrix = (q * lam[..., None, :]) @ np.swapaxes(q, -1, -2)
        return (matrix + np.swapaxes(matrix, -1, -2)) / 2
    return st.builds(build, st.integers(0, 2**32 - 1), eigenvalues)
