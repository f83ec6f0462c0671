"""Fast mode's verdict: the analytic gradient against phi's derivatives along seeded random directions.

The analytic gradient a passes along a direction u when

    |<a, u> - D(u)|  <=  E(u) + (16 eps_case + 2 eps) sum_i |a_i u_i| + rounding(u)

E(u) is the differences' own error estimate (engine/fast.py); the second term
is the round-off of a itself, computed in the case dtype, and of <a, u> itself
(along_directions: within eps/2 |<a, u>| + eps/2 sum_i |a_i u_i|); rounding(u)
is what the perturbations as stored, (x + t u) - (x - t u), add by straying from 2 t u.
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

import itertools
import math
from dataclasses import dataclass, replace

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
    evidence: bool = False  # failed on what the gradient gave (a discrepancy, a non-finite value), not a kink


def _epsilon(dtype: str) -> float:
    dtype = real_dtype(dtype)  # a complex dtype's parts
    return float(np.finfo(np.dtype(dtype)).eps) if dtype in ("float64", "float32", "float16") else 2.0**-8


# NumPy's long double is the x87 80-bit format (64-bit significand) on x86 Linux; elsewhere (Windows,
# ARM macOS) it is a plain double, too short to carry a float64 dot product.
EXTENDED = np.finfo(np.longdouble).nmant >= 63


def along_directions(a: np.ndarray, directions: np.ndarray, chunk: int = 2**16,
                     extended: bool = EXTENDED) -> np.ndarray:
    """<a, u_k> for each row u_k of `directions` (K, n), in float64 within eps/2 |<a, u>| + eps/2 sum_i |a_i u_i|.

    In extended precision (2^-64 relative), each product a_i u_i is rounded
    there and their pairwise sum (NumPy's, within and across chunks of columns) loses
    at most about (log2 n + 16) 2^-64 sum_i |a_i u_i|, below eps/100 for any n
    that fits in memory; one rounding to float64 ends it. So a sum that cancels
    keeps terms float64 would drop: 1e16 + 1 - 1e16 is 1, not 0. Without an
    extended type, each product is rounded once to float64 and their sum is
    exactly rounded (math.fsum over Python floats: several times slower).
    """
    if not extended:
        return np.array([_fsum_dot(a, u, chunk) for u in directions])
    partial = [np.multiply(directions[:, s:s + chunk], a[s:s + chunk], dtype=np.longdouble).sum(axis=1)
               for s in range(0, directions.shape[1], chunk)]  # (K,) a chunk
    total = np.stack(partial, axis=1).sum(axis=1) if partial else np.zeros(len(directions))  # pairwise again
    return total.astype(np.float64)


def _fsum_dot(a: np.ndarray, u: np.ndarray, chunk: int) -> float:
    return math.fsum(itertools.chain.from_iterable((a[s:s + chunk] * u[s:s + chunk]).tolist()
                                                   for s in range(0, len(a), chunk)))


def check(got: np.ndarray, reference: Directional, dtype: str) -> Verdict:
    """The analytic gradient `got` against the directional reference."""
    a = flat_real(got)  # a complex gradient pairs with the real-view directions of its input
    count = len(reference.value)
    finite = bool(np.all(np.isfinite(a)))
    along = along_directions(a, reference.directions) if finite else np.full(count, np.nan)
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
    evidence = bool(reason) and reference.settled and not np.any(reference.kink)
    return Verdict(passed=not reason, reason=reason, discrepancy=discrepancy, allowed=allowed, along=along,
                   evidence=evidence)


def passed_row(verdict: Verdict, reference: Directional, tolerance: Tolerance, **where) -> Comparison:
    """The row of a gradient that matched along every direction."""
    relative = relative_error(verdict.discrepancy, reference.value, tolerance.atol)
    with np.errstate(divide="ignore", invalid="ignore"):  # no discrepancy uses none of an allowance of 0
        used = np.where(verdict.discrepancy == 0, 0.0, verdict.discrepancy / verdict.allowed)
    return Comparison(
        status=Status.PASS, max_abs_err=float(np.max(verdict.discrepancy)),
        max_rel_err=float(np.max(relative)), margin=float(np.max(used)),
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


def implicated(verdict: Verdict, reference: Directional) -> np.ndarray:
    """Flat element indices, the most implicated first: by |sum_k u_ik d_k|, the discrepancies d_k
    (signed, <a, u_k> - D(u_k)) carried back along the directions.

    An error e in the gradient gives d = U e, and U^T d is the least-squares
    picture of e (U's rows are nearly orthogonal). With few directions it
    cannot single out a wrong element, but ranks it above about nine in ten
    others: those are what a partial check looks at first. Kinked and
    unsettled directions carry no discrepancy and are left out.
    """
    signed = verdict.along - reference.value
    usable = np.isfinite(signed) & ~reference.kink
    if not usable.any():
        return np.arange(reference.directions.shape[1])
    score = np.abs(signed[usable] @ reference.directions[usable])
    return np.argsort(-score, kind="stable")


def partial_row(got: np.ndarray, verdict: Verdict, reference: Directional, elements: np.ndarray, partial: Reference,
                tolerance: Tolerance, why: str, **where) -> Comparison:
    """The element-wise comparison at `elements` (a partial full check; `why` says why partial and
    which were checked) of a gradient that did not pass along the directions.

    It fails where an element fails. Where none of the checked ones does, a
    discrepancy along the directions still fails the row: the unchecked
    elements may hold it, and a partial check cannot clear them (a full one
    might: errors inside the element-wise tolerance, as an approximate
    gradient makes, add up along a direction). The message says which is
    proved: a discrepancy larger than errors within tolerance can add up to
    needs an element out of tolerance. A kink or an unsettled reference alone
    does not fail the row.
    """
    a = np.asarray(got, dtype=np.float64)
    row = compare(a.reshape(-1)[elements], partial, tolerance, **where)
    if row.worst_index is not None:  # an index among the checked elements, as an index of the input
        index = tuple(int(i) for i in np.unravel_index(elements[row.worst_index[0]], a.shape))
        message = row.message.replace(f"worst at {list(row.worst_index)}:", f"worst at {list(index)}:", 1)
        row = replace(row, worst_index=index, message=message.replace(" elements out of tolerance",
                                                                      " checked elements out of tolerance", 1))
    prefix = f"fast mode: {verdict.reason}; {why}"
    if row.status is not Status.PASS:
        return row.with_status(row.status, f"{prefix}: {row.message}")
    if verdict.evidence:  # the row's numbers are then the directions' (no element was found wrong)
        return replace(row, status=Status.FAIL, margin=float(np.max(verdict.discrepancy / verdict.allowed)),
                       max_abs_err=float(np.max(verdict.discrepancy)), worst_index=None, got=None, want=None,
                       message=f"{prefix}, and all are within tolerance: {_unchecked(a, verdict, reference, tolerance)} "
                               "(raise --budget, or run --mode fast, to check them all)")
    return row.with_status(row.status, f"{prefix}, and all are within tolerance")


def _unchecked(a: np.ndarray, verdict: Verdict, reference: Directional, tolerance: Tolerance) -> str:
    """What a discrepancy along the directions says of the elements not checked."""
    if not np.all(np.isfinite(a)):
        return "an element not checked is not finite"
    within = np.abs(reference.directions) @ tolerance.allowance(np.abs(a.reshape(-1))) + verdict.allowed
    if np.any(verdict.discrepancy > within):
        return ("some element not checked is out of tolerance (the discrepancy along the directions is more "
                "than errors within tolerance add up to)")
    return ("the discrepancy along the directions lies in elements not checked, or in errors within the "
            "element-wise tolerance that add up")


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
