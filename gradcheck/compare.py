"""Comparisons: one analytic gradient against the reference, as data.

Never prints. The rule itself lives in tolerance.py; here it is applied
element-wise and summarised into a frozen Comparison with a path
(case > method > input > [index]) that reports can render.
"""

from __future__ import annotations

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

    At kinks |a - r| is the distance from a to [lower, upper]. `where` carries
    the Comparison's identity (case, file, line, method, input).
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
    status = Status.PASS if margin <= 1.0 else Status.FAIL
    kinks = int(np.count_nonzero(reference.lower != reference.upper))
    message = ""
    if status is Status.FAIL:
        bad = int(np.count_nonzero(used > 1.0))
        message = (
            f"{bad} of {want.size} elements out of tolerance; worst at {list(map(int, worst))}: "
            f"got {got[worst]:.10g}, reference {want[worst]:.10g} "
            f"(± {reference.error[worst]:.2g})"
        )
        if reference.lower[worst] != reference.upper[worst]:
            message += f", kink: valid range [{reference.lower[worst]:.6g}, {reference.upper[worst]:.6g}]"
        message += _diagnosis(got, want, reference, used)
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


def _diagnosis(got: np.ndarray, want: np.ndarray, reference: Reference, used: np.ndarray) -> str:
    """A hint at what kind of wrong: a sign, a scale, or a reference that did not settle."""
    failing = used > 1.0
    if not np.any(failing):
        return ""
    a, b = got[failing], want[failing]
    if np.allclose(a, -b, rtol=1e-6, atol=0) and np.any(b != 0):
        return "; the gradient has the wrong sign"
    nonzero = b != 0
    if np.any(nonzero):
        ratio = a[nonzero] / b[nonzero]
        if np.allclose(ratio, ratio[0], rtol=1e-6) and ratio[0] != 1:
            return f"; the gradient is the reference times {ratio[0]:.6g}"
    unsettled = reference.error[failing] > 1e-3 * np.abs(b)
    if np.all(unsettled):
        return "; the reference did not converge there (noise or a kink), treat with care"
    return ""


def comparison_for(status: Status, message: str, **where) -> Comparison:
    """A result with no numbers: a skip, an error, or the reference's own row."""
    return Comparison(status=status, message=message, **where)
