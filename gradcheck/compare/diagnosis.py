"""What kind of wrong: a failing comparison's pattern (sign, scale), and whether it is a real bug.

A discrepancy BUG_MARGIN times the allowance is a real bug whatever the
reference's precision; a reference whose error estimate is above UNCONVERGED
of its value has not converged (a float64 reference normally settles to ~1e-12).
"""

from __future__ import annotations

import numpy as np

from gradcheck.engine.estimates import Reference

BUG_MARGIN = 100.0
UNCONVERGED = 1e-6


def diagnosis(got: np.ndarray, want: np.ndarray, reference: Reference, used: np.ndarray,
              allowed: np.ndarray, worst: tuple[int, ...]) -> str:
    """What kind of wrong: a pattern (sign, scale), then a real bug or a reference that did not converge."""
    failing = used > 1.0
    if not np.any(failing):
        return ""
    hints = []
    a, b = got[failing], want[failing]
    nonzero = b != 0
    if np.allclose(a, -b, rtol=1e-6, atol=0) and np.any(nonzero):
        hints.append("the gradient has the wrong sign")
    elif np.iscomplexobj(b) and np.allclose(a, np.conj(b), rtol=1e-6, atol=0) and np.any(b.imag != 0):
        hints.append("the gradient is the conjugate of the reference (a missing conj, or a backward in "
                     "JAX's convention: gradcheck's is d phi/d Re z + i d phi/d Im z)")
    elif np.any(nonzero):
        ratio = a[nonzero] / b[nonzero]
        if np.allclose(ratio, ratio[0], rtol=1e-6) and ratio[0] != 1:
            hints.append(f"the gradient is the reference times {_factor(ratio[0])}")
    margin, error = float(used[worst]), float(reference.error[worst])
    scale = max(float(abs(want[worst])), float(allowed[worst]) - error)
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


def non_finite(got: np.ndarray, want: np.ndarray) -> str:
    """NaN and infinite gradient elements, named and counted ("" when there are none).

    A margin of "inf times the allowance" says nothing about why: a NaN is a
    0/0 or inf - inf in the backward, an inf an overflow or a division by zero.
    """
    nan, inf = np.isnan(got), np.isinf(got)
    if not (np.any(nan) or np.any(inf)):
        return ""
    parts = [f"{int(np.count_nonzero(kind))} {name}" for kind, name in ((nan, "NaN"), (inf, "infinite"))
             if np.any(kind)]
    first = list(map(int, np.argwhere(nan | inf)[0]))
    where = "the reference is finite" if np.all(np.isfinite(want)) else "the reference is not finite either"
    return (f"; the gradient has {' and '.join(parts)} element(s) of {got.size} (first at {first}) where "
            f"{where}: a non-finite gradient is wrong, not an error")


def _factor(ratio) -> str:
    """A scale factor in words that keep its distance from 1 visible: "1 + 1e-06", not "1"; a complex
    factor (a gradient rotated in the plane) as a complex number."""
    if np.iscomplexobj(ratio) and ratio.imag != 0:
        return f"({complex(ratio):.6g})"
    ratio = float(np.real(ratio))
    if abs(ratio - 1) < 1e-3:
        return f"1 {'+' if ratio > 1 else '-'} {abs(ratio - 1):.2g}"
    return f"{ratio:.6g}"
