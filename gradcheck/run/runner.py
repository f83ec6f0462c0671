"""Run one case: problem -> reference -> each method's gradient -> comparisons.

The one place that catches what user code and data can throw: anything that
goes wrong inside a case becomes `error` rows for that case, and the next
case runs.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from gradcheck import backends
from gradcheck.backends.framework import installed
from gradcheck.backends.tensorflow_backend import quiet_environment
from gradcheck.cases.problem import (
    DEFAULT_MAX_ELEMENTS,
    CaseError,
    Problem,
    materialize_outputs,
)
from gradcheck.cases.schema import Case
from gradcheck.compare import fast, linearity, verdict
from gradcheck.compare.comparison import Comparison, Status, compare, comparison_for
from gradcheck.dtypes import as_float64, overridden
from gradcheck.engine.estimates import Reference
from gradcheck.engine.stencil import relative_error
from gradcheck.methods import (
    DEFAULT_BUDGET,
    EXPECT,
    FORWARD_MODE,
    FRAMEWORK_OF,
    METHODS,
    NUMERIC,
    VJP,
    Mode,
)
from gradcheck.ops.registry import UnsupportedLowering
from gradcheck.run import narrowing, phase, second_order
from gradcheck.run.detail import explain, with_trace
from gradcheck.run.references import References, seconds
from gradcheck.run.second_order import SecondOrder
from gradcheck.tolerance import EXPECT_TOLERANCE, ToleranceOverride, resolve


@dataclass(frozen=True)
class RunOptions:
    """Everything a run is configured with; None means "the case decides"."""

    methods: tuple[str, ...] | None = None
    dtype: str | None = None
    mode: Mode = Mode.AUTO
    tolerance: ToleranceOverride | None = None
    max_elements: int = DEFAULT_MAX_ELEMENTS
    device: str = "cpu"
    step_scale: float = 1.0  # multiplies the reference's steps (explore's second look at a failure)
    step_curves: bool = False  # the worst element's step-size curve on failing rows (for --html; costly)
    timeout: float | None = None  # seconds per case (--timeout): wins over the case's own timeout:
    budget: float = DEFAULT_BUDGET  # seconds per input (--budget): auto mode's full check must be predicted within it
    order: int | None = None  # 2: second derivatives too (--order): wins over the case's order:


def install_hint(method: str) -> str:
    framework = FRAMEWORK_OF[method]
    return f"{framework} is not installed (pip install 'gradcheck[{framework}]')"


def gives_something_to_check(case: Case, method: str) -> bool:
    """Whether the case has what `method` checks: a hand-written VJP, or a forward in its framework."""
    if method == VJP:
        return case.has_numpy_vjp
    return FRAMEWORK_OF.get(method) in case.frameworks


def applicable_methods(case: Case, options: RunOptions) -> list[str]:
    """The methods this case is checked by, in table order."""
    implemented = backends.implemented_methods()
    if case.methods is not None:
        chosen = [m for m in METHODS if m in case.methods]
    else:
        # A user function's forward mode runs only when asked for (methods:, --method):
        # frameworks derive it from a custom backward inconsistently (JAX refuses a
        # custom_vjp function, a torch.autograd.Function needs its own jvp).
        chosen = [NUMERIC] + [
            m for m in METHODS if m in implemented and gives_something_to_check(case, m)
            and not (case.user_code and m in FORWARD_MODE)
        ]
    if options.methods is not None:
        chosen = [m for m in chosen if m in options.methods]
    return chosen


def reported_methods(case: Case, options: RunOptions) -> list[str]:
    """The method names of this case's rows: its methods, then `expect` where the case has
    published answers and the reference they are checked against runs."""
    methods = applicable_methods(case, options)
    if case.expect and (options.methods is None or NUMERIC in options.methods):
        methods.append(EXPECT)
    return methods


def run_case(case: Case, options: RunOptions = RunOptions(),
             problems: list[Problem] | None = None) -> list[Comparison]:
    """The case's rows. `problems`: the case materialised already, at its dtype (explore, which
    builds each point's problems itself to keep the framework forwards of one case between points)."""
    quiet_environment()  # before a case's own module imports TensorFlow and its C++ logger speaks
    if overridden(case.dtype, options.dtype) != case.dtype:  # --dtype sets the precision; complex stays complex
        case = replace(case, dtype=overridden(case.dtype, options.dtype))
    rows = _run(case, reported_methods(case, options), options, problems)
    # A case that errored is red already; one that ran clean but compared nothing must not look green.
    if not case.skip and not verdict.analytic_ran(rows) and all(r.status is not Status.ERROR for r in rows):
        rows.append(comparison_for(Status.SKIP, f"nothing to compare: {_nothing_reason(case, rows, options)}",
                                   **_where(case, verdict.NOTHING, "-")))
    return apply_xfail(case, rows)


def _nothing_reason(case: Case, rows: list[Comparison], options: RunOptions) -> str:
    """Why no analytic method ran: all skipped, all filtered out, or none given."""
    if any(r.method not in verdict.NOT_ANALYTIC for r in rows):
        return "every analytic method was skipped"
    if case.methods is not None and not any(m not in verdict.NOT_ANALYTIC for m in case.methods):
        return f"its methods: ({', '.join(case.methods)}) name no analytic method"
    unfiltered = applicable_methods(case, replace(options, methods=None))
    if any(m not in verdict.NOT_ANALYTIC for m in unfiltered):
        return f"--method {' '.join(options.methods or ())} leaves none of this case's analytic methods"
    return ("the case gives no analytic gradient to check against the reference "
            "(add vjp:, or torch:, tensorflow:, jax:)")


def _where(case: Case, method: str, name: str) -> dict:
    return {"case": case.name, "file": case.file, "line": case.line, "method": method, "input": name}


def error_rows(case: Case, methods: Iterable[str], status: Status, message: str) -> list[Comparison]:
    """One row per (method, input) saying the same thing: a skip, or an error before any comparison.

    `expect` has rows only for the inputs with a published answer.
    """
    return [
        comparison_for(status, message, **_where(case, method, name))
        for method in methods
        for name in case.wrt
        if method != EXPECT or name in case.expect
    ]


def _describe(exc: BaseException) -> str:
    """An exception as one line, pointing at the innermost frame of user code."""
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "/gradcheck/" not in f.filename.replace("\\", "/")]
    where = f" (at {user[-1].filename}:{user[-1].lineno})" if user else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _raised(case: Case, methods: Iterable[str], exc: BaseException, prefix: str = "") -> list[Comparison]:
    """Error rows for user code that raised, each keeping the traceback for `-v`."""
    return [with_trace(row, exc) for row in error_rows(case, methods, Status.ERROR, prefix + _describe(exc))]


def _run(case: Case, methods: list[str], options: RunOptions, problems: list[Problem] | None) -> list[Comparison]:
    if case.skip:
        return error_rows(case, methods, Status.SKIP, case.skip)
    needed = case.reference_framework  # a framework function alone, or a module: the reference needs it
    if needed is not None and not installed(needed):
        return error_rows(case, methods, Status.SKIP, install_hint(needed))
    phase.announce("materialising the case (building the inputs, calling the forward once)")
    try:
        problems = problems or materialize_outputs(case, max_elements=options.max_elements)
    except CaseError as exc:  # its context, if any, is what the user's code raised: kept for -v
        return [with_trace(row, exc.__context__) for row in error_rows(case, methods, Status.ERROR, str(exc))]
    except Exception as exc:  # a user function that fails in an unexpected way
        return _raised(case, methods, exc)
    # A forward of several outputs: each output's rows stand alone and say which output they are.
    return [row if problem.output_name is None else replace(row, output=problem.output_name)
            for problem in problems for row in _problem_rows(problem, methods, options)]


def _problem_rows(problem: Problem, methods: list[str], options: RunOptions) -> list[Comparison]:
    case = problem.case  # its wrt resolved (a module's parameters)
    try:
        references = References(problem, options.mode, options.step_scale, budget=options.budget)
    except Exception as exc:
        return _raised(case, methods, exc, "the finite-difference reference failed: ")
    return [_with_choice(row, references) for row in _method_rows_of(problem, methods, references, options)]



def _with_choice(row: Comparison, references: References) -> Comparison:
    """A row of an input checked in auto mode says which mode ran and why (errors and skips stay as they
    are): first where it chose fast (what follows is fast mode's verdict), last where it chose full (a
    failure's diagnosis comes first). Second-order rows have references of their own."""
    choice = references.choices.get(row.input)
    if (choice is None or row.method in FORWARD_MODE or row.order != 1
            or row.status in (Status.ERROR, Status.SKIP)):
        return row
    parts = [row.message, str(choice)] if choice.mode is Mode.FULL else [str(choice), row.message]
    return replace(row, choice=choice, message="; ".join(part for part in parts if part))


def _method_rows_of(problem: Problem, methods: list[str], references: References,
                    options: RunOptions) -> list[Comparison]:
    case = problem.case
    second = (SecondOrder(problem, options.mode, options.step_scale, options.device, budget=options.budget)
              if second_order.wanted(case.order, options.order) else None)
    rows: list[Comparison] = []
    for method in methods:
        phase.announce(f"method {method}")
        if method == NUMERIC:
            rows.extend(_reference_rows(case, references))
        elif method == EXPECT:
            rows.extend(_expect_rows(case, references))
        else:
            first = _method_rows(problem, method, references, options)
            rows.extend(first)
            if second is not None:
                rows.extend(second.rows(method, first, resolve(case.dtype, options.tolerance, case.tolerance)))
    return rows


def _compare_input(references: References, name: str, gradient: np.ndarray, tolerance, where: dict) -> Comparison:
    """compare() against the full reference; a fast input's directional verdict first, then the full
    comparison if the gradient does not pass along the directions."""
    try:
        if not references.is_fast(name):
            return compare(gradient, references.full(name), tolerance, **where)
        directional = references.directional[name]
        verdict = fast.check(gradient, directional, references.problem.dtype)
        if verdict.passed:
            return fast.passed_row(verdict, directional, tolerance, **where)
        if references.full_fits(name):
            return fast.fallback_row(gradient, verdict, references.full(name), tolerance, **where)
        return _partial_check(references, name, gradient, verdict, tolerance, where)
    except CaseError as exc:
        return comparison_for(Status.ERROR, str(exc), **where)
    except Exception as exc:  # the full reference, run late, met user code that raises
        return comparison_for(Status.ERROR, f"the finite-difference reference failed: {_describe(exc)}", **where)


def _partial_check(references: References, name: str, gradient: np.ndarray, verdict: fast.Verdict, tolerance,
                   where: dict) -> Comparison:
    """Auto mode, a fast input whose full check does not fit the budget: after a failure along the
    directions, the elements they implicate most, as many as the budget allows."""
    prediction, budget = references.predictions[name], seconds(references.budget)
    why = f"the full check (predicted {seconds(prediction.seconds)}) does not fit the budget of {budget}"
    chosen = narrowing.suspects(references, name, gradient, verdict)
    if len(chosen.elements) == 0:
        return comparison_for(Status.FAIL, f"fast mode: {verdict.reason}; {why}, which leaves no element to "
                              "check element-wise (raise --budget)", **where)
    return fast.partial_row(gradient, verdict, references.directional[name], chosen.elements,
                            references.partial(name, chosen.elements), tolerance, f"{why}, so {len(chosen.elements):,} of {np.size(gradient):,} elements "
                            f"({chosen.how}) were checked element-wise", **where)


def _reference_rows(case: Case, references: References) -> list[Comparison]:
    floor = resolve(case.dtype).atol  # as in compare: relative only above the absolute floor
    rows = []
    for name in case.wrt:
        where = _where(case, NUMERIC, name)
        if references.is_fast(name):
            rows.append(fast.reference_row(references.directional[name], floor, **where))
            continue
        try:
            reference = references.full(name)
        except CaseError as exc:  # this input's reference alone failed: the others still report
            rows.append(comparison_for(Status.ERROR, str(exc), **where))
            continue
        notes = [f"full reference by {reference.method}, {reference.evaluations:,} evaluations"
                 + (" (batched)" if reference.batched else "")
                 + (f", {reference.groups} proved groups of elements moved together" if reference.groups else "")]
        if reference.kinks:
            notes.append(f"{reference.kinks} kink element(s) checked as subgradient intervals")
        notes.extend(reference.notes)
        relative = relative_error(reference.error, reference.value, floor)
        rows.append(Comparison(
            status=Status.PASS, max_abs_err=float(np.max(reference.error, initial=0.0)),
            max_rel_err=float(np.max(relative, initial=0.0)), kinks=reference.kinks,
            message="; ".join(notes), **where,
        ))
    return rows


def _method_rows(problem: Problem, method: str, references: References, options: RunOptions) -> list[Comparison]:
    case = problem.case
    if method not in backends.implemented_methods():
        return error_rows(case, [method], Status.SKIP, f"method {method!r} is not implemented yet")
    if not gives_something_to_check(case, method):
        return error_rows(case, [method], Status.ERROR, f"this case gives {method!r} nothing to check")
    backend = backends.get_backend(method)
    if not backend.available():
        return error_rows(case, [method], Status.SKIP, install_hint(method))
    task = problem.task(FRAMEWORK_OF.get(method), options.device)
    if method in FORWARD_MODE:
        return _jvp_rows(problem, method, backend, task, references, options)
    try:
        gradients = backend.gradients(task)
        scaled = backend.gradients(replace(task, cotangent=linearity.SCALE * task.cotangent))
    except (backends.BackendSkip, UnsupportedLowering) as exc:
        return error_rows(case, [method], Status.SKIP, str(exc))
    except Exception as exc:
        return _raised(case, [method], exc)
    tolerance = resolve(case.dtype, options.tolerance, case.tolerance)
    rows = []
    for name in case.wrt:
        where = _where(case, method, name)
        gradient = gradients.get(name)
        if gradient is None:
            rows.append(comparison_for(Status.ERROR, f"returned None for input {name!r}, which is in wrt",
                                       **where))
            continue
        row = _compare_input(references, name, gradient, tolerance, where)
        row = linearity.check(row, gradient, scaled.get(name), tolerance)
        rows.append(explain(row, problem, references, gradient, tolerance, curve=options.step_curves))
    return rows


def _jvp_rows(problem: Problem, method: str, backend, task, references: References,
              options: RunOptions) -> list[Comparison]:
    """Forward mode: the framework's J u against finite differences along the same tangent u.

    One seeded tangent per input in wrt; the row's worst index is an element of the output.
    """
    case = problem.case
    tolerance = resolve(case.dtype, options.tolerance, case.tolerance)
    rows = []
    for name in case.wrt:
        where = _where(case, method, name)
        try:
            tangent, reference = references.jvp(name)
        except Exception as exc:
            rows.append(comparison_for(Status.ERROR, f"the directional reference failed: {_describe(exc)}",
                                       **where))
            continue
        if not np.all(np.isfinite(reference.value)):
            rows.append(comparison_for(Status.ERROR, f"the directional reference along {name} is not "
                                       "finite: the forward is undefined near the point", **where))
            continue
        try:
            derivative = backend.jvp(task, references.index(name), tangent)
        except (backends.BackendSkip, UnsupportedLowering) as exc:
            return error_rows(case, [method], Status.SKIP, str(exc))
        except Exception as exc:
            rows.append(comparison_for(Status.ERROR, _describe(exc), **where))
            continue
        row = compare(derivative, reference, tolerance, **where)
        if row.message:  # say which quantity the index refers to
            row = row.with_status(row.status, f"J·u along a seeded tangent of {name}, by output element: "
                                  + row.message)
        rows.append(row)
    return rows


def _expect_rows(case: Case, references: References) -> list[Comparison]:
    """The reference against the case's published answer, with its own tolerance."""
    tolerance = resolve(case.dtype, case.expect_tolerance, EXPECT_TOLERANCE_OVERRIDE)
    rows = []
    for name, answer in case.expect.items():
        if name not in case.wrt:
            continue
        where = _where(case, EXPECT, name)
        try:
            reference = references.full(name)
        except CaseError as exc:
            rows.append(comparison_for(Status.ERROR, str(exc), **where))
            continue
        as_reference = Reference.exact(as_float64(np.array(answer)), reference.error)
        rows.append(compare(reference.value, as_reference, tolerance, **where))
    return rows


EXPECT_TOLERANCE_OVERRIDE = ToleranceOverride(rtol=EXPECT_TOLERANCE.rtol, atol=EXPECT_TOLERANCE.atol)


def apply_xfail(case: Case, rows: list[Comparison]) -> list[Comparison]:
    """An xfail case's failures are expected: skips marked xfail (XFAIL); its analytic passes are XPASS."""
    if not case.xfail:
        return rows
    adjusted = []
    for row in rows:
        if row.status in (Status.FAIL, Status.ERROR):
            row = replace(row.with_status(Status.SKIP, f"xfail ({case.xfail}): {row.message}"), xfail=True)
        elif row.status is Status.PASS and row.method not in verdict.NOT_ANALYTIC:
            row = replace(row.with_status(Status.PASS, f"xfail case passed ({case.xfail}); remove the xfail"),
                          xfail=True)
        adjusted.append(row)
    return adjusted
