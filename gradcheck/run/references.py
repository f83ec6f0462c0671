"""A case's references, input by input: decided before any method runs, computed once, shared by all.

Fast or full is decided for each input from the mode and its size before any
method is compared: an input with a published answer (expect:) is always
checked in full. A fast input also has a full reference, computed when the
first gradient fails along the directions and kept for the others: every
method's row is then the directional verdict, followed (on a failure) by the
full comparison, whichever method came first.

The forward-mode methods share one directional reference per input: J u
along a seeded tangent.

Each input's reference is its own: a forward that fails near one input's
point (OutsideDomain, or any exception) makes that input's rows errors, with
the reason, and no other input's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.cases.problem import CaseError, Problem, round_to, stable_seed
from gradcheck.engine.directional import reference_jvp
from gradcheck.engine.estimates import OutsideDomain, Reference
from gradcheck.engine.fast import Directional, directional_reference
from gradcheck.engine.reference import reference_vjp
from gradcheck.methods import Mode, use_fast
from gradcheck.run import phase


def seeded_tangent(problem: Problem, name: str) -> np.ndarray:
    """A standard normal tangent for input `name`, the same in every run, in the case dtype."""
    rng = np.random.default_rng(stable_seed(problem.case.name, "tangent", name))
    return round_to(rng.standard_normal(problem.inputs[name].shape), problem.dtype)


@dataclass
class References:
    """Per input in wrt: its directional reference (fast inputs) and its full reference (on demand)."""

    problem: Problem
    mode: Mode
    step_scale: float = 1.0  # multiplies the full and forward-mode references' steps (a second, smaller look)
    directional: dict[str, Directional] = field(default_factory=dict)
    _full: dict[str, Reference] = field(default_factory=dict)
    _jvp: dict[str, Reference] = field(default_factory=dict)
    _failed: dict[str, CaseError] = field(default_factory=dict)

    def __post_init__(self):
        problem = self.problem
        for name in problem.wrt:
            if use_fast(self.mode, problem.inputs[name].size) and name not in problem.case.expect:
                phase.announce(f"the directional (fast-mode) reference for input {name}")
                try:
                    self.directional[name] = directional_reference(
                        problem.forward, list(problem.inputs.values()), problem.cotangent, self.index(name))
                except Exception as exc:  # noqa: BLE001 - user code: this input's rows say why
                    self._failed[name] = _failure(name, exc)
            else:
                try:
                    self.full(name)
                except CaseError:
                    pass  # kept in _failed: this input's rows say why, the other inputs go on

    def index(self, name: str) -> int:
        return list(self.problem.inputs).index(name)

    def is_fast(self, name: str) -> bool:
        return name in self.directional

    def full(self, name: str) -> Reference:
        """The element-wise reference of `name`, computed the first time it is asked for; a CaseError
        (the same one every time) where it cannot be had."""
        if name in self._failed:
            raise self._failed[name]
        if name not in self._full:
            phase.announce(f"the finite-difference reference for input {name}")
            problem = self.problem
            try:
                reference = reference_vjp(problem.forward, list(problem.inputs.values()), problem.cotangent,
                                          self.index(name), step_scale=self.step_scale)
            except Exception as exc:  # user code: this input's rows say why
                self._failed[name] = _failure(name, exc)
                raise self._failed[name] from exc
            if not np.all(np.isfinite(reference.value)):
                self._failed[name] = CaseError(f"the reference for {name} is not finite: the forward is undefined "
                                               "near the point")
                raise self._failed[name]
            self._full[name] = reference
        return self._full[name]

    def jvp(self, name: str) -> tuple[np.ndarray, Reference]:
        """The seeded tangent of `name` and the finite-difference J u along it."""
        tangent = seeded_tangent(self.problem, name)
        if name not in self._jvp:
            phase.announce(f"the directional reference for input {name} (forward mode)")
            problem = self.problem
            self._jvp[name] = reference_jvp(problem.forward, list(problem.inputs.values()), self.index(name), tangent,
                                            step_scale=self.step_scale)
        return tangent, self._jvp[name]


def _failure(name: str, exc: Exception) -> CaseError:
    """Why the reference of input `name` cannot be had, as one line that names it."""
    if isinstance(exc, OutsideDomain):
        return CaseError(f"the finite-difference reference failed: {exc.describe(name)}")
    return CaseError(f"the finite-difference reference for {name} failed: {type(exc).__name__}: {exc}")
