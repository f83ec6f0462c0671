"""What the full reference of one input will cost, predicted before it runs (auto mode's choice).

    seconds  ~  FIXED_SECONDS + evaluations x (one evaluation, timed + the engine's own work per point)

One evaluation is timed, not guessed. First one forward call (twice where it
is cheap, the faster kept: a first call may pay for warming up); where that
leaves the choice open, the pilot builds the reference's own Evaluator and
baseline (reference.py starts the same way: batching decided) and times a
two-point call, batched where the forward allows it, as the reference's calls
will be (the fastest of three where cheap: one call that met a busy core or
BLAS threads waking up predicted a 1 s matmul 96 x 96 check at 49 s, and the
choice, so the report, differed between two runs of the same suite). The engine adds ENGINE_SECONDS_PER_ELEMENT per input and output
element of each point (building the point, differencing).

The evaluations follow from the groups of elements moved together
(sparsity.py): about PER_GROUP per group (8 central differences, 1 complex
step), plus 2 ceil(log2 |g|) probes to prove each group g, plus SETTLE_EVALUATIONS
(baseline, the sample of grouped elements re-done alone). Measured on the
built-in ops (matmul, conv2d, softmax, sigmoid, tanh, from 40 to 90,000
elements) the count per group is 8 to 10. A forward that is not
complex-analytic and linear can cost more (the averaging at the radius), so
the prediction is a typical cost, not a bound.

The groups are what the proof finds, and the proof is the costly part (2 log2
probes per group), so it is not run. Instead, in order of cost:

1. one group of every element (the fewest evaluations any full check needs),
   from the one timed call: where even that exceeds the budget, the prediction
   is this lower bound ("at least"), and no other forward call is spent;
2. every element alone (n groups, no proof): an upper bound ("at most"); if it
   fits the budget, nothing more is spent;
3. else the lattice's candidates (sparsity.candidate_sizes: a few batched
   probes per axis, no proof), when those probes are predicted to take at most
   PROBE_SHARE of the budget. The candidates are the groups the proof confirms
   where the Jacobian is the lattice it looks like (one for an element-wise op,
   one per column of matmul's x, k x k for a convolution); a refuted candidate
   splits, so this is then a lower bound;
4. else the upper bound stands (and says so).

The pilot thus costs at most two forward calls, or PROBE_SHARE of the budget
and a dozen calls where the budget is worth it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from gradcheck.dtypes import as_float64
from gradcheck.engine import complexview, sparsity
from gradcheck.engine.evaluator import DEFAULT_MEMORY_BYTES, Evaluator, baseline, mover
from gradcheck.engine.stencil import initial_steps

PER_GROUP = 10  # evaluations per group: 8 central differences at 4 levels, a complex step, a margin
SETTLE_EVALUATIONS = 100  # baseline and batching (9), the sample of grouped elements re-done alone (80)
FIXED_SECONDS = 0.05  # setting up a reference (tracing the forward's memory, Python) whatever its size
ENGINE_SECONDS_PER_ELEMENT = 3e-8  # per input and output element of each evaluated point (measured: 1e-8 to 1e-7)
PROBE_SHARE = 0.25  # the lattice probes may take this share of the budget
RETIME_BELOW = 10  # a forward call is timed twice (the faster kept) when it takes under budget / this
REACH_SAMPLES = 3  # sample elements per axis in sparsity's reach
ALONE = "at most: every element alone"


@dataclass(frozen=True)
class Prediction:
    """The predicted cost of one input's full reference."""

    seconds: float
    evaluations: int
    groups: int  # the groups it will move (candidates, or every element alone)
    per_evaluation: float  # seconds, timed plus the engine's share
    basis: str  # how the groups were had, in words
    pilot_seconds: float  # what predicting cost

    def seconds_for(self, evaluations: int) -> float:
        return FIXED_SECONDS + evaluations * self.per_evaluation


def full_evaluations(sizes: np.ndarray) -> int:
    """Evaluations of a full reference moving groups of these sizes, proofs included."""
    sizes = np.asarray(sizes)
    proofs = int(sum(2 * max(1, math.ceil(math.log2(s))) for s in sizes[sizes > 1]))
    return SETTLE_EVALUATIONS + PER_GROUP * len(sizes) + proofs


def element_evaluations(count: int) -> int:
    """Evaluations of a reference of `count` elements each moved alone (no proof)."""
    return SETTLE_EVALUATIONS + PER_GROUP * count


def affordable_elements(prediction: Prediction, seconds: float) -> int:
    """How many elements, moved alone, a reference can check within `seconds` (0: none)."""
    evaluations = math.floor((seconds - FIXED_SECONDS) / max(prediction.per_evaluation, 1e-12) + 1e-9)
    return max(0, (evaluations - SETTLE_EVALUATIONS) // PER_GROUP)


def probe_evaluations(shape: tuple[int, ...]) -> int:
    """A typical count of sparsity's reach probes: doubling offsets for a few samples per axis, and one
    round of multisection."""
    return sum(REACH_SAMPLES * (size.bit_length() + 2) + 16 for size in shape if size > 1)


def predict_full(forward: Callable, inputs: Sequence[np.ndarray], index: int, *,
                 budget: float, closer: bool = False) -> Prediction:
    """The predicted cost of reference_vjp(forward, inputs, _, index), spending at most a share of
    `budget` on finding out. `closer`: find the groups even where the upper bound fits the budget
    (a closer prediction for benchmarks and tests; auto mode does not need it)."""
    start = time.perf_counter()
    inputs = [as_float64(a) for a in inputs]
    if any(np.iscomplexobj(a) for a in inputs):  # the reference differentiates the real view: predict it
        with np.errstate(all="ignore"):
            form = complexview.real_form(forward, inputs, index, forward(*inputs))
        forward, inputs = (form.forward, form.inputs) if form is not None else (forward, inputs)
    x = inputs[index]
    output_shape, per_call = _timed_call(forward, inputs)
    if per_call <= budget / RETIME_BELOW:  # a first call may pay for warming up: a second is cheap here
        per_call = min(per_call, _timed_call(forward, inputs)[1])
    engine = ENGINE_SECONDS_PER_ELEMENT * (x.size + math.prod(output_shape))
    per_call += engine

    def prediction(sizes: np.ndarray, per_evaluation: float, basis: str) -> Prediction:
        count = full_evaluations(sizes)
        return Prediction(seconds=FIXED_SECONDS + count * per_evaluation, evaluations=count, groups=len(sizes),
                          per_evaluation=per_evaluation, basis=basis, pilot_seconds=time.perf_counter() - start)

    one_group = prediction(np.array([x.size]), per_call, f"at least: one forward call takes {per_call:.2g} s")
    if one_group.seconds > budget:
        return one_group  # even the cheapest full check does not fit: no more forward calls spent
    alone = prediction(np.ones(x.size, dtype=np.int64), per_call, ALONE)
    if (alone.seconds <= budget and not closer) or x.size < 2 \
            or probe_evaluations(x.shape) * per_call > PROBE_SHARE * budget:
        return alone  # it fits whatever the groups; or finding them would eat the budget
    # The reference's own start (batching decided, f(x) three times), timed per point as it will run.
    evaluate = Evaluator(forward, inputs, index, output_shape, DEFAULT_MEMORY_BYTES)
    steps = initial_steps(x)
    f0, repeats = baseline(evaluate, x, steps)
    two = np.stack([x, x])  # two points, batched where baseline found that safe: as the reference calls
    per_evaluation = _seconds(lambda: evaluate(two)) / 2
    if per_evaluation <= budget / RETIME_BELOW:  # one scheduling hiccup must not flip the choice: fastest of 3
        per_evaluation = min(per_evaluation, *(_seconds(lambda: evaluate(two)) / 2 for _ in range(2)))
    per_evaluation += engine
    alone = prediction(np.ones(x.size, dtype=np.int64), per_evaluation, ALONE)
    if (alone.seconds <= budget and not closer) or not repeats:
        return alone  # a forward that does not repeat bitwise is never grouped
    if probe_evaluations(x.shape) * per_evaluation > PROBE_SHARE * budget:
        return alone  # even finding the candidates would eat the budget: the upper bound stands
    sizes, _ = sparsity.candidate_sizes(mover(evaluate, x, steps, f0), x.shape, np.random.default_rng(x.size))
    sizes = sizes[sizes > 0]
    if len(sizes) == x.size:
        return prediction(sizes, per_evaluation, "every element alone: no outputs shared")
    return prediction(sizes, per_evaluation, f"{len(sizes):,} group{'s' if len(sizes) > 1 else ''} of elements")


def _seconds(call: Callable) -> float:
    begin = time.perf_counter()
    call()
    return time.perf_counter() - begin


def _timed_call(forward: Callable, inputs: list[np.ndarray]) -> tuple[tuple[int, ...], float]:
    """The output's shape and the seconds one call took."""
    begin = time.perf_counter()
    with np.errstate(all="ignore"):
        shape = np.shape(forward(*inputs))
    return shape, time.perf_counter() - begin
