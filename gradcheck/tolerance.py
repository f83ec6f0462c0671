"""The tolerance model, stated once.

An analytic gradient element `a` is accepted against the finite-difference
reference `r` (with error estimate `e`) when

    |a - r|  <=  atol + rtol * |r| + e

`e` is the reference's own uncertainty: a reference we cannot trust more
closely than `e` must not turn its noise into false alarms. Where the
reference found a kink the reference is an interval [lo, hi] of valid
subgradients, and |a - r| becomes the distance from `a` to that interval.

Precedence: command-line flag > case file > the dtype table below. `None`
means "not set here, ask the next level".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def as_dict(self) -> dict:
        return {"rtol": self.rtol, "atol": self.atol}

    def allowance(self, scale, error=0.0):
        """The one allowance rule: atol + rtol * scale + error, where `scale` is |reference| (or the
        size a sum was built from) and `error` the reference's own error estimate."""
        return self.atol + self.rtol * scale + error


# Defaults by the dtype the analytic gradient is computed in. float64: tight
# enough to flag a VJP that is off by a relative 1e-6 everywhere, loose enough
# for the last bits that summation order changes. Lower precisions: a few
# hundred ulps of their epsilon (2^-24, 2^-11, 2^-8), because framework kernels
# accumulate in the case dtype over thousands of terms.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-7, atol=1e-10),
    "float32": Tolerance(rtol=2e-4, atol=1e-5),
    "float16": Tolerance(rtol=2e-2, atol=2e-3),
    "bfloat16": Tolerance(rtol=1e-1, atol=1e-2),
    # Complex: each part is computed in the real dtype of its precision, and a complex element is
    # judged by |a - r| (the distance in the plane) against the same allowance.
    "complex128": Tolerance(rtol=1e-7, atol=1e-10),
    "complex64": Tolerance(rtol=2e-4, atol=1e-5),
}

# Published answers are rounded (to 6 significant digits, typically).
EXPECT_TOLERANCE = Tolerance(rtol=1e-5, atol=1e-8)

DTYPES: tuple[str, ...] = tuple(DEFAULT_TOLERANCES)


@dataclass(frozen=True)
class ToleranceOverride:
    """A partial tolerance from one level of configuration; None = unset."""

    rtol: float | None = None
    atol: float | None = None


def resolve(dtype: str, *overrides: ToleranceOverride | None) -> Tolerance:
    """The tolerance in force: the first level that sets a value wins.

    `overrides` go from the highest precedence (command line) to the lowest
    (case file); the dtype table fills whatever none of them set. A value of
    0.0 is a real setting, not "unset".
    """
    base = DEFAULT_TOLERANCES[dtype]
    rtol, atol = None, None
    for level in overrides:
        if level is None:
            continue
        if rtol is None:
            rtol = level.rtol
        if atol is None:
            atol = level.atol
    return Tolerance(
        rtol=base.rtol if rtol is None else rtol,
        atol=base.atol if atol is None else atol,
    )
