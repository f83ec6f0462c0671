"""Where a failing row is rounding, not a bug: explore's clearances (search.py), each with its maths.

A row that fails against a converged reference at a point may still be no bug: the reference could
not see the discrepancy (it is below the rounding of what the reference differences: below_resolution),
or the gradient is determined by the point only to within the discrepancy (ill_conditioned). Each
rule clears a row only where a wrong gradient (a missing term, a wrong factor) would be off by more.
"""

from __future__ import annotations

import numpy as np

from gradcheck.cases.problem import Problem
from gradcheck.compare.comparison import Comparison
from gradcheck.compare.second_order import ENGINE
from gradcheck.engine.directional import tangent_parts
from gradcheck.engine.reference import reference_vjp
from gradcheck.engine.stencil import CENTRAL, initial_steps
from gradcheck.methods import FORWARD_MODE
from gradcheck.run.references import seeded_tangent
from gradcheck.run.second_order import along_tangents, tangents

ROUNDING_ULPS = 4  # phi's rounding, in units of eps |phi|, under which a difference cannot be seen
CONDITION_ULPS = 4  # ill_conditioned: every input moved by up to this many ulps (relative), at random
CONDITION_LOOKS = 2  # ill_conditioned: points so moved
CONDITIONING = 10.0  # ill_conditioned: a discrepancy within this many times the gradient's own move is rounding


def problem_of(row: Comparison, problems: list[Problem]) -> Problem:
    """The problem of the row's output (the first, for a row of a single-output case)."""
    return next((p for p in problems if p.output_name == row.output), problems[0])


def below_resolution(row: Comparison, problems: list[Problem]) -> bool:
    """Whether a reverse-mode row's worst discrepancy is a change of the differentiated scalar that the
    reference cannot see: smaller, at the smallest step it takes there, than that scalar's rounding.
    Catastrophic cancellation (a tiny off-diagonal derivative of a likelihood of 1e10), not a bug:
    there the differences are exactly 0 and the reference claims 0 +- 0.

    The discrepancy is the worst element's |got - want|, not the row's largest error: that can be an
    element far larger and inside its tolerance (expr-order2 at x = (0, 100, -1e6), y = 0: 1.29e32 at
    x[1], where the gradient is e^100, beside got 1, reference 0 +- 0 at x[0], whose step of 260 moves
    phi = e^100 by 260 against a rounding of 2.4e28). Order 1: the scalar is phi = <dz, f>, its
    rounding eps sum |dz f|. Order 2, judged against the engine's H V (compare/second_order.py): the engine
    differentiates phi2 = <dz, F> with F = J_f V (engine/hessian.py, along the tangents
    run/second_order.py seeds), so its rounding is eps sum |dz F| (expr-order2 at x = (0, 0, 100),
    y = 0: phi2 ~ 3e45, rounding ~3e30, the row's largest error an element of H V ~ 1e45 inside its
    tolerance; H V at x[1] is v = 4.65, the reference 0 +- 0). A row judged against the derivative of the method's own VJP, or whose
    derivative departs from it (a backward of detached tensors), has a failure phi2's rounding
    does not explain: never cleared. A forward-mode row (J u): jvp_below_resolution."""
    problem = problem_of(row, problems)
    if row.worst_index is None or not row.max_abs_err or row.input not in problem.inputs:
        return False
    if row.method in FORWARD_MODE:
        return jvp_below_resolution(row, problem)
    known = row.got is not None and row.want is not None
    if row.order == 1:
        discrepancy = abs(row.got - row.want) if known else row.max_abs_err
        terms = problem.cotangent * problem.output
    elif ENGINE in row.message and known and not any(
            reason in row.message for reason in ("misses a term", "not differentiable")):
        discrepancy, terms = abs(row.got - row.want), problem.cotangent * tangent_forward(problem)
    else:
        return False
    if not np.all(np.isfinite(terms)):
        return False
    x = problem.inputs[row.input]
    step = initial_steps(x).reshape(x.shape)[row.worst_index] * CENTRAL.shrink[-1]
    noise = ROUNDING_ULPS * np.finfo(np.float64).eps * float(np.sum(np.abs(terms)))
    return discrepancy * step < noise


def jvp_below_resolution(row: Comparison, problem: Problem) -> bool:
    """Whether a forward-mode row's discrepancy at its worst output element k is a change of f_k that the
    directional reference cannot see.

    The row compares J u (u the seeded tangent of one input, run/references.py) with reference_jvp
    (engine/directional.py), which differences each output element on its own along the curve
    t -> f(x + t u): quotients (f_k(x + h u) - f_k(x - h u)) / 2h at the steps h, h/2, h/4, h/8 from
    each part's first step h (one part, or one per group of element sizes, tangent_parts). A J u off
    by d at element k moves f_k(x + h u) by d h, which the reference cannot tell from f_k's rounding,
    ROUNDING_ULPS eps |f_k|, when d h_min < ROUNDING_ULPS eps |f_k| at h_min, the smallest step of the
    part that the reference takes largest steps along (where it resolves the finest; J u sums the parts,
    so a discrepancy under every part's resolution is under the sum's). There the differences are
    exactly 0, and the reference claims 0 +- 0. (expr-order2 at x = (0, 0, 100), y = (0, 1, 0):
    f = e^100 + 1.5 = 2.69e43, whose rounding is 2.39e28; J u along y is 0.301, and the reference's
    steps along y, from 2^-7 down to h_min = 2^-10, move f by 3e-4 at most: it says 0 +- 0, and resolves
    a J u off by d only from d = 2.39e28 / 2^-10 = 2.4e31. Along x, J u = -3.2e43 is resolved and passes.)
    A wrong J u off by more, as one that drops a factor of the e^100 term where it moves f (y[2] != 0),
    is never cleared; nor is any row where f_k = 0."""
    x, output = problem.inputs[row.input], np.asarray(problem.output)
    if row.got is None or row.want is None or np.iscomplexobj(x) or np.iscomplexobj(output):
        return False  # (a complex input is differenced along its real view's tangent)
    try:
        value = float(np.abs(output[row.worst_index]))
    except (IndexError, TypeError):
        return False
    parts = tangent_parts(x, seeded_tangent(problem, row.input))
    if not parts or not np.isfinite(value):
        return False
    step = max(first for _, _, first in parts) * CENTRAL.shrink[-1]
    noise = ROUNDING_ULPS * np.finfo(np.float64).eps * value
    return abs(row.got - row.want) * step < noise


def tangent_forward(problem: Problem) -> np.ndarray:
    """F = J_f V at the point, as the second order's engine computes it at its first look
    (run/second_order.along_tangents, the same seeded tangents; for central differences with the offset
    that carries F's round-off); NaN where it cannot be had."""
    try:
        along = along_tangents(problem, tangents(problem))
        return np.asarray(along.forward(*problem.inputs.values()), dtype=np.float64)
    except Exception:  # noqa: BLE001 - user code: no F, no clearance
        return np.full(np.shape(problem.output), np.nan)


def ill_conditioned(row: Comparison, problems: list[Problem], looks: int = CONDITION_LOOKS) -> bool:
    """Whether a reverse-mode row's worst discrepancy is within how far the true gradient itself moves
    when every input moves by its own rounding (CONDITION_ULPS ulps, at random): there the gradient is
    determined by the point only to that width, and a method that computes it by another formula of the
    same value is not wrong. batch_norm of a constant x = 1e6: the reference's weight gradient is
    sum dz (x - mu) / sigma = 0 exactly, while TensorFlow's batch_normalization computes
    x * inv + (bias - mu * inv) and its weight gradient as sum dz x inv - sum dz mu inv, terms of
    ~3e7 whose rounding leaves 6.6e-8; moving x by 4 ulps (4e-10) moves the true gradient by ~1e-7.
    A wrong gradient (a missing term, a wrong factor) is off by far more than the rounding moves it."""
    problem = problem_of(row, problems)
    if (row.method in FORWARD_MODE or row.order != 1 or row.worst_index is None or row.got is None
            or row.want is None or row.input not in problem.inputs):
        return False  # (an order-2 row's want is H V, not the gradient this moves)
    names = list(problem.inputs)
    index = names.index(row.input)
    discrepancy = abs(row.got - row.want)
    rng = np.random.default_rng(0)
    moved = 0.0
    for _ in range(looks):
        inputs = [value * (1 + CONDITION_ULPS * np.finfo(np.float64).eps * rng.uniform(-1, 1, np.shape(value)))
                  if np.issubdtype(np.asarray(value).dtype, np.floating) else value
                  for value in problem.inputs.values()]
        try:
            there = reference_vjp(problem.forward, inputs, problem.cotangent, index)
        except Exception:  # noqa: BLE001 - user code: no answer there, no clearance either
            return False
        moved = max(moved, float(np.abs(there.value[row.worst_index] - row.want)))
    return discrepancy <= CONDITIONING * moved
