"""The finite-difference reference for forward mode: J u along one tangent.

A JVP method returns J u, the derivative of the output along a tangent u of
one input, element by element over the output. Its reference is the
derivative of the curve

    g(t) = f(x + t u)    at t = 0,

computed as in numeric.py: central differences

    D(h) = (g(h) - g(-h)) / 2h = g'(0) + c1 h^2 + c2 h^4 + ...

at steps h, h/2, h/4, h/8, extrapolated with the same Richardson table, so
the result carries O(h^8) truncation and an error estimate per output element
(the spread of the last two extrapolation levels plus round-off). Each
output element is its own one-dimensional problem, so a point that fails for
some outputs (a domain edge, a non-finite value) is retried with smaller
steps for those outputs only.

The perturbed inputs x + h u are rounded to float64 as they are stored;
that moves each element by a relative ~1e-16 of |x_i|, a directional error
of order 1e-13 relative at our step sizes, far below any tolerance we use.
No kink detection here: a tangent crosses a kink (relu at 0) only for
elements within a step of it, and there the extrapolation does not settle,
so the error estimate grows and says so.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from gradcheck.numeric import (BASE_STEP, EPS, LEVELS, RETRIES, RETRY_SHRINK, ROUNDOFF_FACTOR, _CENTRAL_WEIGHTS,
                               Reference, _richardson, unconverged)
from gradcheck.problem import Problem, round_to, stable_seed


def seeded_tangent(problem: Problem, name: str) -> np.ndarray:
    """A standard normal tangent for input `name`, the same in every run, in the case dtype."""
    rng = np.random.default_rng(stable_seed(problem.case.name, "tangent", name))
    return round_to(rng.standard_normal(problem.inputs[name].shape), problem.dtype)


def _first_step(x: np.ndarray, tangent: np.ndarray) -> float:
    """The largest step h: the biggest move h*|u_i| is BASE_STEP times the input's typical size.

    As in numeric.py, the typical size is the mean |x_i|, with a floor for
    inputs of zeros (which should still move, by a small absolute amount).
    """
    typical = float(np.mean(np.abs(x))) if x.size else 0.0
    scale = typical if typical > 0 else 1e-3
    largest = float(np.max(np.abs(tangent), initial=0.0))
    return BASE_STEP * scale / largest if largest > 0 else BASE_STEP * scale


def _levels(forward: Callable, inputs: list[np.ndarray], index: int, tangent: np.ndarray,
            h: float) -> tuple[np.ndarray, np.ndarray]:
    """Central difference quotients at h, h/2, ... and their round-off: each (*output, LEVELS)."""
    x = inputs[index]
    central, roundoff = [], []
    for level in range(LEVELS):
        step = h * 2.0**-level
        outputs = []
        for sign in (1.0, -1.0):
            args = list(inputs)
            args[index] = x + sign * step * tangent
            with np.errstate(all="ignore"):
                outputs.append(np.asarray(forward(*args), dtype=np.float64))
        y_plus, y_minus = outputs
        moved = y_plus - y_minus
        central.append(moved / (2 * step))
        # Each output carries a few ulps; an output that did not move cancels exactly.
        roundoff.append(ROUNDOFF_FACTOR * EPS * (np.abs(y_plus) + np.abs(y_minus)) * (moved != 0) / (2 * step))
    return np.stack(central, axis=-1), np.stack(roundoff, axis=-1)


def reference_jvp(forward: Callable, inputs: Sequence[np.ndarray], index: int,
                  tangent: np.ndarray) -> Reference:
    """The finite-difference J u for u = `tangent` on inputs[index], over the output's shape."""
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    tangent = np.asarray(tangent, dtype=np.float64)
    with np.errstate(all="ignore"):
        shape = np.shape(forward(*inputs))
    value = np.full(shape, np.nan)
    error = np.full(shape, np.inf)
    evaluations = 1
    h = _first_step(inputs[index], tangent)
    for _attempt in range(RETRIES + 1):
        central, roundoff = _levels(forward, inputs, index, tangent, h)
        evaluations += 2 * LEVELS
        with np.errstate(all="ignore"):
            table = _richardson(central, 2.0, 2)
            found = table[..., -1]
            found_error = np.abs(table[..., -1] - table[..., -2]) + roundoff @ _CENTRAL_WEIGHTS
        better = np.isfinite(found) & np.isfinite(found_error) & (found_error < error)
        value = np.where(better, found, value)
        error = np.where(better, found_error, error)
        # Retry, smaller, the outputs that met a domain edge or did not settle.
        if not np.any(unconverged(value, error)):
            break
        h /= RETRY_SHRINK
    return Reference(value=value, error=error, lower=value, upper=value, kinks=0,
                     evaluations=evaluations, batched=False, method="central differences along a tangent")
