"""The detail of a failing row: the margin of every element, the point at the worst one, and
(for HTML reports) its step-size curve. Computed here, where the problem and its reference
are at hand, so that the reports only read plain arrays."""

from __future__ import annotations

import traceback

import numpy as np

from gradcheck.cases.problem import Problem
from gradcheck.compare.comparison import Comparison, element_margins
from gradcheck.compare.detail import Detail
from gradcheck.dtypes import as_float64, is_inexact
from gradcheck.engine.curve import step_curve
from gradcheck.run.references import References
from gradcheck.tolerance import Tolerance


def explain(row: Comparison, problem: Problem, references: References, gradient: np.ndarray,
            tolerance: Tolerance, *, curve: bool) -> Comparison:
    """`row` with its Detail, when it failed at an element of an input (not an error, not a pass)."""
    if row.worst_index is None or row.margin is None or row.margin <= 1.0:
        return row
    name, worst = row.input, row.worst_index
    reference = references.computed_full(name)  # a failing fast row has computed it, unless it was partial
    margins = None if reference is None else element_margins(as_float64(gradient), reference, tolerance)[0]
    detail = Detail(margins=margins, point=point_values(problem, name, worst),
                    cotangent=_cotangent_at(problem.cotangent, problem.inputs[name].shape, worst),
                    curve=_curve(problem, references, name, worst) if curve and reference is not None else None)
    return row.with_detail(detail)


def point_values(problem: Problem, name: str, worst: tuple[int, ...]) -> dict[str, float]:
    """The input's value at the worst element, and those of the inputs of the same shape there
    (for an element-wise op, the other operands of that element)."""
    shape = problem.inputs[name].shape
    values = {}
    for other, array in problem.inputs.items():
        if other == name or (array.shape == shape and is_inexact(array)):
            values[other] = _number(array[worst])
    return values


def _cotangent_at(cotangent: np.ndarray, shape: tuple[int, ...], worst: tuple[int, ...]) -> float | None:
    """The cotangent at the worst element when it has one per input element (element-wise ops), or
    when it is a single number; otherwise no single cotangent belongs to that element."""
    cotangent = np.asarray(cotangent)
    if cotangent.size == 1:
        return _number(cotangent.reshape(-1)[0])
    if cotangent.shape == shape:
        return _number(cotangent[worst])
    return None


def _number(value) -> float | complex:
    """One element as a Python number, complex where it is (never its real part alone)."""
    return complex(value) if np.iscomplexobj(value) else float(value)


def _curve(problem: Problem, references: References, name: str, worst: tuple[int, ...]):
    if np.iscomplexobj(problem.inputs[name]) or np.iscomplexobj(problem.output):
        return None  # one real curve does not describe a complex element
    element = int(np.ravel_multi_index(worst, problem.inputs[name].shape))
    reference = float(references.full(name).value[worst])
    return step_curve(problem.forward, list(problem.inputs.values()), references.index(name),
                      problem.cotangent, element, reference)


def with_trace(row: Comparison, exc: BaseException | None) -> Comparison:
    """An error row with the traceback of what raised (if anything did), for `-v`."""
    if exc is None:
        return row
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return row.with_detail(Detail(trace=trace))
