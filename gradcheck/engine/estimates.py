"""What the differences produce, as named values: sums -> quotients -> estimates -> a Reference.

    DifferenceSums  sum over outputs of dz * (change), per element (or direction) and step level
    Quotients       those sums divided by the steps as stored: central, one-sided, and round-off
    Estimate        the extrapolated value, its error, and the kink interval, per element
    Reference       one input's finished reference VJP, as the comparison layer reads it

Kinks. At relu(0), |x| at 0 or a clip bound, the one-sided derivatives
    D+(h) = (phi(x+h) - phi(x)) / h,   D-(h) = (phi(x) - phi(x-h)) / h
disagree by far more than their truncation error (O(h), estimated from the
last two steps). There every value between them is a valid subgradient, so
the estimate becomes an interval [lower, upper] instead of a point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck.engine.stencil import CENTRAL, Stencil, roundoff

KINK_FACTOR = 10.0  # one-sided slopes must disagree by this many times their truncation error


@dataclass(frozen=True)
class DifferenceSums:
    """(N, levels) sums over outputs of dz * change, for N elements or directions.

    central = sum dz (f(x+h) - f(x-h)); magnitude = what its round-off scales with
    (|f(x+h)| + |f(x-h)| over the outputs that moved); plus = sum dz (f(x+h) - f(x));
    minus = sum dz (f(x) - f(x-h)).
    """

    central: np.ndarray
    magnitude: np.ndarray
    plus: np.ndarray
    minus: np.ndarray

    @classmethod
    def empty(cls, count: int, levels: int) -> DifferenceSums:
        return cls(*(np.zeros((count, levels)) for _ in range(4)))

    def put(self, rows, y_plus: np.ndarray, y_minus: np.ndarray, f0: np.ndarray, dz: np.ndarray) -> None:
        """Fill `rows` from outputs (..., m) at x+h and x-h, each row owning every output."""
        moved = y_plus - y_minus
        self.central[rows] = moved @ dz
        self.magnitude[rows] = ((np.abs(y_plus) + np.abs(y_minus)) * (moved != 0)) @ np.abs(dz)
        self.plus[rows] = (y_plus - f0) @ dz
        self.minus[rows] = (f0 - y_minus) @ dz


@dataclass(frozen=True)
class Quotients:
    """(N, levels) difference quotients and the round-off of the central one."""

    central: np.ndarray
    roundoff: np.ndarray
    plus: np.ndarray
    minus: np.ndarray

    def take(self, where) -> Quotients:
        return Quotients(self.central[where], self.roundoff[where], self.plus[where], self.minus[where])

    def put(self, where, other: Quotients) -> None:
        for name in ("central", "roundoff", "plus", "minus"):
            getattr(self, name)[where] = getattr(other, name)

    @classmethod
    def concat(cls, parts: list[Quotients]) -> Quotients:
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("central", "roundoff", "plus", "minus")))


def quotients(sums: DifferenceSums, width, up, down) -> Quotients:
    """The one quotient assembly: sums over the steps as stored.

    width = (x+h) - (x-h), up = (x+h) - x, down = x - (x-h), each as the
    perturbed values were stored (not the h we meant); broadcast against (N, levels).
    """
    return Quotients(central=sums.central / width, roundoff=roundoff(sums.magnitude, width),
                     plus=sums.plus / up, minus=sums.minus / down)


@dataclass(frozen=True)
class Estimate:
    """(N,) per element: the extrapolated value, its error estimate, and the interval of valid values
    ([value, value] where smooth, the one-sided range at a kink)."""

    value: np.ndarray
    error: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    kink: np.ndarray
    roundoff: np.ndarray

    FIELDS = ("value", "error", "lower", "upper", "kink", "roundoff")

    @classmethod
    def empty(cls, n: int) -> Estimate:
        return cls(*(np.zeros(n, dtype=bool) if name == "kink" else np.empty(n) for name in cls.FIELDS))

    def put(self, where, other: Estimate, mask=slice(None)) -> None:
        """self[where] = other[mask], field by field, in place."""
        for name in self.FIELDS:
            getattr(self, name)[where] = getattr(other, name)[mask]


def estimate(q: Quotients, stencil: Stencil = CENTRAL) -> Estimate:
    """Extrapolated value, error estimate and kink interval from difference quotients."""
    value, error = stencil.value_and_error(q.central, q.roundoff)
    central_roundoff = q.roundoff @ stencil.weights
    # One-sided slopes are first order in h: extrapolate the last two levels once.
    plus_best = 2 * q.plus[:, -1] - q.plus[:, -2]
    minus_best = 2 * q.minus[:, -1] - q.minus[:, -2]
    spread = np.abs(q.plus[:, -1] - q.plus[:, -2]) + np.abs(q.minus[:, -1] - q.minus[:, -2])
    one_sided_noise = 2 * central_roundoff * stencil.ratio ** (stencil.levels - 1)
    jump = np.abs(plus_best - minus_best)
    kink = (jump > KINK_FACTOR * (spread + one_sided_noise)) & (
        jump > 1e-8 * (np.abs(plus_best) + np.abs(minus_best))
    )
    slack = spread + one_sided_noise
    lower = np.where(kink, np.minimum(plus_best, minus_best) - slack, value)
    upper = np.where(kink, np.maximum(plus_best, minus_best) + slack, value)
    return Estimate(value=value, error=error, lower=lower, upper=upper, kink=kink, roundoff=central_roundoff)


@dataclass(frozen=True)
class Tie:
    """Kink elements with equal values that share an output, moved together (ties.py)."""

    indices: tuple[int, ...]  # flat indices into the input
    value: float  # derivative of phi along the sum of their unit vectors
    error: float


@dataclass(frozen=True)
class Reference:
    """The reference VJP for one input, element by element."""

    value: np.ndarray  # best estimate of (J^T dz)_i
    error: np.ndarray  # estimated |value - truth|, >= 0
    lower: np.ndarray  # valid interval: == value where smooth, one-sided range at kinks
    upper: np.ndarray
    kinks: int  # number of elements checked as kinks
    evaluations: int  # forward evaluations spent
    batched: bool  # whether the forward took batched points
    method: str = "central differences"  # or "complex step"
    groups: int = 0  # groups of several elements moved together (0: one element at a time)
    ties: tuple[Tie, ...] = ()  # tied kinks whose gradients must sum to the joint derivative
    notes: tuple[str, ...] = ()  # what else a reader of the report should know

    @classmethod
    def exact(cls, value: np.ndarray, error: np.ndarray | None = None) -> Reference:
        """A point reference with no interval (a published answer, an exact value)."""
        value = np.asarray(value, dtype=np.float64)
        error = np.zeros(value.shape) if error is None else error
        return cls(value=value, error=error, lower=value, upper=value, kinks=0, evaluations=0, batched=False)
