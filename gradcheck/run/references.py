"""A case's references, input by input: decided before any method runs, computed once, shared by all.

Fast or full is decided for each input before any method is compared: by
--mode, or in auto mode by the full check's predicted cost (engine/cost.py)
against the budget (--budget, seconds per input); an input with a published
answer (expect:) is always checked in full. Auto mode's choice and its reason
(a ModeChoice) go into every row of the input.

A fast input also has a full reference, computed when the first gradient
fails along the directions and kept for the others: every method's row is
then the directional verdict, followed (on a failure) by the full comparison,
whichever method came first. In auto mode a fast input's full check did not
fit the budget, so a failure is followed by a partial one instead: the
elements that the failing directions implicate most, as many as the budget
allows (`partial`).

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
from gradcheck.engine import cost
from gradcheck.engine.directional import reference_jvp
from gradcheck.engine.estimates import OutsideDomain, Reference
from gradcheck.engine.fast import Directional, directional_reference
from gradcheck.engine.partial import partial_reference
from gradcheck.engine.reference import reference_vjp
from gradcheck.methods import DEFAULT_BUDGET, Mode, ModeChoice
from gradcheck.run import phase


def seeded_tangent(problem: Problem, name: str) -> np.ndarray:
    """A standard normal tangent for input `name`, the same in every run, in the case dtype; for a
    complex input, real and imaginary parts drawn independently."""
    rng = np.random.default_rng(stable_seed(problem.case.name, "tangent", name))
    shape = problem.inputs[name].shape
    tangent = rng.standard_normal(shape)
    if np.iscomplexobj(problem.inputs[name]):
        tangent = tangent + 1j * rng.standard_normal(shape)
    return round_to(tangent, problem.dtype)


@dataclass
class References:
    """Per input in wrt: its directional reference (fast inputs) and its full reference (on demand)."""

    problem: Problem
    mode: Mode
    step_scale: float = 1.0  # multiplies the full and forward-mode references' steps (a second, smaller look)
    budget: float = DEFAULT_BUDGET  # seconds per input: auto mode's full check must be predicted within it
    directional: dict[str, Directional] = field(default_factory=dict)
    choices: dict[str, ModeChoice] = field(default_factory=dict)  # auto mode's, per input
    predictions: dict[str, cost.Prediction] = field(default_factory=dict)
    _full: dict[str, Reference] = field(default_factory=dict)
    _partial: dict[tuple[str, bytes], Reference] = field(default_factory=dict)
    _jvp: dict[str, Reference] = field(default_factory=dict)
    _failed: dict[str, CaseError] = field(default_factory=dict)

    def __post_init__(self):
        problem = self.problem
        for name in problem.wrt:
            if self._fast(name):
                phase.announce(f"the directional (fast-mode) reference for input {name}")
                try:
                    self.directional[name] = directional_reference(
                        problem.forward, list(problem.inputs.values()), problem.cotangent, self.index(name),
                        output=problem.output)
                except Exception as exc:  # noqa: BLE001 - user code: this input's rows say why
                    self._failed[name] = _failure(name, exc)
            else:
                try:
                    self.full(name)
                except CaseError:
                    pass  # kept in _failed: this input's rows say why, the other inputs go on

    def _fast(self, name: str) -> bool:
        """Whether input `name` is checked along directions; in auto mode, the choice is kept with its reason."""
        if self.mode is not Mode.AUTO:
            return self.mode is Mode.FAST and name not in self.problem.case.expect
        if name in self.problem.case.expect:
            self.choices[name] = ModeChoice(Mode.FULL, "a published answer (expect:) is checked element-wise",
                                            None, self.budget)
            return False
        phase.announce(f"predicting the cost of the full reference for input {name}")
        problem = self.problem
        try:
            prediction = cost.predict_full(problem.forward, list(problem.inputs.values()), self.index(name),
                                           budget=self.budget)
        except Exception as exc:  # noqa: BLE001 - user code: the full reference will say what it does
            self.choices[name] = ModeChoice(Mode.FULL, f"its cost could not be predicted: {type(exc).__name__}",
                                            None, self.budget)
            return False
        self.predictions[name] = prediction
        # A full choice names no time: the rows of a run that passes stay the same from run to run
        # (a report merged from shards is the serial run's, byte for byte).
        if prediction.seconds <= self.budget:
            self.choices[name] = ModeChoice(Mode.FULL, f"predicted within the budget of {seconds(self.budget)}",
                                            None, self.budget)
            return False
        reason = (f"full check predicted {seconds(prediction.seconds)} > budget {seconds(self.budget)}; "
                  f"{prediction.basis}")
        self.choices[name] = ModeChoice(Mode.FAST, reason, prediction.seconds, self.budget)
        return True

    def full_fits(self, name: str) -> bool:
        """Whether a fast input's full reference may be computed after a failure along the directions:
        always, except in auto mode, where it was predicted not to fit the budget."""
        return self.mode is not Mode.AUTO or name in self._full or name not in self.predictions

    def partial(self, name: str, elements: np.ndarray) -> Reference:
        """The element-wise reference of `name` at the flat `elements` only (shape (len(elements),));
        a CaseError where it cannot be had."""
        key = (name, np.asarray(elements, dtype=np.intp).tobytes())
        if key not in self._partial:
            phase.announce(f"the finite-difference reference for {len(elements)} elements of input {name}")
            problem = self.problem
            try:
                reference = partial_reference(problem.forward, list(problem.inputs.values()), problem.cotangent,
                                              self.index(name), elements, step_scale=self.step_scale)
            except Exception as exc:  # user code: this row says why
                raise _failure(name, exc) from exc
            if not np.all(np.isfinite(reference.value)):
                raise CaseError(f"the reference for {name} is not finite: the forward is undefined near the point")
            self._partial[key] = reference
        return self._partial[key]

    def along(self, name: str, direction: np.ndarray) -> Directional:
        """phi's derivative along one given direction of `name` (flat, n)."""
        problem = self.problem
        return directional_reference(problem.forward, list(problem.inputs.values()), problem.cotangent,
                                     self.index(name), directions=direction[None], output=problem.output)

    def computed_full(self, name: str) -> Reference | None:
        """The full reference of `name` if it has been computed, without computing it."""
        return self._full.get(name)

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
        # The reference's own tangent where it rounded the seeded one (every move exact): J u is compared
        # along one direction.
        used = self._jvp[name].tangent
        return (tangent if used is None else used), self._jvp[name]


def seconds(value: float) -> str:
    """A duration as a row says it: "0.42 s", "3.1 s", "180 s"."""
    return f"{value:.2g} s" if value < 10 else f"{value:,.0f} s"


def _failure(name: str, exc: Exception) -> CaseError:
    """Why the reference of input `name` cannot be had, as one line that names it."""
    if isinstance(exc, OutsideDomain):
        return CaseError(f"the finite-difference reference failed: {exc.describe(name)}")
    return CaseError(f"the finite-difference reference for {name} failed: {type(exc).__name__}: {exc}")
