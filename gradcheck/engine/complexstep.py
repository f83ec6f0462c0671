"""Complex step: derivatives exact to rounding, for forwards that carry complex input.

For f real-analytic, f(x + i h) = f(x) + i h f'(x) - h^2 f''(x)/2 - i h^3 f'''(x)/6 + ...
so  Im f(x + i h) / h = f'(x) + O(h^2)  with no subtraction at all: h can be
1e-20 of |x|, the truncation is ~1e-40 relative, and what remains is the
rounding of f itself (Squire and Trapp, 1998). One evaluation per group of
elements (the groups of sparsity.py work unchanged: the imaginary parts of
disjoint supports do not mix).

It is wrong, silently, wherever the forward is not analytic in the complex
sense: np.abs (the modulus has no imaginary part, so |x|' comes out 0),
x.real, a cast to float that drops the imaginary part (the built-in ops do
this), conjugation. So it is never trusted on its own. Two checks:

  - along a few seeded random directions (projections.py), where an input has
    so many groups that the next check would cost far more than the complex
    step itself (a dense Jacobian: softmax). If every projection agrees with
    Richardson differences along the same direction, the complex step stands,
    with an error estimate per element that bounds what the projections could
    have missed; if any disagrees, the element-wise check follows.
  - element by element (refine): the complex step replaces the
    central-difference value only when, at every smooth element, the two agree
    within the central differences' error estimate, and the error reported is
    its own rounding plus the distance between the two (conservative: it is
    about the central differences' true error). Kink elements keep their
    intervals.

`derivatives` computes the values once; either check reads them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from gradcheck.engine.estimates import Estimate
from gradcheck.engine.evaluator import Evaluator
from gradcheck.engine.sparsity import Group
from gradcheck.engine.stencil import roundoff as roundoff_of
from gradcheck.engine.stencil import segment_sum

STEP = 1e-20  # relative to each element's scale


@dataclass(frozen=True)
class Refinement:
    used: bool
    note: str
    carried: bool = True  # the forward carried complex values through (whether or not they agreed)


@dataclass(frozen=True)
class ComplexStep:
    """Per element, Im phi(x + i h e_i) / h and its rounding; or, where the forward does not carry complex
    values through (value is None), why not. `escaped`: groups whose complex point gave an imaginary part
    to an output outside the supports sparsity.py proved for them (their members' values are not to be had
    from that point)."""

    value: np.ndarray | None
    roundoff: np.ndarray | None
    groups: list[Group]
    note: str = ""
    escaped: int = 0

    @property
    def carried(self) -> bool:
        return self.value is not None


def _call(evaluate: Evaluator, points: np.ndarray) -> np.ndarray | None:
    """Complex outputs (B, m), or None when the forward drops or refuses complex values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ComplexWarning from a cast to real is the answer "no"
        try:
            if evaluate.batched and len(points) > 1:
                out = np.asarray(evaluate.call(points, dtype=None))
            else:
                out = np.stack([np.asarray(evaluate.call(p, dtype=None)) for p in points])
        except Exception:  # noqa: BLE001 - user code that refuses complex input: no complex step
            return None
    evaluate.evaluations += len(points)
    if not np.iscomplexobj(out) or out.shape[1:] != evaluate.output_shape:
        return None
    return out.reshape(len(points), -1)


def _points(x: np.ndarray, groups: list[Group], h: np.ndarray) -> np.ndarray:
    """x + i h on each group's elements, one row per group, in the input's shape."""
    flat = x.reshape(-1).astype(np.complex128)
    points = np.broadcast_to(flat, (len(groups), flat.size)).copy()
    for row, group in enumerate(groups):
        points[row, group.elements] += 1j * h[group.elements]
    return points.reshape(len(groups), *x.shape)


def _accumulate(groups: list[Group], outputs: np.ndarray, dz: np.ndarray, value: np.ndarray,
                magnitude: np.ndarray) -> int:
    """In place: each group's members' sum of dz * Im(output) over the outputs they own, and its magnitude.
    Returns how many groups gave an imaginary part to an output they do not own."""
    im = outputs.imag
    whole = [row for row, group in enumerate(groups) if group.outputs is None]  # one element owns every output
    if whole:
        members = np.concatenate([groups[row].elements for row in whole])
        sizes = [len(groups[row].elements) for row in whole]  # one each; repeat keeps it exact if not
        value[members] = np.repeat(im[whole] @ dz, sizes)
        magnitude[members] = np.repeat(np.abs(im[whole]) @ np.abs(dz), sizes)
    escaped = 0
    for row, group in enumerate(groups):
        if group.outputs is None:
            continue
        own = im[row, group.outputs]
        terms = own * dz[group.outputs]
        count = len(group.elements)
        value[group.elements] = segment_sum(group.owners, terms[None, :], count)[:, 0]
        magnitude[group.elements] = segment_sum(group.owners, np.abs(terms)[None, :], count)[:, 0]
        escaped += bool(np.count_nonzero(im[row]) > np.count_nonzero(own))
    return escaped


def derivatives(evaluate: Evaluator, x: np.ndarray, groups: list[Group], scales: np.ndarray,
                dz: np.ndarray) -> ComplexStep:
    """The complex-step value of every element, one complex evaluation per group (batched where the
    forward is); the first group's point tells whether the forward carries complex values at all."""
    h = STEP * scales
    first = _call(evaluate, _points(x, groups[:1], h))
    if first is None or not np.any(first.imag):
        return ComplexStep(None, None, groups, "the forward does not carry complex input: no complex step")
    value, magnitude = np.empty(x.size), np.empty(x.size)
    escaped = _accumulate(groups[:1], first, dz, value, magnitude)  # the first group's point is the test's
    chunk = max(1, evaluate.per_call // 2)  # one call each; complex points take twice the room
    for start in range(1, len(groups), chunk):
        part = groups[start:start + chunk]
        outputs = _call(evaluate, _points(x, part, h))
        if outputs is None:
            return ComplexStep(None, None, groups, "the forward refused a batch of complex points: no complex step")
        escaped += _accumulate(part, outputs, dz, value, magnitude)
    return ComplexStep(value / h, roundoff_of(magnitude, h), groups, escaped=escaped)


def refine(step: ComplexStep, best: Estimate) -> Refinement:
    """Replace `best`'s smooth values by the complex-step ones, in place, if they agree everywhere."""
    if not step.carried:
        return Refinement(False, step.note, carried=False)
    value, roundoff = step.value, step.roundoff
    smooth = ~best.kink & np.isfinite(best.value)
    gap = np.abs(value - best.value)
    agree = np.isfinite(value) & (gap <= best.error + roundoff)
    if not np.all(agree[smooth]):
        bad = int(np.count_nonzero(~agree[smooth]))
        return Refinement(False, f"complex step disagreed with central differences at {bad} element(s) "
                                 "(a forward that is not complex-analytic: abs, comparisons, a cast to real); "
                                 "central differences kept")
    best.value[smooth] = value[smooth]
    best.error[smooth] = roundoff[smooth] + gap[smooth]
    best.lower[smooth] = best.upper[smooth] = value[smooth]
    return Refinement(True, "complex step, checked against central differences at every smooth element")
