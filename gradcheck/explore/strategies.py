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


def arrays(shape: tuple[int, ...], low: float = -math.inf, high: float = math.inf,
           complex_values: bool = False) -> st.SearchStrategy[np.ndarray]:
    """An input of `shape`: elements drawn freely, or a few values repeated (ties for max, min, sort).
    A complex input draws its real and imaginary parts so, independently (the support bounds each)."""
    free = hnp.arrays(np.float64, shape, elements=elements(low, high))
    tied = st.lists(elements(low, high), min_size=1, max_size=3).flatmap(
        lambda pool: hnp.arrays(np.float64, shape, elements=st.sampled_from(pool)))
    real = st.one_of(free, tied)
    if not complex_values:
        return real
    return st.builds(lambda re, im: re + 1j * im, real, real)
