"""Search one case's inputs for a point where a gradient fails, and shrink it (Hypothesis `find`).

At each point the check is the same as `gradcheck run`'s: the reference, every
method, the tolerance rule. A point counts as a failure only when a method's
row FAILS with a converged reference and a margin of at least BUG_MARGIN (a
real bug, in the diagnosis's words). Everything else is no alarm: a forward
that raises or is not finite there is outside the domain; a reference that
cannot converge there (overflow, cancellation) is "unverifiable here"; a
row just outside the tolerance at an extreme magnitude is rounding, not a bug.

Hypothesis shrinks the failing point it finds to the simplest one that still
fails: the fewest non-trivial elements, the smallest magnitudes. Shapes stay
the case's own.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from gradcheck.cases.problem import Problem, materialize_outputs
from gradcheck.cases.schema import Case, InputSpec
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.diagnosis import BUG_MARGIN
from gradcheck.explore.strategies import arrays
from gradcheck.methods import EXPECT, NUMERIC
from gradcheck.ops import OPS
from gradcheck.run.runner import RunOptions, run_case


@dataclass
class Tally:
    """What the search met, for the report."""

    examples: int = 0
    outside_domain: int = 0
    unverifiable: int = 0
    out_of_time: bool = False


@dataclass(frozen=True)
class Finding:
    """A shrunk failing point of one case, and the check's rows there."""

    case: Case  # the case with its inputs and cotangent as literals at the point
    inputs: dict[str, np.ndarray]  # the searched (wrt) inputs there
    point: dict[str, np.ndarray]  # every input there
    cotangent: np.ndarray
    rows: tuple[Comparison, ...]


@dataclass(frozen=True)
class Exploration:
    case: Case
    finding: Finding | None
    tally: Tally = field(default_factory=Tally)


def support(case: Case, spec: InputSpec) -> tuple[float, float]:
    """Where the input's function is defined: `support:`, else the generator's range (uniform), else the
    whole line (narrowed to x >= 0 for a built-in op defined on positive inputs only)."""
    generator = spec.generator
    declared = getattr(generator, "support", None)
    if declared is not None:
        low, high = declared
        return (-math.inf if low is None else float(low), math.inf if high is None else float(high))
    if generator is not None and generator.dist == "uniform":
        args = dict(generator.args)
        return float(args["low"]), float(args["high"])
    if case.op is not None and OPS[case.op].domain == "positive":
        return 0.0, math.inf
    return -math.inf, math.inf


def at_point(case: Case, inputs: dict[str, np.ndarray], cotangent: np.ndarray) -> Case:
    """The case with `inputs` (and every other input and the cotangent) written as literals."""
    specs = tuple(InputSpec(name=s.name, line=s.line, literal=np.asarray(inputs[s.name]).tolist())
                  for s in case.inputs)
    return replace(case, inputs=specs, cotangent=InputSpec(name="cotangent", line=case.line_of("cotangent"),
                                                           literal=cotangent.tolist()), expect={})


def is_bug(row: Comparison) -> bool:
    """A failing row of an analytic method, far outside the allowance, against a converged reference."""
    return (row.status is Status.FAIL and row.method not in (NUMERIC, EXPECT)
            and row.margin is not None and row.margin >= BUG_MARGIN
            and "did not converge" not in row.message and "uncertain" not in row.message)


class SharedForwards:
    """Each framework's forward of a case, made once and handed to every point's problems: the
    forwards do not depend on the point, and JAX compiles a jitted forward once per function
    object, so a fresh one at each point would be compiled again (~0.3 s a call) at every point."""

    def __init__(self, problems: list[Problem]):
        self._factories = [dict(p.natives or {}) for p in problems]
        self._made: dict[tuple[int, str, int], object] = {}

    def _factory(self, output: int, framework: str):
        def native(module):
            key = (output, framework, id(module))
            if key not in self._made:
                self._made[key] = self._factories[output][framework](module)
            return self._made[key]
        return native

    def onto(self, problems: list[Problem]) -> list[Problem]:
        return [replace(p, natives={f: self._factory(i, f) for f in self._factories[i]})
                if i < len(self._factories) and p.natives else p for i, p in enumerate(problems)]


def explore_case(case: Case, *, examples: int = 100, seed: int = 0, max_seconds: float = 60.0,
                 methods: tuple[str, ...] | None = None) -> Exploration:
    """Search `case`'s wrt inputs over their supports; the shrunk failing point, or None."""
    base_problems = materialize_outputs(case)
    base, shared = base_problems[0], SharedForwards(base_problems)
    options = RunOptions(methods=methods)
    second_look = RunOptions(methods=methods, step_scale=2.0**-16)
    tally, start = Tally(), time.monotonic()
    strategy = st.fixed_dictionaries({
        spec.name: arrays(base.inputs[spec.name].shape, *support(case, spec))
        for spec in case.inputs if spec.name in case.wrt
    })

    def rows_at(drawn: dict[str, np.ndarray]) -> list[Comparison] | None:
        located = at_point(case, {**base.inputs, **drawn}, base.cotangent)
        try:
            problems = shared.onto(materialize_outputs(located))
        except Exception:  # the forward raises or is not finite here: outside the domain
            tally.outside_domain += 1
            return None
        rows = run_case(located, options, problems)
        if any(r.status is Status.ERROR and r.method == NUMERIC for r in rows) or all(
                r.status is Status.ERROR for r in rows):
            tally.outside_domain += 1
            return None
        return rows

    verdicts: dict[bytes, bool] = {}  # Hypothesis replays a failure: the same point must get the same answer

    def fails(drawn: dict[str, np.ndarray]) -> bool:
        key = b"".join(np.ascontiguousarray(drawn[name]).tobytes() for name in sorted(drawn))
        if key not in verdicts:
            verdicts[key] = judge(drawn)
        return verdicts[key]

    def judge(drawn: dict[str, np.ndarray]) -> bool:
        if time.monotonic() - start > max_seconds:
            tally.out_of_time = True
            return False
        tally.examples += 1
        rows = rows_at(drawn)
        if rows is None:
            return False
        if any(r.status is Status.FAIL and not is_bug(r) and r.method not in (NUMERIC, EXPECT) for r in rows):
            tally.unverifiable += 1
        if not any(is_bug(r) for r in rows):
            return False
        # A second look with steps 2^16 times smaller, well under any oscillation the first steps may
        # have matched (sin x / x at x = 1e5): where the gradient then passes, the first reference was
        # aliased, not the gradient wrong. A second look that is merely noisier confirms nothing away.
        located = at_point(case, {**base.inputs, **drawn}, base.cotangent)
        again = run_case(located, second_look, shared.onto(materialize_outputs(located)))
        bugs = {(r.method, r.input) for r in rows if is_bug(r)}
        if all(r.status is Status.PASS for r in again if (r.method, r.input) in bugs):
            tally.unverifiable += 1
            return False
        return True

    search = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                      phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    try:
        shrunk = find(strategy, fails, settings=search, random=random.Random(seed))
    except (NoSuchExample, Unsatisfiable):
        return Exploration(case, None, tally)
    point = {**base.inputs, **shrunk}
    located = at_point(case, point, base.cotangent)
    finding = Finding(located, shrunk, point, base.cotangent, tuple(run_case(located, options)))
    return Exploration(case, finding, tally)
