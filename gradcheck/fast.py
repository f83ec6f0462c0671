"""Fast mode: the gradient checked along a few seeded random directions, at a cost independent of n.

For a direction u, <J^T dz, u> is the derivative of t -> phi(x + t u) at 0: one
number, computed with the full reference's Richardson differences (8
evaluations) whatever the input's size. The analytic gradient a passes along u
when

    |<a, u> - D(u)|  <=  E(u) + (16 eps_case + 2 eps) sum_i |a_i u_i| + rounding(u)

E(u) is the differences' own error estimate; the second term is the round-off
of a itself, computed in the case dtype, and of the products a_i u_i (the sum
is exactly rounded, math.fsum); rounding(u) is what the perturbations as
stored, (x + t u) - (x - t u), add by straying from 2 t u. No fixed rtol: a
correct float64 gradient leaves |<a, u> - D(u)| at round-off level, so one
element of a 100,000-element gradient off by a relative 1e-4 moves <a, u>
orders of magnitude past the allowance. Directions are random signs times
magnitudes in [1, 1.5) times each element's scale: no element is left out,
and two wrong elements cancel in every direction only by accident of measure
zero.

A pass is a verdict. A failure is not: the runner then runs the full
element-wise check, so the report names the worst element with the usual
tolerance. So does a direction that meets a kink (its one-sided derivatives
disagree: an element within a step of relu's 0, a tie), where one number
cannot say which element holds the subgradient, and a reference that does not
settle (a domain edge at every step).

`auto` mode picks fast above AUTO_FAST_ABOVE elements per input, where a full
check of a dense Jacobian would take n x 8 evaluations; full below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from gradcheck.compare import Comparison, Status, compare
from gradcheck.evaluator import Evaluator, baseline
from gradcheck.numeric import (BASE_STEP, DEFAULT_MEMORY_BYTES, EPS, LEVELS, RETRIES, RETRY_SHRINK, ROUNDOFF_FACTOR,
                               _CENTRAL_WEIGHTS, _SHRINK, Reference, _estimate, _initial_steps, _scales,
                               directional_sums)
from gradcheck.tolerance import Tolerance

AUTO_FAST_ABOVE = 50_000  # elements of one input above which `auto` checks along directions
DIRECTIONS = 4
ANALYTIC_ULPS = 16  # round-off allowed in each element of a correct analytic gradient, in its dtype's eps
SEED = 20240607


def use_fast(mode: str, size: int) -> bool:
    """Whether an input of `size` elements is checked along directions in this mode."""
    return mode == "fast" or (mode == "auto" and size > AUTO_FAST_ABOVE)


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


def directional_reference(forward: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray, index: int,
                          *, count: int = DIRECTIONS, seed: int = SEED,
                          memory_bytes: int = DEFAULT_MEMORY_BYTES) -> Directional:
    """<J^T dz, u_k> for `count` seeded directions u_k of inputs[index], by Richardson differences."""
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    x = inputs[index]
    with np.errstate(all="ignore"):
        output_shape = np.shape(forward(*inputs))
    dz = np.asarray(cotangent, dtype=np.float64).reshape(-1)
    evaluate = Evaluator(forward, inputs, index, output_shape, memory_bytes)
    f0, _ = baseline(evaluate, x, _initial_steps(x))
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(count, x.size))
    directions = signs * (1.0 + 0.5 * rng.random((count, x.size))) * _scales(x)
    flat = x.reshape(-1)
    t = BASE_STEP
    for _attempt in range(RETRIES + 1):
        with np.errstate(all="ignore"):
            sums = directional_sums(evaluate, x, t * directions, dz, f0)
            widths = 2 * t * _SHRINK  # (L,): what we meant; the stored strays go to `rounding`
            found = _estimate({
                "central": sums["central"] / widths, "plus": sums["plus"] / (widths / 2),
                "minus": sums["minus"] / (widths / 2),
                "roundoff": ROUNDOFF_FACTOR * EPS * sums["magnitude"] / widths,
            })
        if np.all(np.isfinite(found["value"])) and np.all(np.isfinite(found["error"])):
            break
        t /= RETRY_SHRINK
    rounding = np.zeros(directions.shape, dtype=np.float32)  # a bound: single precision will do
    for level in range(LEVELS):
        move = t * _SHRINK[level] * directions
        stored = (flat + move) - (flat - move)
        np.maximum(rounding, np.abs(stored - 2 * move) / (2 * t * _SHRINK[level]), out=rounding, casting="unsafe")
    return Directional(directions=directions, value=found["value"], error=found["error"], kink=found["kink"],
                       rounding=rounding, evaluations=evaluate.evaluations + 1, batched=bool(evaluate.batched))


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str  # why not, in words; "" on a pass
    discrepancy: np.ndarray  # (K,) |<a, u> - D(u)|
    allowed: np.ndarray  # (K,)
    along: np.ndarray  # (K,) <a, u>


def check(got: np.ndarray, reference: Directional, dtype: str) -> Verdict:
    """The analytic gradient `got` against the directional reference."""
    a = np.asarray(got, dtype=np.float64).reshape(-1)
    count = len(reference.value)
    along = np.array([math.fsum(a * u) if np.all(np.isfinite(a)) else np.nan for u in reference.directions])
    size = np.abs(reference.directions) @ np.abs(a)
    eps_case = float(np.finfo(np.dtype(dtype)).eps) if dtype in ("float64", "float32", "float16") else 2.0**-8
    allowed = (reference.error + (ANALYTIC_ULPS * eps_case + 2 * EPS) * size
               + float(np.sum(_CENTRAL_WEIGHTS)) * 1.001 * (reference.rounding.astype(np.float64) @ np.abs(a)))
    discrepancy = np.abs(along - reference.value)
    if not reference.settled:
        reason = "the directional reference did not settle (a domain edge at every step)"
    elif np.any(reference.kink):
        reason = f"{int(np.count_nonzero(reference.kink))} of {count} directions cross a kink"
    elif not np.all(np.isfinite(along)):
        reason = "the gradient is not finite"
    elif np.any(discrepancy > allowed):
        k = int(np.argmax(discrepancy / allowed))
        reason = (f"along direction {k + 1} of {count} the gradient gives {along[k]:.12g}, the reference "
                  f"{reference.value[k]:.12g} (allowed ± {allowed[k]:.2g})")
    else:
        reason = ""
    return Verdict(passed=not reason, reason=reason, discrepancy=discrepancy, allowed=allowed, along=along)


def compare_fast(got: np.ndarray, reference: Directional, tolerance: Tolerance, dtype: str,
                 full: Callable[[], Reference], **where) -> Comparison:
    """A fast-mode row: pass along every direction, or the full element-wise comparison, saying so."""
    verdict = check(got, reference, dtype)
    count = len(reference.value)
    if verdict.passed:
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(reference.value == 0, 0.0, verdict.discrepancy / np.abs(reference.value))
        return Comparison(
            status=Status.PASS, max_abs_err=float(np.max(verdict.discrepancy)),
            max_rel_err=float(np.max(relative)), margin=float(np.max(verdict.discrepancy / verdict.allowed)),
            tolerance=tolerance,
            message=f"fast mode: <gradient, u> matched the reference along {count} seeded random directions",
            **where,
        )
    row = compare(got, full(), tolerance, **where)
    detail = row.message or ("every element is within tolerance (so the directional discrepancy came from a "
                             "kink the directions straddle, or from errors below the element-wise tolerance)")
    return row.with_status(row.status, f"fast mode: {verdict.reason}, so the full element-wise check ran: {detail}")


def reference_row(reference: Directional, **where) -> Comparison:
    """The numeric row of an input checked in fast mode."""
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(reference.value == 0, 0.0, reference.error / np.abs(reference.value))
    note = f"fast mode: {len(reference.value)} directional derivatives, {reference.evaluations:,} evaluations"
    if reference.batched:
        note += " (batched)"
    if np.any(reference.kink):
        note += "; a direction crosses a kink, so methods are checked element by element"
    return Comparison(status=Status.PASS, max_abs_err=float(np.max(reference.error, initial=0.0)),
                      max_rel_err=float(np.max(relative, initial=0.0)), message=note, **where)
