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

Domain edges. A point where the forward raises or returns a non-finite value
(evaluator.py) leaves NaN in the quotients that use it. Where the central
quotients are not finite but one side's are, at every level (the point sits
at, or within a step of, the edge of the forward's domain), that side's
quotients are extrapolated instead, in every power of h (one-sided
differences hold odd powers too): the estimate is then `one_sided`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from gradcheck.dtypes import as_float64
from gradcheck.engine.stencil import CENTRAL, Stencil, roundoff

KINK_FACTOR = 10.0  # one-sided slopes must disagree by this many times their truncation error


@dataclass(frozen=True)
class DifferenceSums:
    """(N, levels) sums over outputs of dz * change, for N elements or directions.

    central = sum dz (f(x+h) - f(x-h)); magnitude = what its round-off scales with
    (|f(x+h)| + |f(x-h)| over the outputs that moved); plus = sum dz (f(x+h) - f(x));
    minus = sum dz (f(x) - f(x-h)); plus_magnitude and minus_magnitude likewise for one side.
    """

    central: np.ndarray
    magnitude: np.ndarray
    plus: np.ndarray
    minus: np.ndarray
    plus_magnitude: np.ndarray
    minus_magnitude: np.ndarray

    @classmethod
    def empty(cls, count: int, levels: int) -> DifferenceSums:
        return cls(*(np.zeros((count, levels)) for _ in fields(cls)))

    def put(self, rows, y_plus: np.ndarray, y_minus: np.ndarray, f0: np.ndarray, dz: np.ndarray, *,
            whole_rows: bool = False) -> None:
        """Fill `rows` from outputs (..., m) at x+h and x-h, each row owning every output.

        whole_rows: y_plus is (rows, levels, m), every level of each row. Then the one-sided
        magnitudes, read only where a row's central quotients are not finite (a domain edge, see
        _one_sided_where_central_fails), are summed for those rows only, and left unknown (inf)
        elsewhere: two of six passes over the largest arrays here.
        """
        weight = np.abs(dz)
        # These arrays are the largest here, so one buffer takes each term in turn: a fresh array of a
        # few hundred kB costs its pages again at every call (a third of a small check's time).
        work = np.subtract(y_plus, y_minus)
        self.central[rows] = central = _dot(work, dz)
        self.plus[rows] = _dot(np.subtract(y_plus, f0, out=work), dz)
        self.minus[rows] = _dot(np.subtract(f0, y_minus, out=work), dz)
        moved = y_plus != y_minus  # moved_magnitude = sum (|f(x+h)| + |f(x-h)|) |dz| over these, a side at a time
        magnitude = _dot(np.multiply(np.abs(y_plus, out=work), moved, out=work), weight)
        magnitude += _dot(np.multiply(np.abs(y_minus, out=work), moved, out=work), weight)
        self.magnitude[rows] = magnitude
        if whole_rows:
            need = ~np.all(np.isfinite(central) & np.isfinite(magnitude), axis=-1)
            self.plus_magnitude[rows] = self.minus_magnitude[rows] = np.inf
            if not need.any():
                return
            rows, y_plus, y_minus = np.asarray(rows)[need], y_plus[need], y_minus[need]
        base = np.abs(f0)
        self.plus_magnitude[rows] = _dot((np.abs(y_plus) + base) * (y_plus != f0), weight)
        self.minus_magnitude[rows] = _dot((np.abs(y_minus) + base) * (y_minus != f0), weight)


def _dot(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """a (..., m) @ w (m,) as one matrix-vector product: NumPy's matmul over a 3-D array makes one
    BLAS call per leading index (32 directions: twice the time)."""
    a = np.ascontiguousarray(a)
    return (a.reshape(-1, a.shape[-1]) @ w).reshape(a.shape[:-1])


@dataclass(frozen=True)
class Quotients:
    """(N, levels) difference quotients and the round-off of each."""

    central: np.ndarray
    roundoff: np.ndarray
    plus: np.ndarray
    minus: np.ndarray
    plus_roundoff: np.ndarray
    minus_roundoff: np.ndarray

    def take(self, where) -> Quotients:
        return Quotients(*(getattr(self, f.name)[where] for f in fields(self)))

    def at_levels(self, levels) -> Quotients:
        """The quotients at some of the steps only (columns)."""
        return Quotients(*(getattr(self, f.name)[:, levels] for f in fields(self)))

    def put(self, where, other: Quotients) -> None:
        for f in fields(self):
            getattr(self, f.name)[where] = getattr(other, f.name)

    @classmethod
    def concat(cls, parts: list[Quotients]) -> Quotients:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


def quotients(sums: DifferenceSums, width, up, down) -> Quotients:
    """The one quotient assembly: sums over the steps as stored.

    width = (x+h) - (x-h), up = (x+h) - x, down = x - (x-h), each as the
    perturbed values were stored (not the h we meant); broadcast against (N, levels).
    """
    return Quotients(central=sums.central / width, roundoff=roundoff(_carried(sums.magnitude), width),
                     plus=sums.plus / up, minus=sums.minus / down,
                     plus_roundoff=roundoff(_carried(sums.plus_magnitude), up),
                     minus_roundoff=roundoff(_carried(sums.minus_magnitude), down))


def _carried(magnitude: np.ndarray) -> np.ndarray:
    """(N, levels) round-off magnitudes, each level's at least the widest step's before it.

    An output that moved at step h and not at h/2 did not stop depending on the element: its change
    fell under half its ulp, and the exact 0 of that difference is as uncertain as the outputs are
    large. Only outputs that moved at no step (relu off, a constant) keep a magnitude of 0. (mse_loss
    at x = 0 beside a target of 5.6e5: phi = 2.6e10, and x[1, 2]'s quotients moved at the widest step
    only; the extrapolation of "exact" zeros gave 1.9e-4 +- 0.013 where the derivative is -1/3.)"""
    return np.maximum.accumulate(magnitude, axis=-1) if magnitude.ndim == 2 else magnitude


@dataclass(frozen=True)
class Estimate:
    """(N,) per element: the extrapolated value, its error estimate, and the interval of valid values
    ([value, value] where smooth, the one-sided range at a kink); whether it is one-sided (a domain edge)."""

    value: np.ndarray
    error: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    kink: np.ndarray
    roundoff: np.ndarray
    one_sided: np.ndarray

    FIELDS = ("value", "error", "lower", "upper", "kink", "roundoff", "one_sided")
    FLAGS = ("kink", "one_sided")

    @classmethod
    def empty(cls, n: int) -> Estimate:
        """n elements with no estimate yet: NaN values, infinite errors."""
        return cls(*(np.zeros(n, dtype=bool) if name in cls.FLAGS else np.full(n, np.inf if name == "error" else np.nan)
                     for name in cls.FIELDS))

    def put(self, where, other: Estimate, mask=slice(None)) -> None:
        """self[where] = other[mask], field by field, in place."""
        for name in self.FIELDS:
            getattr(self, name)[where] = getattr(other, name)[mask]


def estimate(q: Quotients, stencil: Stencil = CENTRAL) -> Estimate:
    """Extrapolated value, error estimate and kink interval from difference quotients; one-sided where
    the central quotients are not finite (a domain edge) and one side's are."""
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
    found = Estimate(value=value, error=error, lower=lower, upper=upper, kink=kink, roundoff=central_roundoff,
                     one_sided=np.zeros(len(value), dtype=bool))
    _one_sided_where_central_fails(q, stencil, found)
    return found


def _one_sided_where_central_fails(q: Quotients, stencil: Stencil, found: Estimate) -> None:
    """In place: elements whose central estimate is not finite take the better finite one-sided one."""
    failed = ~(np.isfinite(found.value) & np.isfinite(found.error))
    if not failed.any():
        return
    side = stencil.one_sided()
    plus_value, plus_error = side.value_and_error(q.plus[failed], q.plus_roundoff[failed])
    minus_value, minus_error = side.value_and_error(q.minus[failed], q.minus_roundoff[failed])
    plus_ok = np.isfinite(plus_value) & np.isfinite(plus_error)
    minus_ok = np.isfinite(minus_value) & np.isfinite(minus_error)
    use_minus = minus_ok & (~plus_ok | (minus_error < plus_error))
    value = np.where(use_minus, minus_value, plus_value)
    error = np.where(use_minus, minus_error, plus_error)
    ok = plus_ok | minus_ok
    where = np.flatnonzero(failed)[ok]
    found.value[where] = found.lower[where] = found.upper[where] = value[ok]
    found.error[where] = error[ok]
    found.kink[where] = False
    found.one_sided[where] = True


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
    evaluations: int  # forward evaluations spent, proofs included
    batched: bool  # whether the forward took batched points
    method: str = "central differences"  # or "complex step"
    groups: int = 0  # groups of several elements moved together (0: one element at a time)
    ties: tuple[Tie, ...] = ()  # tied kinks whose gradients must sum to the joint derivative
    notes: tuple[str, ...] = ()  # what else a reader of the report should know
    colours: int = 0  # sets of elements differenced together, groups of one included (the grouped floor's count)
    proof_evaluations: int = 0  # of `evaluations`, those spent proving the groups (sparsity.py, the sample alone)
    tangent: np.ndarray | None = None  # forward mode: the tangent differenced along (directional.representable)

    @classmethod
    def exact(cls, value: np.ndarray, error: np.ndarray | None = None) -> Reference:
        """A point reference with no interval (a published answer, an exact value)."""
        value = as_float64(value)  # complex stays complex
        error = np.zeros(value.shape) if error is None else error
        return cls(value=value, error=error, lower=value, upper=value, kinks=0, evaluations=0, batched=False)


class OutsideDomain(ValueError):
    """No estimate for some elements: at every step, down to the smallest, the forward raised or returned
    a non-finite value on both sides of the point."""

    def __init__(self, index: tuple[int, ...], value: float, smallest: float, failure: str | None, more: int):
        self.index, self.value, self.smallest, self.failure, self.more = index, value, smallest, failure, more
        super().__init__(self.describe("input"))

    def describe(self, name: str) -> str:
        """E.g. "x[3]: the forward raises ValueError on both sides of 0.0012 at every step down to 1e-09: ..."."""
        kind, _, message = (self.failure or "").partition(": ")
        what = f"raises {kind}" if self.failure else "returns a non-finite value"
        at = ", ".join(str(i) for i in self.index)
        text = (f"{name}[{at}]: the forward {what} on both sides of {self.value:.6g} at every step down to "
                f"{self.smallest:.2g}")
        text += f": {message}" if message else ""
        return text + (f" (and {self.more} more element(s) likewise)" if self.more else "")
