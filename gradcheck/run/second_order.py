"""order: 2 — the second derivative of each method whose backward is itself differentiable.

Every input in wrt moves along its own seeded tangent v (V = all of them at once:
engine/hessian.py). For each reverse-mode method (torch, tensorflow, jax; `vjp` where the
case gives `hvp:`), its second order a_i = ∇_{x_i} <V, VJP(x, dz)> is compared, input by
input, with the derivative of the method's own VJP along V and with the engine's Hessian-vector
product of φ (compare/second_order.py judges the pair). The backward is linear in dz, so a
is checked once more with SCALE·dz, as the first order is (compare/linearity.py).

The engine's H V is computed once per problem, when the first method needs it, as the
first-order references (run/references.py, full or fast by the same mode) of the forward
F = J_f V; the derivative of a method's own VJP costs 9 calls of that VJP.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradcheck import backends
from gradcheck.cases.imports import resolve_import
from gradcheck.cases.problem import CaseError, Problem, stable_seed
from gradcheck.compare import fast, linearity
from gradcheck.compare.comparison import Comparison, Status, compare, comparison_for
from gradcheck.compare.diagnosis import UNCONVERGED
from gradcheck.compare.second_order import second_order_row
from gradcheck.engine.hessian import (
    derivative_along,
    directional_forward,
    seeded_tangent,
    step_along,
    with_truncation,
)
from gradcheck.methods import DEFAULT_BUDGET, FRAMEWORK_OF, REVERSE_MODE, VJP
from gradcheck.ops.registry import UnsupportedLowering
from gradcheck.run import phase
from gradcheck.run.references import References
from gradcheck.tolerance import Tolerance

SECOND_ORDER_METHODS = (VJP, *REVERSE_MODE)


def wanted(case_order: int, run_order: int | None) -> bool:
    """Whether second derivatives are checked: the run's --order wins over the case's order:."""
    return (run_order if run_order is not None else case_order) == 2


def tangents(problem: Problem) -> dict[str, np.ndarray]:
    """The seeded tangent V of each input in wrt: one per case and input, so every run (and explore,
    rebuilding F = J_f V) moves along the same one."""
    return {name: seeded_tangent(problem.inputs[name], stable_seed(problem.case.name, "second order", name))
            for name in problem.wrt}


def along_tangents(problem: Problem, moves: dict[str, np.ndarray], step_scale: float = 1.0):
    """F = J_f V by engine/hessian.directional_forward along the tangents `moves` (tangents()), at the step
    along them times `step_scale`: the forward whose reference VJPs with dz are the engine's H V."""
    inputs = problem.inputs
    return directional_forward(problem.forward, list(inputs.values()), [moves.get(name) for name in inputs],
                               step_along(inputs, moves) * step_scale)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _before_any_comparison(row: Comparison) -> bool:
    return row.status is Status.SKIP or (row.status is Status.ERROR and row.max_abs_err is None)


class SecondOrder:
    """The second-order rows of one problem, method by method; the engine's H V shared by all."""

    def __init__(self, problem: Problem, mode, step_scale: float = 1.0, device: str = "cpu",
                 budget: float = DEFAULT_BUDGET):
        self.problem, self.mode, self.step_scale, self.device = problem, mode, step_scale, device
        self.budget = budget  # auto mode's seconds per input, for the H V reference as for the first order
        self.tangents = tangents(problem)
        self._engine: References | None = None
        self._truncation = 0.0
        self._engine_failure: str | None = None

    def _where(self, method: str, name: str) -> dict:
        case = self.problem.case
        return {"case": case.name, "file": case.file, "line": case.line, "method": method, "input": name,
                "order": 2}

    def _rows(self, method: str, status: Status, message: str) -> list[Comparison]:
        return [comparison_for(status, message, **self._where(method, name)) for name in self.problem.wrt]

    def engine(self) -> References | None:
        """The references of F = J_f V: their VJPs with dz are H V, input by input (None: they failed)."""
        if self._engine is None and self._engine_failure is None:
            problem = self.problem
            phase.announce("the Hessian-vector product reference (order 2)")
            try:
                along = along_tangents(problem, self.tangents, self.step_scale)
                self._truncation = along.truncation
                if not along.truncation <= UNCONVERGED:
                    # F by central differences that did not converge: its truncation is added to each H V in
                    # proportion to it, so an H V of 0 would claim 0 +- 0 from a garbage F. expr-order2 at
                    # x = (0, 0, -562341), y = 0: the step along V moves x[1] by 200, and e^200 gives F a
                    # relative truncation of 64; at x = (0, 0, -1e6) by 2000: F overflows, truncation inf.
                    # H V at y[2] was "0 +- 0" where it is 2 tanh(x[2]) v = 0.00233. No reference here.
                    raise ValueError(f"the directional forward F = J_f V did not converge at the step along the "
                                     f"tangent (relative truncation {along.truncation:.2g}: an overflow or a "
                                     "saturation there)")
                self._engine = References(replace(problem, forward=along.forward), self.mode, self.step_scale,
                                          budget=self.budget)
            except Exception as exc:  # noqa: BLE001 - user code: the rows say why
                self._engine_failure = _describe(exc)
        return self._engine

    def _numpy_hvp(self):
        case = self.problem.case
        if case.hvp is None:
            return None
        if self.problem.output_name is not None:
            raise CaseError("'hvp' takes the cotangent of a single output; this forward returns several")
        hvp, params = resolve_import(case.hvp, case.folder), dict(case.params)
        return lambda *arguments: hvp(*arguments, **params)

    def rows(self, method: str, first_rows: list[Comparison], tolerance: Tolerance) -> list[Comparison]:
        """The (2nd) rows of `method`: none for a method without a second order, or one whose first order
        never got to a comparison (a skip, or an error before it)."""
        if method not in SECOND_ORDER_METHODS or (method == VJP and self.problem.case.hvp is None):
            return []
        if first_rows and all(_before_any_comparison(row) for row in first_rows):
            return []
        if any(np.iscomplexobj(value) for value in self.problem.inputs.values()) or np.iscomplexobj(
                self.problem.output):
            return self._rows(method, Status.SKIP, "second order of complex values is not supported yet: "
                              "the first order is checked")
        phase.announce(f"method {method}, second order")
        backend = backends.get_backend(method)
        task = self.problem.task(FRAMEWORK_OF.get(method), self.device)
        try:
            task = replace(task, numpy_hvp=self._numpy_hvp())
            got = backend.second_order(task, self.tangents)
            scaled = backend.second_order(replace(task, cotangent=linearity.SCALE * task.cotangent), self.tangents)
        except (backends.BackendSkip, UnsupportedLowering) as exc:
            return self._rows(method, Status.SKIP, str(exc))
        except CaseError as exc:
            return self._rows(method, Status.ERROR, str(exc))
        except Exception as exc:  # noqa: BLE001 - user code
            return self._rows(method, Status.ERROR, _describe(exc))
        own = self._own(backend, task)
        if isinstance(own, str):
            return self._rows(method, Status.ERROR, own)
        first = {row.input: row for row in first_rows}
        rows = []
        for name in self.problem.wrt:
            where = self._where(method, name)
            if got.get(name) is None:
                rows.append(comparison_for(Status.ERROR, f"its second order returned None for input {name!r}",
                                           **where))
                continue
            value = got[name]
            row = second_order_row(value, compare(value, own[name], tolerance, **where),
                                   self._against_engine(name, value, tolerance, where), first.get(name))
            rows.append(linearity.check(row, value, scaled.get(name), tolerance))
        return rows

    def _own(self, backend, task) -> dict | str:
        """The derivative of the method's own VJP along V (a message where it cannot be had).

        The VJP runs in float64 whatever the case dtype: the same code, but differences of a float32
        VJP at points a float32 input cannot even hold (x + tv rounds) measure its rounding, not its slope.
        """
        names, task = task.names, replace(task, dtype="float64")

        def vjp_at(moved: dict) -> dict:
            gradients = backend.gradients(replace(task, inputs=tuple(moved[name] for name in names)))
            # A gradient that is None does not change along V: its derivative is zero.
            return {name: np.zeros(np.shape(moved[name])) if gradients.get(name) is None else gradients[name]
                    for name in self.tangents}
        try:
            found = derivative_along(vjp_at, dict(self.problem.inputs), self.tangents, self.step_scale)
        except Exception as exc:  # noqa: BLE001 - user code
            return f"the derivative of its own VJP along the tangent failed: {_describe(exc)}"
        if not all(np.all(np.isfinite(r.value)) for r in found.values()):
            return "the derivative of its own VJP along the tangent is not finite: the VJP is undefined near the point"
        return found

    def _against_engine(self, name: str, got: np.ndarray, tolerance: Tolerance, where: dict) -> Comparison:
        """`got` against the engine's H V for input `name`: along directions for a fast input, else element-wise."""
        engine = self.engine()
        if engine is None:
            return comparison_for(Status.ERROR, self._engine_failure or "", **where)
        try:
            if not engine.is_fast(name):
                return compare(got, with_truncation(engine.full(name), self._truncation), tolerance, **where)
            verdict = fast.check(got, engine.directional[name], self.problem.dtype)
            if verdict.passed:
                return fast.passed_row(verdict, engine.directional[name], tolerance, **where)
            return fast.fallback_row(got, verdict, engine.full(name), tolerance, **where)
        except Exception as exc:  # noqa: BLE001 - a CaseError from References, or user code run late
            return comparison_for(Status.ERROR, str(exc) if isinstance(exc, CaseError) else _describe(exc), **where)
