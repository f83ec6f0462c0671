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
import sys
import time
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from gradcheck.cases.problem import (
    CaseError,
    Problem,
    call_forward,
    materialize_outputs,
    round_to,
)
from gradcheck.cases.schema import Case, InputSpec
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.diagnosis import BUG_MARGIN
from gradcheck.explore.rounding import below_resolution, ill_conditioned
from gradcheck.explore.strategies import arrays
from gradcheck.methods import EXPECT, NUMERIC
from gradcheck.ops import OPS
from gradcheck.run.runner import RunOptions, run_case

SECOND_LOOKS = (2.0**-16, 2.0**-24, 2.0**-32)  # step scales of the looks again at a point that seems to fail


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
    """The case with `inputs` (and every other input and the cotangent) written as literals (a pytree
    input, whose leaves are named by dotted path, keeps its spec)."""
    specs = tuple(InputSpec(name=s.name, line=s.line, literal=np.asarray(inputs[s.name]).tolist())
                  if s.name in inputs else s for s in case.inputs)
    return replace(case, inputs=specs, cotangent=InputSpec(name="cotangent", line=case.line_of("cotangent"),
                                                           literal=cotangent.tolist()), expect={})


def is_bug(row: Comparison) -> bool:
    """A failing row of an analytic method, far outside the allowance, against a converged reference."""
    return (row.status is Status.FAIL and row.method not in (NUMERIC, EXPECT)
            and row.margin is not None and row.margin >= BUG_MARGIN
            and "did not converge" not in row.message and "uncertain" not in row.message)


def row_key(row: Comparison) -> tuple:
    """What a bug, and the look that settles it, are: a method's row for one input, output and order. (By
    method and input alone, a passing first order settled its own failing second order: a backward of
    detached tensors, right at order 1 and zero at order 2, was never found.)"""
    return row.method, row.input, row.output, row.order


def shared_forwards(problems: list[Problem]) -> list[Problem]:
    """The problems with each framework's forward made once and kept: the forwards do not depend on
    the point, and JAX compiles a jitted forward once per function object, so a fresh one at each
    point would be compiled again (~0.3 s a call) at every point."""
    made: dict[tuple[int, str, int], object] = {}

    def kept(output: int, framework: str, factory):
        def native(module):
            key = (output, framework, id(module))
            if key not in made:
                made[key] = factory(module)
            return made[key]
        return native
    return [replace(p, natives={f: kept(i, f, factory) for f, factory in p.natives.items()}) if p.natives else p
            for i, p in enumerate(problems)]


def problems_at(base: list[Problem], drawn: dict[str, np.ndarray]) -> list[Problem]:
    """The case's problems at another point: the drawn leaves (rounded through the case dtype), every
    other leaf, cotangent and forward as at the case's own point, each output evaluated again; a
    forward that is not finite there raises CaseError. Published answers (expect:) do not hold there."""
    case = base[0].case
    inputs = {**base[0].inputs, **{name: round_to(value, case.dtype) for name, value in drawn.items()}}
    problems = []
    for problem in base:
        output = call_forward(problem.forward, list(inputs.values()))
        if output.shape != problem.output.shape or not np.all(np.isfinite(output)):
            raise CaseError("the forward is not finite here")
        problems.append(replace(problem, case=replace(problem.case, expect={}), inputs=inputs, output=output))
    return problems


def settled(row: Comparison) -> bool:
    """At a second look: the row passes, or misses by less than BUG_MARGIN against a converged
    reference. Either contradicts a first look's converged reference that put the same method at the
    same point BUG_MARGIN or more away: that reference was aliased (an oscillation or a saturation
    its steps straddled). A look whose reference is uncertain settles nothing: its noise can hide a
    bug. (attention-cross, |q| = 7e5 against equal keys: J u along k is 4e8, the first look's steps
    saturated the softmax and gave 1.7e-168 +- 1.7e-168; 2^16 times smaller, the frameworks' J u is
    within 3.7 times the allowance of a converged reference, 5.8e-7 relative.)"""
    if row.status is Status.PASS:
        return True
    return (row.status is Status.FAIL and row.margin is not None and row.margin < BUG_MARGIN
            and "did not converge" not in row.message and "uncertain" not in row.message)


class OneThread:
    """torch's intra-op threads held at one while a case is explored, and given back after.

    explore checks thousands of small points, each a few framework calls on a few hundred elements:
    there torch's thread pool only waits on itself (a 2 x 3 x 7 x 7 conv2d and its backward: 34 ms
    with two threads on a loaded 2-CPU machine, 0.8 ms with one). torch is imported by the first
    point's torch row, so the count is set at each point until torch is there. Threads change no
    check: at most the last bits of a sum, far inside any tolerance."""

    def __init__(self):
        self.saved: int | None = None

    def hold(self) -> None:
        torch = sys.modules.get("torch")
        if self.saved is None and torch is not None and hasattr(torch, "set_num_threads"):
            self.saved = torch.get_num_threads()
            torch.set_num_threads(1)

    def release(self) -> None:
        if self.saved is not None:
            sys.modules["torch"].set_num_threads(self.saved)
            self.saved = None


def explore_case(case: Case, *, examples: int = 100, seed: int = 0, max_seconds: float = 60.0,
                 methods: tuple[str, ...] | None = None) -> Exploration:
    """Search `case`'s wrt inputs over their supports; the shrunk failing point, or None."""
    base = shared_forwards(materialize_outputs(case))
    resolved = replace(base[0].case, expect={})  # wrt resolved (a module's parameters), as run sees it
    options = RunOptions(methods=methods)
    second_looks = [RunOptions(methods=methods, step_scale=scale) for scale in SECOND_LOOKS]
    # The budget runs from the end of the first point: its framework imports (TensorFlow: ~20 s on a
    # loaded machine) are the process's cost, once, not the case's.
    tally, clock = Tally(), {}
    # The case's own inputs in wrt, by leaf (a pytree's leaves); a module's parameters stay as built.
    strategy = st.fixed_dictionaries({
        path: arrays(base[0].inputs[path].shape, *support(case, spec),
                     dist=getattr(spec.generator, "dist", None) if getattr(spec.generator, "support", None) is None
                     else None, complex_values=bool(np.iscomplexobj(base[0].inputs[path])))
        for path, spec in case.leaf_specs if path in resolved.wrt
    })

    threads = OneThread()

    def check_at(drawn: dict[str, np.ndarray], run_options: RunOptions = options):
        """The (method, input) pairs whose rows are bugs at the point, and those that pass; None
        outside the domain."""
        threads.hold()
        try:
            problems = problems_at(base, drawn)
        except Exception:  # noqa: BLE001 - user code: the forward raises or is not finite here: outside the domain
            tally.outside_domain += 1
            return None
        rows = run_case(resolved, run_options, problems)
        if any(r.status is Status.ERROR and r.method == NUMERIC for r in rows) or all(
                r.status is Status.ERROR for r in rows):
            tally.outside_domain += 1
            return None
        candidates = [r for r in rows if is_bug(r) and not below_resolution(r, problems)]
        bugs = {row_key(r) for r in candidates}
        unclear = any(r.status is Status.FAIL and r.method not in (NUMERIC, EXPECT) for r in rows) and not bugs
        return bugs, {row_key(r) for r in rows if settled(r)}, unclear, (candidates, problems)

    verdicts: dict[bytes, bool] = {}  # Hypothesis replays a failure: the same point must get the same answer

    def fails(drawn: dict[str, np.ndarray]) -> bool:
        key = b"".join(np.ascontiguousarray(drawn[name]).tobytes() for name in sorted(drawn))
        if key not in verdicts:
            verdicts[key] = judge(drawn)
        return verdicts[key]

    def judge(drawn: dict[str, np.ndarray]) -> bool:
        if "start" in clock and time.monotonic() - clock["start"] > max_seconds:
            tally.out_of_time = True
            return False
        tally.examples += 1
        checked = check_at(drawn)
        clock.setdefault("start", time.monotonic())
        if checked is None:
            return False
        bugs, _, unclear, (candidates, problems) = checked
        if not bugs:
            tally.unverifiable += unclear
            return False
        # Second looks with steps 2^16, 2^24 and 2^32 times smaller, well under any oscillation the first
        # steps may have matched (sin x / x at x = 1e5), or a saturation they straddled (a softmax of
        # scores ~1e11 is one-hot at any step over ~1e-9, and its differences there are 0 +- 0):
        # a gradient that then passes, or misses by less than BUG_MARGIN against a converged reference
        # (settled), was judged against an aliased reference, not wrong. A look that is merely noisier
        # (rounding, at the smallest steps) confirms nothing away. The middle look serves softmaxes of
        # scores ~1e5 (attention with |q| = 1.8e5): 2^-16 still straddles their curvature (1e-6 relative,
        # not converged), 2^-32 drowns in the scores' rounding (26%); 2^-24 passes.
        cleared: set = set()
        for look in second_looks:
            again = check_at(drawn, look)
            cleared |= again[1] if again is not None else set()
            if bugs <= cleared:
                tally.unverifiable += 1
                return False
        # Last (it costs two references per row, and an aliased reference moves no more than the
        # gradient under a few ulps): what is left may be rounding at an ill-conditioned point.
        cleared |= {row_key(r) for r in candidates if row_key(r) not in cleared and ill_conditioned(r, problems)}
        if bugs <= cleared:
            tally.unverifiable += 1
            return False
        return True

    search = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                      phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    try:
        try:
            shrunk = find(strategy, fails, settings=search, random=random.Random(seed))
        except (NoSuchExample, Unsatisfiable):
            return Exploration(case, None, tally)
        problems = problems_at(base, shrunk)
        point = dict(problems[0].inputs)
        threads.hold()
        finding = Finding(at_point(case, point, base[0].cotangent), shrunk, point, base[0].cotangent,
                          tuple(run_case(resolved, options, problems)))
        return Exploration(case, finding, tally)
    finally:
        threads.release()
