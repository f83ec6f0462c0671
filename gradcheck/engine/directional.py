"""The finite-difference reference for forward mode: J u along one tangent.

A JVP method returns J u, the derivative of the output along a tangent u of
one input, element by element over the output. Its reference is the
derivative of the curve

    g(t) = f(x + t u)    at t = 0,

computed with the element-wise reference's stencil (stencil.py): central differences

    D(h) = (g(h) - g(-h)) / 2h = g'(0) + c1 h^2 + c2 h^4 + ...

at steps h, h/2, h/4, h/8, extrapolated with the same Richardson table, so
the result carries O(h^8) truncation and an error estimate per output element
(the spread of the last two extrapolation levels plus round-off). Each
output element is its own one-dimensional problem, so a point that fails for
some outputs (a domain edge, a non-finite value) is retried with smaller
steps for those outputs only, or taken one-sided (estimates.py). No element
moves farther than its radius (stencil.py): h |u_i| <= RADIUS scale_i, and a
point where the forward raises gives NaN outputs (evaluator.py).

The perturbed inputs x + h u are rounded to float64 as they are stored;
that moves each element by a relative ~1e-16 of |x_i|, a directional error
of order 1e-13 relative at our step sizes, far below any tolerance we use.
Where the one-sided derivatives along the tangent disagree (|x| at 0), the
reference is the interval between them, as for the element-wise reference.

Complex values (complexview.py): t stays real, so J u is the derivative of
f(z + t u) whatever the convention of the backward; a complex input moves in
its real view along view(u), and a complex output's J u is packed back.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from gradcheck.dtypes import as_float64
from gradcheck.engine import complexview
from gradcheck.engine.estimates import (
    DifferenceSums,
    Estimate,
    Quotients,
    Reference,
    estimate,
    quotients,
)
from gradcheck.engine.evaluator import DEFAULT_MEMORY_BYTES, Evaluator
from gradcheck.engine.stencil import (
    BASE_STEP,
    CENTRAL,
    largest_multiple,
    moved_magnitude,
    retry_steps,
    unconverged,
)


def _first_step(x: np.ndarray, tangent: np.ndarray) -> float:
    """The largest step h: the biggest move h*|u_i| is BASE_STEP times the input's typical size, and no
    element moves past its radius.

    As in stencil.scales, the typical size is the mean |x_i|, with a floor for
    inputs of zeros (which should still move, by a small absolute amount).
    """
    typical = float(np.mean(np.abs(x))) if x.size else 0.0
    scale = typical if typical > 0 else 1e-3
    largest = float(np.max(np.abs(tangent), initial=0.0))
    if largest == 0:
        return BASE_STEP * scale
    return min(BASE_STEP * scale / largest, largest_multiple(tangent, x))


def _quotients(evaluate: Evaluator, x: np.ndarray, tangent: np.ndarray, h: float, f0: np.ndarray) -> Quotients:
    """Per output element, the central and one-sided quotients at h, h/2, ...: (m, levels) each."""
    moves = h * CENTRAL.shrink[:, None, None] * np.array([1.0, -1.0])[None, :, None] * tangent.reshape(1, 1, -1)
    points = (x.reshape(1, 1, -1) + moves).reshape(-1, *x.shape)  # (levels * 2, *shape): +h, -h per level
    outputs = evaluate(points).reshape(CENTRAL.levels, 2, -1)
    # Each output element is its own sum of one term: an output that did not move cancels exactly.
    y_plus, y_minus = outputs[:, 0].T, outputs[:, 1].T  # (m, levels)
    base = f0[:, None]
    sums = DifferenceSums(central=y_plus - y_minus, magnitude=moved_magnitude(y_plus, y_minus), plus=y_plus - base,
                          minus=base - y_minus, plus_magnitude=moved_magnitude(y_plus, base),
                          minus_magnitude=moved_magnitude(y_minus, base))
    steps = h * CENTRAL.shrink
    return quotients(sums, 2 * steps, steps, steps)


def reference_jvp(forward: Callable, inputs: Sequence[np.ndarray], index: int,
                  tangent: np.ndarray, *, step_scale: float = 1.0) -> Reference:
    """The finite-difference J u for u = `tangent` on inputs[index], over the output's shape.

    Where the one-sided derivatives along u disagree (the curve crosses a kink,
    as |x| does at 0 along any tangent), any value between them is valid: the
    reference is that interval, as in the element-wise reference. step_scale
    multiplies the steps, as in reference_vjp (explore's second look).
    """
    inputs = [as_float64(a) for a in inputs]
    with np.errstate(all="ignore"):
        f0 = forward(*inputs)
    form = complexview.real_form(forward, inputs, index, f0)
    if form is not None:
        found = reference_jvp(form.forward, form.inputs, index, form.tangent(tangent))
        return complexview.complex_reference(found, note="") if form.complex_output else found
    tangent = np.asarray(tangent, dtype=np.float64)
    f0 = np.asarray(f0, dtype=np.float64)
    if inputs[index].size == 0 or f0.size == 0:  # nothing moves, or nothing to move: J u is empty or 0
        zero = np.zeros(f0.shape)
        return Reference(value=zero, error=zero, lower=zero, upper=zero, kinks=0, evaluations=1, batched=False)
    evaluate = Evaluator(forward, inputs, index, f0.shape, DEFAULT_MEMORY_BYTES)
    evaluate.batched = False  # a handful of points: not worth proving a batched call
    best = Estimate.empty(f0.size)
    for h in retry_steps(step_scale * _first_step(inputs[index], tangent)):
        with np.errstate(all="ignore"):
            found = estimate(_quotients(evaluate, inputs[index], tangent, h, f0.reshape(-1)))
        better = np.isfinite(found.value) & np.isfinite(found.error) & (found.error < best.error)
        best.put(better, found, better)
        # Retry, smaller, the outputs that met a domain edge or did not settle.
        if not np.any(unconverged(best.value, best.error) & ~best.kink):
            break
    evaluations = evaluate.evaluations + 1
    shape = f0.shape
    return Reference(value=best.value.reshape(shape), error=best.error.reshape(shape),
                     lower=best.lower.reshape(shape), upper=best.upper.reshape(shape), kinks=int(best.kink.sum()),
                     evaluations=evaluations, batched=False, method="central differences along a tangent")
