"""The difference stencil as a value, and the step rules every reference shares.

Central differences. For a step h,
    D(h) = (phi(x + h) - phi(x - h)) / 2h = phi' + c1 h^2 + c2 h^4 + ...
has only even powers of h, so Richardson extrapolation over h, h/r, h/r^2, ...
cancels them one at a time:
    R[l][m] = (r^(2m) R[l][m-1] - R[l-1][m-1]) / (r^(2m) - 1),
leaving O(h^(2L)) truncation in R[L-1][L-1] for L levels. With L = 4 and
r = 2 that is O(h^8). The distance between the last two diagonal entries
bounds the error of the second-best one; the best is (much) closer.

Step size. Round-off in a difference quotient grows like eps |f| / h and
truncation like h^(2L): the first step is BASE_STEP = 1/16 of each element's
scale, which for a smooth float64 forward puts the extrapolated truncation
near 1e-10 relative and the round-off near 1e-14. Elements that meet a domain
edge or do not converge are retried RETRY_SHRINK times smaller, at most
RETRIES times (retry_steps); elements whose differences left the forward's
domain keep shrinking, DOMAIN_RETRIES times in all.

Locality (DESIGN section 7). No perturbed point is farther from x than RADIUS
of each element's scale (radius): a forward need only be defined, and
terminate, near the point. A sqrt, a Cholesky factor or a fixed-point loop
that never ends for a negative argument is then never asked about a point
the case did not come near.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.engine import seeded

EPS = float(np.finfo(np.float64).eps)
BASE_STEP = 2.0**-4  # the largest step, relative to an element's scale
JITTER = 0.25  # steps are spread by up to this fraction so that no two effects cancel exactly
RETRY_SHRINK = 16.0  # a step that met a domain edge or did not converge is retried this much smaller
RETRIES = 2
DOMAIN_RETRIES = 5  # retries for elements whose differences met a domain edge: steps down to ~1e-6 of the first
RADIUS = 0.25  # no perturbed element moves farther than this fraction of its scale
ROUNDOFF_FACTOR = 4.0  # ulps of error assumed in each output of the user's forward
CONVERGED = 1e-9  # an estimate whose error is above this fraction of its size is retried


@dataclass(frozen=True)
class Stencil:
    """Central differences at `levels` steps h, h/ratio, ..., extrapolated in even powers of h."""

    levels: int = 4
    ratio: float = 2.0
    power: int = 2  # the error of D(h) expands in h^power, h^(2 power), ...
    shrink: np.ndarray = field(init=False, repr=False, compare=False)  # (levels,) 1, 1/ratio, ...
    weights: np.ndarray = field(init=False, repr=False, compare=False)  # |w_l| with R[L-1][L-1] = sum w_l D_l

    def __post_init__(self):
        object.__setattr__(self, "shrink", self.ratio ** -np.arange(self.levels, dtype=np.float64))
        object.__setattr__(self, "weights", np.abs(self.extrapolate(np.eye(self.levels))[:, -1]))

    def extrapolate(self, estimates: np.ndarray) -> np.ndarray:
        """The Richardson table's diagonal R[l][l] for each l, along the last axis of `estimates`."""
        table = [estimates[..., level] for level in range(estimates.shape[-1])]
        diagonal = [table[0]]
        for m in range(1, len(table)):
            factor = self.ratio ** (self.power * m)
            table = [(factor * table[l] - table[l - 1]) / (factor - 1) for l in range(1, len(table))]
            diagonal.append(table[0])
        return np.stack(diagonal, axis=-1)

    def one_sided(self) -> Stencil:
        """The same steps for one-sided quotients (phi(x + h) - phi(x)) / h, whose error holds every
        power of h, odd ones too: extrapolated in h, h^2, h^3, ..."""
        return Stencil(self.levels, self.ratio, power=1)

    def value_and_error(self, central: np.ndarray, roundoff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The extrapolated value and its error estimate: truncation (last two diagonal entries apart)
        plus the round-off of the quotients carried through the extrapolation weights."""
        table = self.extrapolate(central)
        return table[..., -1], np.abs(table[..., -1] - table[..., -2]) + roundoff @ self.weights


CENTRAL = Stencil()


def moved_magnitude(y: np.ndarray, base: np.ndarray) -> np.ndarray:
    """|y| + |base| where y differs from base, else 0: what the round-off of y - base scales with."""
    return (np.abs(y) + np.abs(base)) * (y != base)


def roundoff(magnitude: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """The round-off of a difference quotient: ROUNDOFF_FACTOR ulps of everything that was
    subtracted (only outputs that moved contribute), over the step width."""
    return ROUNDOFF_FACTOR * EPS * magnitude / width


def scales(x: np.ndarray) -> np.ndarray:
    """The size each element moves relative to: |x_i|, with a floor for elements near zero.

    The floor is a tenth of the input's typical magnitude: a zero in an input
    of ones should move about as far as its neighbours, not by 1e-300.
    """
    flat = np.abs(x.reshape(-1))
    typical = float(np.mean(flat)) if flat.size else 0.0
    floor = max(0.1 * typical, 1e-3 if typical == 0 else 1e-12)
    return np.maximum(flat, floor)


def initial_steps(x: np.ndarray) -> np.ndarray:
    """The largest step per element, BASE_STEP times its scale, spread by a seeded jitter.

    The jitter makes two elements' effects on a shared output cancel exactly
    (which would hide a conflict from sparsity.py's probes) only by accident of
    measure zero, even in an input of equal values.
    """
    jitter = 1.0 + JITTER * seeded.jitter(x.size)
    return BASE_STEP * scales(x) * jitter


def radius(x: np.ndarray) -> np.ndarray:
    """How far each element may move, at most: RADIUS of its scale (DESIGN section 7)."""
    return RADIUS * scales(x)


def largest_multiple(moves: np.ndarray, x: np.ndarray) -> float:
    """The largest t with t |moves[..., i]| within every element's radius (moves: (..., n) over x's elements)."""
    reach = np.abs(np.asarray(moves, dtype=np.float64)).reshape(-1, x.size).max(axis=0, initial=0.0)
    moving = reach > 0
    return float(np.min(radius(x)[moving] / reach[moving], initial=np.inf))


def retry_steps(first, retries: int = RETRIES):
    """The one retry rule: the first step, then `retries` more, each RETRY_SHRINK times smaller."""
    return (first / RETRY_SHRINK**attempt for attempt in range(retries + 1))


def unconverged(value: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Estimates worth retrying with smaller steps: a non-finite error (a domain edge), or an
    error above CONVERGED of the value's size (measured against the typical finite value, so that
    values near zero are not held to a relative standard)."""
    finite = np.abs(value[np.isfinite(value)])
    typical = float(np.mean(finite)) if finite.size else 0.0
    return ~np.isfinite(error) | (error > CONVERGED * (np.abs(value) + typical))


def unmoved(value: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Estimates of exactly 0 +- 0: no output moved at any step. At a smaller step than one where the
    outputs did move, that is a change below their rounding (mse_loss at x = 0 beside a target of 1e5:
    a step of 2.6e-7 changes the mean of 8.3e8 by 4e-8, under half its ulp), not a derivative of 0; such
    a retry does not replace the estimate that saw the forward move."""
    return (value == 0) & (error == 0)


def segment_sum(owners: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """(L, u) values summed per owner (each of the u columns belongs to one of `count` owners) -> (count, L)."""
    levels = values.shape[0]
    index = owners[None, :] + count * np.arange(levels)[:, None]
    sums = np.bincount(index.ravel(), weights=values.ravel(), minlength=count * levels)
    return sums.reshape(levels, count).T


def relative_error(distance: np.ndarray, reference: np.ndarray, floor: float) -> np.ndarray:
    """|distance| / max(|reference|, floor): relative to the reference, or to the absolute floor below it.

    Relative error means little below an absolute floor (a saturated sigmoid's
    1e-18 is zero for every purpose), yet a nonzero distance must never read as
    a relative error of 0: below the floor it is measured against the floor.
    """
    distance = np.abs(np.asarray(distance)).astype(np.float64)  # |.| first: a complex value's modulus
    scale = np.maximum(np.abs(np.asarray(reference)).astype(np.float64), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(distance == 0, 0.0, distance / scale)
