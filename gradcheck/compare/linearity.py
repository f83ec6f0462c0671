"""Cotangent linearity (DESIGN section 3): a VJP is linear in its cotangent.

J^T (c dz) = c J^T dz for every real c. Comparing against the reference alone
cannot see a backward that ignores its cotangent wherever the cotangent is 1
(a scalar output's default, as in TensorFlow issue 30883's relu), so every VJP
method is called a second time with SCALE * dz and must return SCALE times its
first answer, under the case's tolerance. SCALE is neither 1 nor -1 and not a
power of two, so a backward that drops, squares, takes the sign or the
absolute value of its cotangent cannot meet it by accident.
"""

from __future__ import annotations

import numpy as np

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.tolerance import Tolerance

SCALE = -1.7


def check(row: Comparison, first: np.ndarray, scaled: np.ndarray | None, tolerance: Tolerance) -> Comparison:
    """`row` (the first answer against the reference), failed if the second answer is not SCALE times the first."""
    problem = _departure(np.asarray(first, dtype=np.float64), scaled, tolerance)
    if not problem or row.status is Status.ERROR:
        return row
    message = f"{row.message}; also " if row.status is Status.FAIL and row.message else ""
    return row.with_status(Status.FAIL, message + problem)


def _departure(first: np.ndarray, scaled: np.ndarray | None, tolerance: Tolerance) -> str:
    """Why the second answer is not SCALE times the first, in words; "" when it is."""
    if scaled is None:
        return (f"the backward is not linear in its cotangent: with the cotangent times {SCALE:g} it "
                "returned None for this input")
    scaled = np.asarray(scaled, dtype=np.float64)
    if scaled.shape != first.shape:
        return (f"the backward is not linear in its cotangent: with the cotangent times {SCALE:g} it returned "
                f"shape {list(scaled.shape)} instead of {list(first.shape)}")
    if first.size == 0 or not np.all(np.isfinite(first)):
        return ""  # nothing to scale, or the non-finite first answer already fails the row
    want = SCALE * first
    with np.errstate(invalid="ignore"):
        off = ~(np.abs(scaled - want) <= tolerance.allowance(np.abs(want)))  # NaN is off too
    if not np.any(off):
        return ""
    worst = np.unravel_index(int(np.argmax(np.where(off, np.abs(scaled - want), -1.0))), first.shape)
    index = list(map(int, worst))
    if np.allclose(scaled, first, rtol=tolerance.rtol, atol=tolerance.atol, equal_nan=True):
        kind = "the backward ignores its cotangent (the same gradient came back for a scaled cotangent)"
    else:
        kind = "the backward is not linear in its cotangent"
    return (f"{kind}: with the cotangent times {SCALE:g}, {int(np.count_nonzero(off))} of {first.size} elements "
            f"are not {SCALE:g} times the first answer; at {index}: got {scaled[worst]:.10g}, "
            f"want {want[worst]:.10g}")
