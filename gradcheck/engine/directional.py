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

Steps per element. One step h along u moves every element by h |u_i|, but
elements of very different sizes need very different steps: in sin's input
of zeros and one 2.6e5 a step sized for the mean moved the zeros by ~50, a
period-aliased stencil that "converged" to 0.002 where cos(0) u_i = -2.3;
a step sized for the zeros moves the large element by a step its rounding
(ulp 2.9e-11) swamps. J u is linear in u, so the tangent is split by element
size (stencil.scales) into parts whose elements lie within GROUP_SPAN of one
another, J u_g is taken along each part with a step sized for that part, and
J u is their sum (the errors and kink intervals summed too). An input whose
elements are all of one size (the usual case) is one part, as before.

Complex values (complexview.py): t stays real, so J u is the derivative of
f(z + t u) whatever the convention of the backward; a complex input moves in
its real view along view(u), and a complex output's J u is packed back.
"""

from __future__ import annotations

from dataclasses import replace
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
    RETRIES,
    RETRY_SHRINK,
    largest_multiple,
    moved_magnitude,
    retry_steps,
    scales,
    unconverged,
    unmoved,
)

GROUP_SPAN = 256.0  # elements whose scales lie within this factor of each other share one step


def scale_groups(x: np.ndarray) -> list[np.ndarray]:
    """Flat indices of x's elements in groups of similar size: each group's scales (stencil.scales) lie
    within GROUP_SPAN of its smallest. One group (all of x) for an input of one size."""
    size = scales(x) if x.size else np.zeros(0)
    order = np.argsort(size, kind="stable")
    groups, start = [], 0
    while start < order.size:
        end = int(np.searchsorted(size[order], size[order[start]] * GROUP_SPAN, side="right"))
        groups.append(np.sort(order[start:end]))
        start = end
    return groups


def _first_step(x: np.ndarray, tangent: np.ndarray, typical: float | None = None) -> float:
    """The largest step h: the biggest move h*|u_i| is BASE_STEP times the input's typical size, and no
    element moves past its radius.

    As in stencil.scales, the typical size is the mean |x_i|, with a floor for
    inputs of zeros (which should still move, by a small absolute amount);
    `typical` gives another (a group's, where the tangent moves a group only).
    """
    if typical is None:
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
        found = reference_jvp(form.forward, form.inputs, index, form.tangent(tangent), step_scale=step_scale)
        found = replace(found, tangent=None)  # along the real view's tangent: the caller keeps its own
        return complexview.complex_reference(found, note="") if form.complex_output else found
    tangent = np.asarray(tangent, dtype=np.float64)
    f0 = np.asarray(f0, dtype=np.float64)
    if inputs[index].size == 0 or f0.size == 0:  # nothing moves, or nothing to move: J u is empty or 0
        zero = np.zeros(f0.shape)
        return Reference(value=zero, error=zero, lower=zero, upper=zero, kinks=0, evaluations=1, batched=False)
    evaluate = Evaluator(forward, inputs, index, f0.shape, DEFAULT_MEMORY_BYTES)
    evaluate.batched = False  # a handful of points: not worth proving a batched call
    x = inputs[index]
    parts = tangent_parts(x, tangent, step_scale)
    if len(parts) == 1 and parts[0][0] is None:
        _, part, first = parts[0]
        tangent = representable(x, part, first)
        best = _along(evaluate, x, tangent, f0.reshape(-1), first)
    else:
        best, used = None, np.zeros(tangent.size)
        for group, part, first in parts:
            part = representable(x, part, first)
            used[group] = part.reshape(-1)[group]
            found = _along(evaluate, x, part, f0.reshape(-1), first)
            best = found if best is None else _summed(best, found)
        tangent = used.reshape(tangent.shape)
        if best is None:  # a tangent of zeros: J u = 0 exactly
            best = _along(evaluate, x, tangent, f0.reshape(-1), step_scale * _first_step(x, tangent))
    evaluations = evaluate.evaluations + 1
    shape = f0.shape
    return Reference(value=best.value.reshape(shape), error=best.error.reshape(shape),
                     lower=best.lower.reshape(shape), upper=best.upper.reshape(shape), kinks=int(best.kink.sum()),
                     evaluations=evaluations, batched=False, method="central differences along a tangent",
                     tangent=tangent)


def tangent_parts(x: np.ndarray, tangent: np.ndarray,
                  step_scale: float = 1.0) -> list[tuple[np.ndarray | None, np.ndarray, float]]:
    """The parts of `tangent` that reference_jvp differences along, each with its first (largest) step h
    (a power of two; the stencil's steps are h times CENTRAL.shrink): (flat indices of the part's
    elements, the part, h). One part, (None, the whole tangent, h), for an input of one size; else one
    per scale group that the tangent moves (none for a tangent of zeros)."""
    tangent = np.asarray(tangent, dtype=np.float64)
    groups = scale_groups(x)
    if len(groups) == 1:
        return [(None, tangent, _power_of_two(step_scale * _first_step(x, tangent)))]
    size, flat, parts = scales(x), tangent.reshape(-1), []
    for group in groups:
        part = np.zeros_like(flat)
        part[group] = flat[group]
        if not np.any(part):
            continue
        part = part.reshape(tangent.shape)
        first = _first_step(x, part, typical=float(np.mean(size[group])))
        parts.append((group, part, _power_of_two(step_scale * first)))
    return parts


def _power_of_two(h: float) -> float:
    """h rounded down to a power of two, so that every step (h times powers of two) moves by exact multiples
    of the smallest one."""
    return float(2.0 ** np.floor(np.log2(h))) if np.isfinite(h) and h > 0 else h


def representable(x: np.ndarray, tangent: np.ndarray, first: float) -> np.ndarray:
    """The tangent nearest `tangent` along which every move of the stencil from `first` (a power of two)
    down, retries included, lands exactly on a float: the smallest move of each element rounded to a
    multiple of twice its spacing, every larger move that times a power of two.

    Otherwise x + h u is rounded as stored, and the difference quotient divides by a move that was not
    made: a relative error of ulp(x_i) / (h u_i), 1e-9 at x = 1e4 with explore's second look (steps 2^-16
    smaller), where the reference claimed ± 3e-9 and the framework's exact J u "failed". The analytic J u
    is taken along the same tangent (References.jvp), so nothing is compared along two directions. Where
    x_i + move crosses into the next binade a half-ulp rounding remains (x_i just below a power of two).
    """
    if not (np.isfinite(first) and first > 0):
        return tangent
    smallest = first * CENTRAL.shrink[-1] / RETRY_SHRINK**RETRIES
    grid = 2.0 * np.spacing(np.abs(x))
    grid = np.where(x == 0, 0.0, grid)
    with np.errstate(all="ignore"):
        move = np.where(grid > 0, np.round(smallest * tangent / np.where(grid > 0, grid, 1.0)) * grid,
                        smallest * tangent)
        rounded = move / smallest
    return np.where(np.isfinite(rounded), rounded, tangent)


def _along(evaluate: Evaluator, x: np.ndarray, tangent: np.ndarray, f0: np.ndarray, first: float) -> Estimate:
    """J u along `tangent` from the first step `first` on, retried smaller for the outputs that did not
    settle; per output element."""
    best = Estimate.empty(f0.size)
    for h in retry_steps(first):
        with np.errstate(all="ignore"):
            found = estimate(_quotients(evaluate, x, tangent, h, f0))
        better = np.isfinite(found.value) & np.isfinite(found.error) & (found.error < best.error)
        better &= ~unmoved(found.value, found.error) | unmoved(best.value, best.error) | ~np.isfinite(best.value)
        best.put(better, found, better)
        # Retry, smaller, the outputs that met a domain edge or did not settle.
        if not np.any(unconverged(best.value, best.error) & ~best.kink):
            break
    return best


def _summed(a: Estimate, b: Estimate) -> Estimate:
    """J (u_1 + u_2) from J u_1 and J u_2: values, errors and interval ends add (an interval sum holds
    every sum of valid one-sided values, so a kink in either part stays an interval)."""
    return Estimate(value=a.value + b.value, error=a.error + b.error, lower=a.lower + b.lower,
                    upper=a.upper + b.upper, kink=a.kink | b.kink, roundoff=a.roundoff + b.roundoff,
                    one_sided=a.one_sided | b.one_sided)
