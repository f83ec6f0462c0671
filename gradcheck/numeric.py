"""The finite-difference reference: J^T dz with a per-element error estimate.

We differentiate the scalar  phi(x) = sum(dz * f(x))  in float64. Its gradient
is exactly the VJP J^T dz, so one scalar derivative per input element gives
the whole reference, whatever the output's size.

Central differences. For a step h,
    D(h) = (phi(x + h e_i) - phi(x - h e_i)) / 2h = phi' + c1 h^2 + c2 h^4 + ...
has only even powers of h, so Richardson extrapolation over h, h/2, h/4, h/8
cancels them one at a time:
    R[l][m] = (4^m R[l][m-1] - R[l-1][m-1]) / (4^m - 1),
leaving an O(h^8) truncation error in R[3][3]. The error estimate is the
distance between the last two extrapolation levels plus the round-off of the
differences (machine epsilon times the size of what was subtracted, over the
step), so it grows when the steps are too small as well as too large.

Two details buy most of the accuracy. We subtract outputs element-wise before
summing (sum(dz * (f(x+h) - f(x-h))), not phi(x+h) - phi(x-h)): outputs that do
not depend on x_i cancel exactly, so round-off scales with the outputs that
moved, not with the size of f. And the step is the difference of the perturbed
values as stored, (x+h) - (x-h), not the h we meant.

Kinks. At relu(0), |x| at 0 or a clip bound, the one-sided derivatives
    D+(h) = (phi(x+h) - phi(x)) / h,   D-(h) = (phi(x) - phi(x-h)) / h
disagree by far more than their truncation error (O(h), estimated from two
steps). There every value between them is a valid subgradient, so the
reference becomes an interval [lower, upper] instead of a point.

Batching. The perturbed points are stacked along a new leading axis and sent
to the forward in one call when it broadcasts over that axis; a batched call
is trusted only after its first and last rows equal separate calls (a forward
that reduces over all axes returns the right shape with the wrong numbers).
Chunks are sized to a memory budget; otherwise points go one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

EPS = float(np.finfo(np.float64).eps)
LEVELS = 4  # steps h, h/2, h/4, h/8
BASE_STEP = 2.0**-4  # h = BASE_STEP * scale_i; R[3][3] leaves O(h^8) truncation
RETRY_SHRINK = 16.0  # a step that met a domain edge or did not converge is retried this much smaller
RETRIES = 2
ROUNDOFF_FACTOR = 4.0  # ulps of error assumed in each output of the user's forward
KINK_FACTOR = 10.0  # one-sided slopes must disagree by this many times their truncation error
DEFAULT_MEMORY_BYTES = 256 * 2**20


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


class _Evaluator:
    """Evaluates the forward at many values of one input, batched when proven safe."""

    def __init__(self, forward: Callable, inputs: Sequence[np.ndarray], index: int,
                 output_shape: tuple[int, ...], memory_bytes: int):
        self.forward, self.inputs, self.index = forward, list(inputs), index
        self.output_shape = output_shape
        in_size = max(inputs[index].size, 1)
        out_size = max(int(np.prod(output_shape)), 1)
        # Several float64 temporaries of each output live at once while differencing.
        self.max_batch = max(1, memory_bytes // (8 * (in_size + 6 * out_size)))
        self.batched: bool | None = None if self.max_batch >= 2 else False
        self.evaluations = 0

    def _call(self, x: np.ndarray) -> np.ndarray:
        args = list(self.inputs)
        args[self.index] = x
        with np.errstate(all="ignore"):
            return np.asarray(self.forward(*args), dtype=np.float64)

    def _one_by_one(self, points: np.ndarray) -> np.ndarray:
        self.evaluations += len(points)
        return np.stack([self._call(point) for point in points])

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points: (B, *input_shape) -> outputs (B, *output_shape)."""
        if self.batched is False or len(points) < 2:
            return self._one_by_one(points)
        if self.batched is None:
            self.batched = self._probe(points)
            if not self.batched:
                return self._one_by_one(points)
        self.evaluations += len(points)
        return self._call(points)

    def _probe(self, points: np.ndarray) -> bool:
        try:
            batch = self._call(points)
        except Exception:
            return False
        if batch.shape != (len(points), *self.output_shape):
            return False
        for row in (0, len(points) - 1):
            alone = self._call(points[row])
            scale = np.max(np.abs(alone), initial=0.0)
            if not np.allclose(batch[row], alone, rtol=4 * EPS, atol=4 * EPS * scale, equal_nan=True):
                return False
        return True


def _richardson(estimates: np.ndarray, ratio: float, power: int) -> np.ndarray:
    """Richardson table along the last axis (steps h, h/ratio, h/ratio^2, ...).

    The error of estimates[..., l] expands in powers (h/ratio^l)^(power*k);
    returns the table's diagonal R[l][l] for each l.
    """
    table = [estimates[..., l] for l in range(estimates.shape[-1])]
    diagonal = [table[0]]
    for m in range(1, len(table)):
        factor = ratio ** (power * m)
        table = [(factor * table[l] - table[l - 1]) / (factor - 1) for l in range(1, len(table))]
        diagonal.append(table[0])
    return np.stack(diagonal, axis=-1)


def _richardson_weights(ratio: float, power: int, levels: int) -> np.ndarray:
    """Coefficients w with R[last][last] = sum_l w_l D_l (for propagating round-off)."""
    return _richardson(np.eye(levels), ratio, power)[:, -1]


_CENTRAL_WEIGHTS = np.abs(_richardson_weights(2.0, 2, LEVELS))


def _differences(evaluate: _Evaluator, x: np.ndarray, elements: np.ndarray, steps: np.ndarray,
                 dz: np.ndarray, f0: np.ndarray) -> dict[str, np.ndarray]:
    """Central and one-sided difference quotients for some elements of x.

    elements: (E,) flat indices; steps: (E,) the largest step per element.
    Returns per element and level: central D, one-sided Dp/Dm, round-off of D.
    """
    count = len(elements)
    shrink = 2.0 ** -np.arange(LEVELS)
    h = steps[:, None] * shrink[None, :]  # (E, L)
    xi = x.reshape(-1)[elements][:, None]  # (E, 1)
    plus, minus = xi + h, xi - h
    points = np.broadcast_to(x.reshape(-1), (count, LEVELS, 2, x.size)).copy()
    rows = np.arange(count)
    points[rows, :, 0, elements] = plus
    points[rows, :, 1, elements] = minus
    outputs = evaluate(points.reshape(count * LEVELS * 2, *x.shape))
    outputs = outputs.reshape(count, LEVELS, 2, -1)
    y_plus, y_minus = outputs[:, :, 0], outputs[:, :, 1]
    moved = y_plus - y_minus
    width = plus - minus  # the step as stored, not as meant
    central = (moved @ dz) / width
    # Round-off: each output carries a few ulps; only outputs that moved contribute.
    magnitude = ((np.abs(y_plus) + np.abs(y_minus)) * (moved != 0)) @ np.abs(dz)
    roundoff = ROUNDOFF_FACTOR * EPS * magnitude / width
    one_sided_plus = ((y_plus - f0) @ dz) / (plus - xi)
    one_sided_minus = ((f0 - y_minus) @ dz) / (xi - minus)
    return {"central": central, "roundoff": roundoff, "plus": one_sided_plus, "minus": one_sided_minus}


def _estimate(diffs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Extrapolated value, error estimate and kink interval from difference quotients."""
    table = _richardson(diffs["central"], 2.0, 2)
    value = table[:, -1]
    roundoff = diffs["roundoff"] @ _CENTRAL_WEIGHTS
    # The spread between the last two diagonal entries bounds the error of the
    # second-best one; the best is (much) closer than that.
    truncation = np.abs(table[:, -1] - table[:, -2])
    error = truncation + roundoff

    # One-sided slopes, first order in h: extrapolate the last two levels once.
    plus, minus = diffs["plus"], diffs["minus"]
    plus_best = 2 * plus[:, -1] - plus[:, -2]
    minus_best = 2 * minus[:, -1] - minus[:, -2]
    spread = np.abs(plus[:, -1] - plus[:, -2]) + np.abs(minus[:, -1] - minus[:, -2])
    one_sided_noise = 2 * roundoff * 2.0 ** (LEVELS - 1)
    jump = np.abs(plus_best - minus_best)
    kink = (jump > KINK_FACTOR * (spread + one_sided_noise)) & (
        jump > 1e-8 * (np.abs(plus_best) + np.abs(minus_best))
    )
    slack = spread + one_sided_noise
    lower = np.where(kink, np.minimum(plus_best, minus_best) - slack, value)
    upper = np.where(kink, np.maximum(plus_best, minus_best) + slack, value)
    return {"value": value, "error": error, "lower": lower, "upper": upper, "kink": kink}


def _initial_steps(x: np.ndarray) -> np.ndarray:
    """Step per element: relative to |x_i|, with a floor for elements near zero.

    The floor is a tenth of the input's typical magnitude: a zero in an input
    of ones should move about as far as its neighbours, not by 1e-300.
    """
    flat = np.abs(x.reshape(-1))
    typical = float(np.mean(flat)) if flat.size else 0.0
    floor = max(0.1 * typical, 1e-3 if typical == 0 else 1e-12)
    return BASE_STEP * np.maximum(flat, floor)


def reference_vjp(forward: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
                  index: int, *, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> Reference:
    """The finite-difference VJP of `forward` with respect to inputs[index]."""
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    x = inputs[index]
    with np.errstate(all="ignore"):
        f0 = np.asarray(forward(*inputs), dtype=np.float64)
    dz = np.asarray(cotangent, dtype=np.float64).reshape(-1)
    evaluate = _Evaluator(forward, inputs, index, f0.shape, memory_bytes)
    f0 = f0.reshape(-1)

    n = x.size
    best = {key: np.full(n, np.nan) for key in ("value", "error", "lower", "upper")}
    best["error"][:] = np.inf
    best_kink = np.zeros(n, dtype=bool)
    steps = _initial_steps(x)
    pending = np.arange(n)
    for attempt in range(RETRIES + 1):
        chunk = max(1, evaluate.max_batch // (2 * LEVELS))
        for start in range(0, len(pending), chunk):
            elements = pending[start:start + chunk]
            with np.errstate(all="ignore"):
                found = _estimate(_differences(evaluate, x, elements, steps[elements], dz, f0))
            finite = np.isfinite(found["value"]) & np.isfinite(found["error"])
            better = finite & (found["error"] < best["error"][elements])
            chosen = elements[better]
            for key in best:
                best[key][chosen] = found[key][better]
            best_kink[chosen] = found["kink"][better]
        # Retry, with smaller steps, elements that met a domain edge (non-finite)
        # or whose estimate is poor; keep whichever attempt estimated better.
        finite_values = np.abs(best["value"][np.isfinite(best["value"])])
        typical = float(np.mean(finite_values)) if finite_values.size else 0.0
        poor = ~np.isfinite(best["error"]) | (
            ~best_kink & (best["error"] > 1e-9 * (np.abs(best["value"]) + typical))
        )
        pending = np.flatnonzero(poor)
        if not len(pending):
            break
        steps = steps / RETRY_SHRINK

    shape = x.shape
    return Reference(
        value=best["value"].reshape(shape), error=best["error"].reshape(shape),
        lower=best["lower"].reshape(shape), upper=best["upper"].reshape(shape),
        kinks=int(best_kink.sum()), evaluations=evaluate.evaluations + 1,
        batched=bool(evaluate.batched),
    )
