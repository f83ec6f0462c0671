"""Fast mode's verdict: the analytic gradient against phi's derivatives along seeded random directions.

The analytic gradient a passes along a direction u when

    |<a, u> - D(u)|  <=  E(u) + (16 eps_case + 2 eps) sum_i |a_i u_i| + rounding(u)

E(u) is the differences' own error estimate (engine/fast.py); the second term
is the round-off of a itself, computed in the case dtype, and of the products
a_i u_i (the sum is exactly rounded, math.fsum); rounding(u) is what the
perturbations as stored, (x + t u) - (x - t u), add by straying from 2 t u.
No fixed rtol: a correct float64 gradient leaves |<a, u> - D(u)| at round-off
level, so one element of a 100,000-element gradient off by a relative 1e-4
moves <a, u> orders of magnitude past the allowance.

A pass is a verdict. A failure is not: the full element-wise comparison then
runs against the full reference, which the runner computes explicitly, so the
report names the worst element with the usual tolerance. So does a direction
that meets a kink (its one-sided derivatives disagree), where one number
cannot say which element holds the subgradient, and a reference that does not
settle (a domain edge at every step). A row's verdict depends only on its own
gradient and the two references, never on which method ran first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradcheck.compare.comparison import Comparison, Status, compare
from gradcheck.dtypes import real_dtype
from gradcheck.engine.complexview import flat_real
from gradcheck.engine.estimates import Reference
from gradcheck.engine.fast import Directional
from gradcheck.engine.stencil import CENTRAL, EPS, relative_error
from gradcheck.tolerance import Tolerance

ANALYTIC_ULPS = 16  # round-off allowed in each element of a correct analytic gradient, in its dtype's eps


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str  # why not, in words; "" on a pass
    discrepancy: np.ndarray  # (K,) |<a, u> - D(u)|
    allowed: np.ndarray  # (K,)
    along: np.ndarray  # (K,) <a, u>


def _epsilon(dtype: str) -> float:
    dtype = real_dtype(dtype)  # a complex dtype's parts
    return float(np.finfo(np.dtype(dtype)).eps) if dtype in ("float64", "float32", "float16") else 2.0**-8


def check(got: np.ndarray, reference: Directional, dtype: str) -> Verdict:
    """The analytic gradient `got` against the directional reference."""
    a = flat_real(got)  # a complex gradient pairs with the real-view directions of its input
    count = len(reference.value)
    along = np.array([math.fsum(a * u) if np.all(np.isfinite(a)) else np.nan for u in reference.directions])
    size = np.abs(reference.directions) @ np.abs(a)
    # The stored perturbations' strays enter D(u) through the extrapolation weights.
    strays = float(np.sum(CENTRAL.weights)) * 1.001 * (reference.rounding.astype(np.float64) @ np.abs(a))
    roundoff_only = Tolerance(rtol=ANALYTIC_ULPS * _epsilon(dtype) + 2 * EPS, atol=0.0)
    allowed = roundoff_only.allowance(size, reference.error + strays)
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


def passed_row(verdict: Verdict, reference: Directional, tolerance: Tolerance, **where) -> Comparison:
    """The row of a gradient that matched along every direction."""
    relative = relative_error(verdict.discrepancy, reference.value, tolerance.atol)
    return Comparison(
        status=Status.PASS, max_abs_err=float(np.max(verdict.discrepancy)),
        max_rel_err=float(np.max(relative)), margin=float(np.max(verdict.discrepancy / verdict.allowed)),
        tolerance=tolerance,
        message=f"fast mode: <gradient, u> matched the reference along {len(reference.value)} seeded random "
                "directions",
        **where,
    )


def fallback_row(got: np.ndarray, verdict: Verdict, full: Reference, tolerance: Tolerance, **where) -> Comparison:
    """The full element-wise comparison of a gradient that did not pass along the directions, saying why it ran."""
    row = compare(got, full, tolerance, **where)
    detail = row.message or ("every element is within tolerance (so the directional discrepancy came from a "
                             "kink the directions straddle, or from errors below the element-wise tolerance)")
    return row.with_status(row.status, f"fast mode: {verdict.reason}, so the full element-wise check ran: {detail}")


def reference_row(reference: Directional, floor: float, **where) -> Comparison:
    """The numeric row of an input checked in fast mode: its error estimate along each direction."""
    relative = relative_error(reference.error, reference.value, floor)
    note = f"fast mode: {len(reference.value)} directional derivatives, {reference.evaluations:,} evaluations"
    if reference.batched:
        note += " (batched)"
    if np.any(reference.kink):
        note += "; a direction crosses a kink, so methods are checked element by element"
    return Comparison(status=Status.PASS, max_abs_err=float(np.max(reference.error, initial=0.0)),
                      max_rel_err=float(np.max(relative, initial=0.0)), message=note, **where)
