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

import math
from dataclasses import replace

import numpy as np

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.dtypes import as_float64
from gradcheck.tolerance import Tolerance

SCALE = -1.7


def check(row: Comparison, first: np.ndarray, scaled: np.ndarray | None, tolerance: Tolerance) -> Comparison:
    """`row` (the first answer against the reference), failed if the second answer is not SCALE times the first.

    A row that already fails keeps its numbers (the reference's worst element) and gains the
    diagnosis; a row that passed takes the linearity check's margin, worst index, got and want, so
    its numbers say how far from linear the backward is where the reference alone saw nothing wrong.
    """
    first = as_float64(first)
    found = _departure(first, scaled, tolerance)
    if found is None or row.status is Status.ERROR:
        return row
    problem, margin, worst, got, want = found
    if row.status is Status.FAIL:
        return row.with_status(Status.FAIL, f"{row.message}; also {problem}" if row.message else problem)
    return replace(row, status=Status.FAIL, message=problem, margin=max(margin, row.margin or 0.0),
                   worst_index=worst if worst is not None else row.worst_index,
                   got=got if got is not None else row.got, want=want if want is not None else row.want)


def _departure(first: np.ndarray, scaled: np.ndarray | None, tolerance: Tolerance):
    """(why, margin, worst index, got, want) when the second answer is not SCALE times the first, else None."""
    if scaled is None:
        return (f"the backward is not linear in its cotangent: with the cotangent times {SCALE:g} it "
                "returned None for this input", math.inf, None, None, None)
    scaled = as_float64(scaled)
    if scaled.shape != first.shape:
        return (f"the backward is not linear in its cotangent: with the cotangent times {SCALE:g} it returned "
                f"shape {list(scaled.shape)} instead of {list(first.shape)}", math.inf, None, None, None)
    if first.size == 0 or not np.all(np.isfinite(first)):
        return None  # nothing to scale, or the non-finite first answer already fails the row
    want = SCALE * first
    with np.errstate(invalid="ignore", divide="ignore"):
        used = np.abs(scaled - want) / tolerance.allowance(np.abs(want))
    used = np.where(np.isnan(used), np.inf, used)  # NaN is off too
    off = used > 1.0
    if not np.any(off):
        return None
    worst = np.unravel_index(int(np.argmax(used)), first.shape)
    if np.allclose(scaled, first, rtol=tolerance.rtol, atol=tolerance.atol, equal_nan=True):
        kind = "the backward ignores its cotangent (the same gradient came back for a scaled cotangent)"
    else:
        kind = "the backward is not linear in its cotangent"
    why = (f"{kind}: with the cotangent times {SCALE:g}, {int(np.count_nonzero(off))} of {first.size} elements "
           f"are not {SCALE:g} times the first answer; at {list(map(int, worst))}: got {scaled[worst]:.10g}, "
           f"want {want[worst]:.10g}")
    number = complex if np.iscomplexobj(want) else float
    return why, float(used[worst]), tuple(int(i) for i in worst), number(scaled[worst]), number(want[worst])
