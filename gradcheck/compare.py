"""Comparisons: one analytic gradient against the reference, as data.

Never prints. The rule itself lives in tolerance.py; here it is applied
element-wise and summarised into a frozen Comparison with a path
(case > method > input > [index]) that reports can render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from gradcheck.numeric import Reference
from gradcheck.tolerance import Tolerance


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Comparison:
    case: str
    file: str
    line: int
    method: str
    input: str
    status: Status
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    margin: float | None = None  # fraction of the tolerance used at the worst element (> 1 fails)
    worst_index: tuple[int, ...] | None = None
    got: float | None = None  # the analytic value at the worst element
    want: float | None = None  # the reference value there
    tolerance: Tolerance | None = None
    kinks: int = 0  # elements checked against a subgradient interval
    message: str = ""

    @property
    def path(self) -> str:
        index = f" › {list(self.worst_index)}" if self.worst_index is not None else ""
        return f"{self.case} › {self.method} › {self.input}{index}"

    def with_status(self, status: Status, message: str) -> "Comparison":
        return replace(self, status=status, message=message)


def compare(got: np.ndarray, reference: Reference, tolerance: Tolerance, **where) -> Comparison:
    """Apply  |a - r| <= atol + rtol*|r| + e  to every element.

    At kinks |a - r| is the distance from a to [lower, upper]; tied kinks
    (reference.ties) are checked once more as sums over their elements. A
    failure's message names the worst element and says what kind of failure
    it looks like (_diagnosis). `where` carries the Comparison's identity
    (case, file, line, method, input).
    """
    want = reference.value
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        return Comparison(
            status=Status.ERROR, tolerance=tolerance,
            message=f"gradient has shape {list(got.shape)}, the input has shape {list(want.shape)}",
            **where,
        )
    if got.size == 0:
        return Comparison(status=Status.PASS, tolerance=tolerance, message="no elements", **where)
    # The error of each element: its distance to the accepted interval.
    distance = np.maximum(reference.lower - got, got - reference.upper)
    distance = np.maximum(distance, 0.0)
    distance = np.where(np.isnan(got), np.inf, distance)  # NaN never passes
    allowed = tolerance.atol + tolerance.rtol * np.abs(want) + reference.error
    with np.errstate(divide="ignore", invalid="ignore"):
        used = np.where(distance == 0, 0.0, distance / allowed)  # allowed == 0 and distance > 0: inf
        relative = distance / np.abs(want)
    # Relative error means something only where the reference is above the
    # absolute floor; below it (a saturated sigmoid's 1e-18) atol is the judge.
    relative = np.where((distance == 0) | (np.abs(want) <= tolerance.atol), 0.0, relative)
    worst = np.unravel_index(int(np.argmax(used)), want.shape)
    margin = float(used[worst])
    kinks = int(np.count_nonzero(reference.lower != reference.upper))
    tie_margin, tie_message, tie_first = _ties(got, reference, tolerance)
    message = ""
    if margin > 1.0:
        bad = int(np.count_nonzero(used > 1.0))
        message = (
            f"{bad} of {want.size} elements out of tolerance; worst at {list(map(int, worst))}: "
            f"got {got[worst]:.10g}, reference {want[worst]:.10g} "
            f"(± {reference.error[worst]:.2g})"
        )
        if reference.lower[worst] != reference.upper[worst]:
            message += f", kink: valid range [{reference.lower[worst]:.6g}, {reference.upper[worst]:.6g}]"
        message += _diagnosis(got, want, reference, used, distance, allowed, worst)
        if tie_margin > 1.0:
            message += "; also " + tie_message
    elif tie_margin > 1.0:
        worst, margin, message = np.unravel_index(tie_first, want.shape), tie_margin, tie_message
    status = Status.PASS if margin <= 1.0 else Status.FAIL
    return Comparison(
        status=status,
        max_abs_err=float(np.max(np.where(np.isnan(got), np.inf, np.abs(got - want)))),
        max_rel_err=float(np.max(relative)),
        margin=margin,
        worst_index=tuple(int(i) for i in worst),
        got=float(got[worst]),
        want=float(want[worst]),
        tolerance=tolerance,
        kinks=kinks,
        message=message,
        **where,
    )


def _ties(got: np.ndarray, reference: Reference, tolerance: Tolerance) -> tuple[float, str, int]:
    """The worst tie (numeric.Tie): its margin, a message, and its first element's flat index.

    Tied kink elements move together along the sum of their unit vectors, where
    phi is differentiable: the gradient's elements over the tie must sum to
    that derivative, under the same rule as single elements.
    """
    flat = got.reshape(-1)
    worst = (0.0, "", 0)
    for tie in reference.ties:
        parts = flat[list(tie.indices)]
        total = math.fsum(parts) if np.all(np.isfinite(parts)) else math.nan
        allowed = tolerance.atol + tolerance.rtol * max(abs(tie.value), float(np.sum(np.abs(parts)))) + tie.error
        distance = abs(total - tie.value) if math.isfinite(total) else math.inf
        margin = 0.0 if distance == 0 else distance / allowed if allowed > 0 else math.inf
        if margin > worst[0]:
            shown = ", ".join(str(list(map(int, np.unravel_index(i, got.shape)))) for i in tie.indices[:4])
            more = f" and {len(tie.indices) - 4} more" if len(tie.indices) > 4 else ""
            message = (f"the {len(tie.indices)} tied elements {shown}{more} (equal values at a shared kink) have "
                       f"gradients summing to {total:.10g}, but moving them together gives {tie.value:.10g} "
                       f"(± {tie.error:.2g}): each alone is within its one-sided range, together they are not "
                       "a valid subgradient (a max or min with ties must split its cotangent, not copy it)")
            worst = (margin, message, tie.indices[0])
    return worst


# Diagnosis thresholds: a discrepancy this many times the allowance is a real bug whatever the
# reference's precision; a reference whose error estimate is above this fraction of its value has
# not converged (a float64 reference normally settles to ~1e-12).
BUG_MARGIN = 100.0
UNCONVERGED = 1e-6


def _diagnosis(got: np.ndarray, want: np.ndarray, reference: Reference, used: np.ndarray,
               distance: np.ndarray, allowed: np.ndarray, worst: tuple[int, ...]) -> str:
    """What kind of wrong: a pattern (sign, scale), then a real bug or a reference that did not converge."""
    failing = used > 1.0
    if not np.any(failing):
        return ""
    hints = []
    a, b = got[failing], want[failing]
    nonzero = b != 0
    if np.allclose(a, -b, rtol=1e-6, atol=0) and np.any(nonzero):
        hints.append("the gradient has the wrong sign")
    elif np.any(nonzero):
        ratio = a[nonzero] / b[nonzero]
        if np.allclose(ratio, ratio[0], rtol=1e-6) and ratio[0] != 1:
            hints.append(f"the gradient is the reference times {_factor(float(ratio[0]))}")
    margin, error = float(used[worst]), float(reference.error[worst])
    scale = max(abs(float(want[worst])), float(allowed[worst]) - error)
    shaky = error > UNCONVERGED * scale
    if margin >= BUG_MARGIN and not shaky:
        hints.append(f"a real bug: the gradient is {margin:.2g} times the allowance away, and the reference "
                     f"there is converged (± {error:.2g})")
    elif margin >= BUG_MARGIN:
        hints.append(f"probably a real bug ({margin:.2g} times the allowance away), though the reference there "
                     f"is uncertain (± {error:.2g})")
    elif shaky:
        hints.append(f"the reference did not converge there (± {error:.2g}, {error / scale:.1e} of its value): "
                     "noise in the forward, a kink the steps straddle, or a step too small for its "
                     "precision; treat with care")
    else:
        hints.append(f"just outside the tolerance ({margin:.3g} times the allowance) with a converged reference "
                     f"(± {error:.2g}): a small real error, or a tolerance tighter than the precision the "
                     "gradient was computed in")
    return "; " + "; ".join(hints)


def _factor(ratio: float) -> str:
    """A scale factor in words that keep its distance from 1 visible: "1 + 1e-06", not "1"."""
    if abs(ratio - 1) < 1e-3:
        return f"1 {'+' if ratio > 1 else '-'} {abs(ratio - 1):.2g}"
    return f"{ratio:.6g}"


def comparison_for(status: Status, message: str, **where) -> Comparison:
    """A result with no numbers: a skip, an error, or the reference's own row."""
    return Comparison(status=status, message=message, **where)
