"""A case's references, input by input: decided before any method runs, computed once, shared by all.

Fast or full is decided for each input from the mode and its size before any
method is compared: an input with a published answer (expect:) is always
checked in full. A fast input also has a full reference, computed when the
first gradient fails along the directions and kept for the others: every
method's row is then the directional verdict, followed (on a failure) by the
full comparison, whichever method came first.

The forward-mode methods share one directional reference per input: J u
along a seeded tangent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.cases.problem import CaseError, Problem, round_to, stable_seed
from gradcheck.engine.directional import reference_jvp
from gradcheck.engine.estimates import Reference
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
    directional: dict[str, Directional] = field(default_factory=dict)
    _full: dict[str, Reference] = field(default_factory=dict)
    _jvp: dict[str, Reference] = field(default_factory=dict)

    def __post_init__(self):
        problem = self.problem
        for name in problem.wrt:
            if use_fast(self.mode, problem.inputs[name].size) and name not in problem.case.expect:
                phase.announce(f"the directional (fast-mode) reference for input {name}")
                self.directional[name] = directional_reference(
                    problem.forward, list(problem.inputs.values()), problem.cotangent, self.index(name))
            else:
                self.full(name)

    def index(self, name: str) -> int:
        return list(self.problem.inputs).index(name)

    def is_fast(self, name: str) -> bool:
        return name in self.directional

    def full(self, name: str) -> Reference:
        """The element-wise reference of `name`, computed the first time it is asked for."""
        if name not in self._full:
            phase.announce(f"the finite-difference reference for input {name}")
            problem = self.problem
            reference = reference_vjp(problem.forward, list(problem.inputs.values()), problem.cotangent,
                                      self.index(name))
            if not np.all(np.isfinite(reference.value)):
                raise CaseError(f"the reference for {name} is not finite: the forward is undefined near the point")
            self._full[name] = reference
        return self._full[name]

    def jvp(self, name: str) -> tuple[np.ndarray, Reference]:
        """The seeded tangent of `name` and the finite-difference J u along it."""
        tangent = seeded_tangent(self.problem, name)
        if name not in self._jvp:
            phase.announce(f"the directional reference for input {name} (forward mode)")
            problem = self.problem
            self._jvp[name] = reference_jvp(problem.forward, list(problem.inputs.values()), self.index(name), tangent)
        return tangent, self._jvp[name]
