"""Fast mode's reference: phi's derivative along a few seeded random directions, at a cost independent of n.

For a direction u, <J^T dz, u> is the derivative of t -> phi(x + t u) at 0: one
number, computed with the full reference's Richardson differences (8
evaluations) whatever the input's size. Directions are random signs times
magnitudes in [1, 1.5) times each element's scale: no element is left out,
and two wrong elements cancel in every direction only by accident of measure
zero. The verdict along these directions is compare/fast.py's.

A complex input moves in its real view (complexview.py): each direction has
one entry per real and per imaginary part, and <g, u> pairs them with the
real view of the gradient, Re sum conj(g) u.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from gradcheck.dtypes import as_float64
from gradcheck.engine import complexview, seeded
from gradcheck.engine.differences import directional_sums
from gradcheck.engine.estimates import estimate, quotients
from gradcheck.engine.evaluator import DEFAULT_MEMORY_BYTES, Evaluator, probed_baseline
from gradcheck.engine.stencil import (
    BASE_STEP,
    CENTRAL,
    initial_steps,
    largest_multiple,
    retry_steps,
    scales,
)

DIRECTIONS = 4
SEED = 20240607


@dataclass(frozen=True)
class Directional:
    """phi's derivatives along seeded random directions of one input."""

    directions: np.ndarray  # (K, n): each row a direction u
    value: np.ndarray  # (K,) the reference <J^T dz, u>
    error: np.ndarray  # (K,) its error estimate
    kink: np.ndarray  # (K,) the one-sided derivatives along u disagree
    rounding: np.ndarray  # (K, n) float32: |stored perturbation - 2 t u| / 2t, worst over the steps
    evaluations: int
    batched: bool

    @property
    def settled(self) -> bool:
        return bool(np.all(np.isfinite(self.value)) and np.all(np.isfinite(self.error)))


def seeded_directions(seed: int, count: int, size: int) -> np.ndarray:
    """(count, size) random signs times magnitudes in [1, 1.5), the same for the same seed."""
    return seeded.random_signs(seed, (count, size))


def directional_reference(forward: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray, index: int,
                          *, count: int = DIRECTIONS, seed: int = SEED, memory_bytes: int = DEFAULT_MEMORY_BYTES,
                          directions: np.ndarray | None = None, output: np.ndarray | None = None) -> Directional:
    """<J^T dz, u_k> for `count` seeded directions u_k of inputs[index], by Richardson differences;
    or along the given `directions` (K, n) instead (n: the elements of the real view of a complex input).
    `output`: the forward's output at `inputs` from a call of its own, where the caller has it."""
    inputs = [as_float64(a) for a in inputs]
    if output is None:
        with np.errstate(all="ignore"):
            output = forward(*inputs)
    form = complexview.real_form(forward, inputs, index, output)
    at_x = output  # f(x) called alone, as the batching probe would call it
    if form is not None:  # move the real view (complexview.py); its f(x) is the wrapped forward's
        forward, inputs, cotangent = form.forward, form.inputs, form.cotangent(cotangent)
        output = complexview.view(output) if form.complex_output else output
        at_x = None
    x = inputs[index]
    output_shape = np.shape(output)
    dz = np.asarray(cotangent, dtype=np.float64).reshape(-1)
    evaluate = Evaluator(forward, inputs, index, output_shape, memory_bytes)
    f0 = probed_baseline(evaluate, x, initial_steps(x), at_x)
    if directions is None:
        directions = seeded_directions(seed, count, x.size) * scales(x)
    flat = x.reshape(-1)
    # Each element moves at most 1.5 BASE_STEP of its scale, well within its radius; the cap says so.
    for t in retry_steps(min(BASE_STEP, largest_multiple(directions, x))):
        widths = 2 * t * CENTRAL.shrink  # (L,): what we meant; the stored strays go to `rounding`
        with np.errstate(all="ignore"):
            sums = directional_sums(evaluate, x, t * directions, dz, f0)
            found = estimate(quotients(sums, widths, widths / 2, widths / 2))
        if np.all(np.isfinite(found.value)) and np.all(np.isfinite(found.error)):
            break
    return Directional(directions=directions, value=found.value, error=found.error, kink=found.kink,
                       rounding=_strays(flat, directions, t), evaluations=evaluate.evaluations + 1,
                       batched=bool(evaluate.batched))


def _strays(flat: np.ndarray, directions: np.ndarray, t: float) -> np.ndarray:
    """(K, n) float32: over the stencil's moves m = t s u, the largest |((x + m) - (x - m)) - 2 m| / (2 t s),
    how far each stored perturbation strays from the one meant, per unit of its quotient's width.
    Three buffers serve every level: fresh arrays would cost a small check their pages at every level."""
    rounding = np.zeros(directions.shape, dtype=np.float32)  # a bound: single precision will do
    move, plus, minus = (np.empty(directions.shape) for _ in range(3))
    for shrink in CENTRAL.shrink:
        np.multiply(directions, t * shrink, out=move)
        np.add(flat, move, out=plus)
        np.subtract(flat, move, out=minus)
        np.subtract(plus, minus, out=plus)  # the step as stored, 2 m and its stray
        np.subtract(plus, np.multiply(move, 2.0, out=move), out=plus)  # 2 m is exact: a power of two
        np.divide(np.abs(plus, out=plus), 2 * t * shrink, out=plus)
        np.maximum(rounding, plus, out=rounding, casting="unsafe")
    return rounding
