"""Comparisons: one analytic gradient against the reference, as data.

Never prints. The rule itself lives in tolerance.py; here it is applied
element-wise and summarised into a frozen Comparison with a path
(case > method > input > [index]) that reports can render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from gradcheck.compare.detail import Detail
from gradcheck.compare.diagnosis import diagnosis, non_finite
from gradcheck.dtypes import NEVER_CAST, as_float64
from gradcheck.engine.estimates import Reference
from gradcheck.engine.stencil import relative_error
from gradcheck.methods import ModeChoice
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
    got: float | complex | None = None  # the analytic value at the worst element
    want: float | complex | None = None  # the reference value there
    tolerance: Tolerance | None = None
    kinks: int = 0  # elements checked against a subgradient interval
    message: str = ""
    output: str | None = None  # which output's <dz_k, f_k> was differentiated (out[1]), where there are several
    xfail: bool = False  # the case is expected to fail: a SKIP row is an XFAIL, a PASS row an XPASS
    choice: ModeChoice | None = None  # auto mode's choice for this input (full or fast) and why
    order: int = 1  # 2: the derivative of the method's VJP along a seeded tangent (order: 2)
    detail: Detail | None = field(default=None, compare=False)  # for the eyes only: not in JSON, not compared

    @property
    def target(self) -> str:
        """The input, and the output where the forward returns several: `x › out[1]`."""
        return self.input if self.output is None else f"{self.input} › {self.output}"

    @property
    def label(self) -> str:
        """The method as reports name it: `torch`, or `torch (2nd)` for a second-order row."""
        return self.method if self.order == 1 else f"{self.method} (2nd)"

    @property
    def path(self) -> str:
        index = f" › {list(self.worst_index)}" if self.worst_index is not None else ""
        return f"{self.case} › {self.label} › {self.target}{index}"

    def with_status(self, status: Status, message: str) -> Comparison:
        return replace(self, status=status, message=message)

    def with_detail(self, detail: Detail) -> Comparison:
        return replace(self, detail=detail)


def element_margins(got: np.ndarray, reference: Reference,
                    tolerance: Tolerance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per element: the fraction of its allowance used (> 1 fails), the allowance, and the error.

    The error of an element is its distance to the accepted interval [lower, upper]
    (a point away from kinks); NaN never passes. A complex element's is its distance
    in the plane to the rectangle [lower, upper] (the intervals of its real and imaginary
    parts): |a - r| away from kinks.
    """
    if np.iscomplexobj(got) or np.iscomplexobj(reference.value):
        distance = np.hypot(_outside(np.real(got), np.real(reference.lower), np.real(reference.upper)),
                            _outside(np.imag(got), np.imag(reference.lower), np.imag(reference.upper)))
    else:
        distance = _outside(got, reference.lower, reference.upper)
    distance = np.where(np.isnan(got), np.inf, distance)
    allowed = tolerance.allowance(np.abs(reference.value), reference.error)
    with np.errstate(divide="ignore", invalid="ignore"):
        used = np.where(distance == 0, 0.0, distance / allowed)  # allowed == 0 and distance > 0: inf
    return used, allowed, distance


def _outside(got: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """How far each element of `got` lies outside [lower, upper] (0 inside)."""
    return np.maximum(np.maximum(lower - got, got - upper), 0.0)


def _number(value) -> float | complex:
    """One element as a Python number: complex where the array is."""
    return complex(value) if np.iscomplexobj(value) else float(value)


def compare(got: np.ndarray, reference: Reference, tolerance: Tolerance, **where) -> Comparison:
    """Apply  |a - r| <= atol + rtol*|r| + e  to every element.

    At kinks |a - r| is the distance from a to [lower, upper]; tied kinks
    (reference.ties) are checked once more as sums over their elements. A
    failure's message names the worst element and says what kind of failure
    it looks like (_diagnosis). `where` carries the Comparison's identity
    (case, file, line, method, input).
    """
    want = reference.value
    got = as_float64(got)
    if np.iscomplexobj(got) and not np.iscomplexobj(want):
        return Comparison(
            status=Status.ERROR, tolerance=tolerance,
            message=f"the gradient is complex ({got.dtype}) but the input is real: {NEVER_CAST}",
            **where,
        )
    if got.shape != want.shape:
        return Comparison(
            status=Status.ERROR, tolerance=tolerance,
            message=f"gradient has shape {list(got.shape)}, the input has shape {list(want.shape)}",
            **where,
        )
    if got.size == 0:
        return Comparison(status=Status.PASS, tolerance=tolerance, message="no elements", **where)
    used, allowed, distance = element_margins(got, reference, tolerance)
    # Both error columns measure |a - r| from the reference's central value, so a relative error
    # is never 0 beside a nonzero absolute one (at a kink a valid subgradient may be far from r;
    # the margin, from the distance to the interval, is what judges it).
    absolute = np.where(np.isnan(got), np.inf, np.abs(got - want))
    relative = relative_error(absolute, want, tolerance.atol)
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
        message += non_finite(got, want) or diagnosis(got, want, reference, used, allowed, worst)
        if tie_margin > 1.0:
            message += "; also " + tie_message
    elif tie_margin > 1.0:
        worst, margin, message = np.unravel_index(tie_first, want.shape), tie_margin, tie_message
    status = Status.PASS if margin <= 1.0 else Status.FAIL
    return Comparison(
        status=status,
        max_abs_err=float(np.max(absolute)),
        max_rel_err=float(np.max(relative)),
        margin=margin,
        worst_index=tuple(int(i) for i in worst),
        got=_number(got[worst]),
        want=_number(want[worst]),
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
        allowed = tolerance.allowance(max(abs(tie.value), float(np.sum(np.abs(parts)))), tie.error)
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


def comparison_for(status: Status, message: str, **where) -> Comparison:
    """A result with no numbers: a skip, an error, or the reference's own row."""
    return Comparison(status=status, message=message, **where)
