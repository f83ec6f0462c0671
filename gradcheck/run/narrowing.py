"""A fast-mode failure narrowed down to elements that a budget can check one by one (auto mode).

A gradient a that fails along a direction u has d = <a - g, u> well away from
zero (g the true gradient). Split the suspects in two halves H and R and
restrict u to H: d_H = <(a - g)_H, u_H>, and d = d_H + d_R. So when H fails
along u_H, H holds an error; when it passes, d_R = d - d_H is as large as d
was, and R holds one, without being measured. Each halving costs one
directional derivative (HALVING_EVALUATIONS forward calls, whatever the
input's size); after r of them 1 / 2^r of the elements remain suspects, and
those are checked element-wise (engine/partial.py). The number of halvings is
the fewest that leave the element-wise check within the budget: the more
elements checked, the more of an error spread over many is seen.

Where the failure is no discrepancy (a direction crosses a kink, or the
reference did not settle) there is nothing to follow: the elements checked are
those the directions implicate most (compare/fast.py's `implicated`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from gradcheck.compare import fast
from gradcheck.engine import cost
from gradcheck.run.references import References

HALVING_EVALUATIONS = 18  # one direction: baseline and batching (9), 4 levels x 2 sides, f(x)
PLAN_SHARE = 0.8  # of the budget, for the planned halvings and element-wise check


@dataclass(frozen=True)
class Suspects:
    elements: np.ndarray  # flat indices, to check element-wise
    how: str  # how they were chosen, in words


def plan(size: int, per_evaluation: float, budget: float) -> int | None:
    """The fewest halvings after which halving and checking the rest element-wise fit `budget`
    seconds; None where even one element does not fit."""
    for halvings in range(max(1, size).bit_length() + 1):
        left = math.ceil(size / 2**halvings)
        evaluations = halvings * HALVING_EVALUATIONS + cost.element_evaluations(left)
        if cost.FIXED_SECONDS + evaluations * per_evaluation <= budget:
            return halvings
    return None


def suspects(references: References, name: str, gradient: np.ndarray, verdict: fast.Verdict) -> Suspects:
    """The elements of a fast input to check element-wise after `gradient` failed along the directions."""
    start = time.perf_counter()
    directional = references.directional[name]
    prediction, budget = references.predictions[name], references.budget
    everything = np.arange(directional.directions.shape[1])
    finite = np.isfinite(np.asarray(gradient, dtype=np.float64).reshape(-1))
    if not finite.all():  # nothing to halve on: the non-finite elements are the suspects
        count = cost.affordable_elements(prediction, budget)
        return Suspects(np.flatnonzero(~finite)[:count], "the elements where the gradient is not finite")
    # Planned within PLAN_SHARE of the budget: the rest is slack for halvings slower than predicted.
    halvings = plan(len(everything), prediction.per_evaluation, PLAN_SHARE * budget) if verdict.evidence else None
    if halvings is None:
        ranked = fast.implicated(verdict, directional)
        count = cost.affordable_elements(prediction, budget)
        return Suspects(ranked[:count], "those the directions implicate most")
    worst = int(np.nanargmax(verdict.discrepancy / verdict.allowed))
    u = directional.directions[worst]
    left, done = everything, 0
    for done in range(halvings):
        to_go = halvings - done  # stop early where the halvings run slower than predicted
        rest_of_plan = to_go * HALVING_EVALUATIONS + cost.element_evaluations(math.ceil(len(left) / 2**to_go))
        if time.perf_counter() - start + rest_of_plan * prediction.per_evaluation > budget:
            break
        half, rest = left[: len(left) // 2], left[len(left) // 2:]
        along = np.zeros_like(u)
        along[half] = u[half]
        passed = fast.check(gradient, references.along(name, along), references.problem.dtype).passed
        left = rest if passed else half
    else:
        done = halvings
    how = (f"those left after {done} halving{'s' if done != 1 else ''} along direction {worst + 1}, each keeping "
           "the half that holds the discrepancy") if done else "every element"
    affordable = cost.affordable_elements(prediction, budget - (time.perf_counter() - start))
    if len(left) > affordable:  # slower than planned: the most implicated of the suspects
        order = fast.implicated(verdict, directional)
        left = order[np.isin(order, left)][:affordable]
        how += ", the most implicated of them"
    return Suspects(np.sort(left), how)
