"""The step-size curve of one element: why the reference can be trusted there.

For a step h the central difference D(h) = (phi(x + h e_i) - phi(x - h e_i)) / 2h
has two errors pulling in opposite directions: truncation, ~ h^2 (the Taylor
terms the difference does not cancel), and round-off, ~ eps |phi| / h (the
rounding of phi, divided by the step). On log-log axes the first is a line of
slope 2, the second a line of slope -1; the stencil's steps should sit where
they meet, and the Richardson extrapolation then removes the truncation. The
curve samples |D(h) - reference| over many steps so a person can see that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from gradcheck.engine.stencil import CENTRAL, initial_steps, roundoff, scales

SAMPLES = 40
LARGEST, SMALLEST = 0.25, 1e-14  # relative to the element's scale; a quarter: the reference's own bound


@dataclass(frozen=True)
class StepCurve:
    """|D(h) - reference| at each step h, beside the two error models and the stencil's steps."""

    steps: np.ndarray  # h, decreasing
    errors: np.ndarray  # |D(h) - reference|; NaN where the forward failed or was not finite
    roundoff: np.ndarray  # the round-off model at each h (slope -1)
    truncation: np.ndarray  # slope 2 through the error at the stencil's largest step (NaN if that is 0)
    used: np.ndarray  # the steps the reference's first pass used for this element


def step_curve(forward: Callable, inputs: Sequence[np.ndarray], index: int, cotangent: np.ndarray,
               element: int, reference: float) -> StepCurve:
    """The curve of flat element `element` of inputs[index], against the reference value there."""
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    x, dz = inputs[index], np.asarray(cotangent, dtype=np.float64).reshape(-1)
    used = initial_steps(x)[element] * CENTRAL.shrink
    scale = scales(x)[element]
    steps = np.unique(np.concatenate([scale * np.geomspace(LARGEST, SMALLEST, SAMPLES), used]))[::-1]
    quotients, magnitudes = np.transpose([_central(forward, inputs, index, dz, element, h) for h in steps])
    rounding = roundoff(magnitudes, 2 * steps)
    with np.errstate(all="ignore"):
        errors = np.abs(quotients - reference)
        at = np.searchsorted(-steps, -used[0])
        # The slope-2 line goes through the error at the largest step only where truncation dominates
        # there; a forward linear in this input (matmul) has none, and its error there is round-off.
        truncates = errors[at] > 10 * rounding[at]
        truncation = errors[at] * (steps / used[0]) ** 2 if truncates else np.full_like(steps, np.nan)
    return StepCurve(steps=steps, errors=errors, roundoff=rounding, truncation=truncation, used=used)


def _central(forward: Callable, inputs: list[np.ndarray], index: int, dz: np.ndarray, element: int,
             h: float) -> tuple[float, float]:
    """D(h) and the magnitude its round-off scales with; NaN where the forward fails (a domain edge)."""
    values = []
    for sign in (1.0, -1.0):
        moved = inputs[index].copy()
        moved.reshape(-1)[element] += sign * h
        try:
            with np.errstate(all="ignore"):
                values.append(np.asarray(forward(*inputs[:index], moved, *inputs[index + 1:]),
                                         dtype=np.float64).reshape(-1))
        except Exception:  # outside the forward's domain: this step has no quotient
            return np.nan, np.nan
    plus, minus = values
    quotient = float((plus - minus) @ dz) / (2 * h)
    return quotient, float((np.abs(plus) + np.abs(minus)) @ np.abs(dz))
