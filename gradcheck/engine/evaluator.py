"""Evaluating the forward at many values of one input: batched when proven safe, in bounded memory.

The perturbed points are stacked along a new leading axis and sent to the
forward in one call when it broadcasts over that axis. A batched call is
trusted only after three distinct points give, batched, what they give alone:
a forward that reduces over all axes returns the wrong shape, one that
reduces over axis 0 or centres by a global mean returns the right shape with
the wrong numbers. Otherwise points go one at a time.

Chunks are sized to a memory budget that counts the forward's own
temporaries, measured once (tracemalloc sees NumPy's buffers): im2col makes a
k x k convolution allocate k^2 times its input per point.

The differences compare outputs bitwise with the unperturbed output computed
the same way (batched if they are), so `baseline` evaluates it three times and
says whether it repeats; a forward that does not (threads summing in a
different order each call) is never grouped.

Domain edges. A perturbed point where the forward raises (an Exception, not
a KeyboardInterrupt) is outside its domain: its outputs are NaN, as a
non-finite result would be, and the differences that use it are retried with
smaller steps or taken one-sided (estimates.py). A batched call that raises
is retried point by point, so that one point outside the domain does not
cost its batch. The first exception is kept (`failure`) for the message
given when no step at all stays inside the domain.
"""

from __future__ import annotations

import tracemalloc
from typing import Callable, Sequence

import numpy as np

from gradcheck.engine import seeded
from gradcheck.engine.stencil import EPS

MAX_BATCH = 256  # points per call, whatever the budget allows
DEFAULT_MEMORY_BYTES = 256 * 2**20  # for the points, outputs and the forward's temporaries of one batch
# A call's own working set (the forward's temporaries, as measured): a batch that outgrows the caches costs
# more per point than separate calls. conv2d 128 x 128 by 5 x 5 (3 MB of im2col a point) takes 1.5 ms a
# point alone or two at a time and 7.5-10 ms a point from four up; sigmoid and matmul 128 slow down past
# ~32 points (5-10 MB). Memory for the points themselves is still DEFAULT_MEMORY_BYTES.
CALL_BYTES = 2**22

# (P, n) bool masks -> (P, m) bool: the outputs that changed when the masked elements moved.
Moved = Callable[[np.ndarray], np.ndarray]


class Evaluator:
    """The forward as a function of one input, over batches of points."""

    def __init__(self, forward: Callable, inputs: Sequence[np.ndarray], index: int,
                 output_shape: tuple[int, ...], memory_bytes: int):
        self.forward, self.inputs, self.index = forward, list(inputs), index
        self.output_shape = output_shape
        in_size = max(inputs[index].size, 1)
        out_size = max(int(np.prod(output_shape)), 1)
        # Several float64 temporaries of each output live at once while differencing.
        self.memory_bytes = memory_bytes
        self.max_batch = max(1, memory_bytes // (8 * (in_size + 6 * out_size)))  # points held at once
        self.per_call = self.max_batch  # points sent in one call (decide_batching sizes it to CALL_BYTES)
        self.batched: bool | None = None if self.max_batch >= 2 else False
        self.evaluations = 0
        self.proof_evaluations = 0  # of those, the ones spent on which outputs move (mover), not on values
        self.failure: str | None = None  # the first exception raised at a perturbed point, as "Type: message"

    def call(self, x: np.ndarray, dtype=np.float64) -> np.ndarray:
        args = list(self.inputs)
        args[self.index] = x
        with np.errstate(all="ignore"):
            return np.asarray(self.forward(*args), dtype=dtype)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points: (B, *input_shape) -> outputs (B, *output_shape), in chunks of per_call; NaN outputs
        for a point where the forward raises."""
        self.evaluations += len(points)
        if not self.batched or len(points) < 2:
            return np.stack([self._point(point) for point in points])
        if len(points) <= self.per_call:  # one call: no copy of its outputs
            return self._batch(points)
        return np.concatenate([self._batch(points[s:s + self.per_call])
                               for s in range(0, len(points), self.per_call)])

    def _batch(self, points: np.ndarray) -> np.ndarray:
        try:
            return self.call(points)
        except Exception:  # noqa: BLE001 - some point is outside the domain: find which, one at a time
            return np.stack([self._point(point) for point in points])

    def _point(self, point: np.ndarray) -> np.ndarray:
        try:
            return self.call(point)
        except Exception as exc:  # noqa: BLE001 - user code: any exception marks the point outside the domain
            if self.failure is None:
                self.failure = f"{type(exc).__name__}: {exc}"
            return np.full(self.output_shape, np.nan)

    def decide_batching(self, probe_points: np.ndarray, middle: np.ndarray | None = None) -> np.ndarray | None:
        """Batch only if distinct points give, batched, what they give alone (to 4 ulps). Returns the
        outputs (P, m) at the probe points as calls from now on give them (the batched rows, or the
        separate calls'), or None where the probe did not get that far. `middle`: the outputs at
        probe_points[1] alone, where the caller has them (one call fewer)."""
        if self.batched is False:
            return None
        self.batched = False
        try:
            batch, footprint = _traced(lambda: self.call(probe_points))
        except Exception:  # noqa: BLE001 - user code that refuses a batch: separate calls
            return None
        per_point = max(1, footprint // len(probe_points))
        self.max_batch = max(2, min(self.max_batch, MAX_BATCH, self.memory_bytes // per_point))
        self.per_call = max(1, min(self.max_batch, CALL_BYTES // per_point))
        if batch.shape != (len(probe_points), *self.output_shape):
            return None
        self.evaluations += 2 * len(probe_points) - (middle is not None)
        batch = np.asarray(batch, dtype=np.float64).reshape(len(probe_points), -1)
        alone = np.stack([self._point(point) if row != 1 or middle is None else np.reshape(middle, self.output_shape)
                          for row, point in enumerate(probe_points)]).reshape(len(batch), -1)
        # np.allclose(batch[row], alone[row], rtol=4 eps, atol=4 eps max|alone[row]|, equal_nan=True), all rows at once
        scale = np.max(np.abs(alone), axis=1, initial=0.0)[:, None]
        with np.errstate(invalid="ignore"):
            close = (np.abs(batch - alone) <= 4 * EPS * (scale + np.abs(alone))) | (batch == alone)
        self.batched = bool(np.all(close | (np.isnan(batch) & np.isnan(alone))))
        return batch if self.batched else alone


def _traced(call: Callable):
    """call()'s result and the peak bytes NumPy allocated during it."""
    running = tracemalloc.is_tracing()
    if not running:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not running:
            tracemalloc.stop()
    return result, peak


def baseline(evaluate: Evaluator, x: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, bool]:
    """f(x) as the differences will see it, and whether it repeats bitwise.

    Decides batching first, on x and two points nudged by up to half a step.
    """
    evaluate.decide_batching(_probe_points(x, steps))
    outputs = evaluate(np.stack([x, x, x])).reshape(3, -1)
    repeats = all(np.array_equal(outputs[0], outputs[r], equal_nan=True) for r in (1, 2))
    return outputs[0], repeats


def probed_baseline(evaluate: Evaluator, x: np.ndarray, steps: np.ndarray,
                    at_x: np.ndarray | None = None) -> np.ndarray:
    """f(x) as the differences will see it, taken from the batching probe where there is one: a call
    of three points fewer than `baseline`, which also asks whether f(x) repeats bitwise. The full
    reference's grouping needs that answer; fast mode's directions do not (conv2d 128 x 128 by 5 x 5:
    3 ms of an input's 40). `at_x`: f(x) from a call the caller made alone (the case's output), which
    the probe then need not repeat."""
    at_x = None if at_x is None else np.asarray(at_x, dtype=np.float64)
    probed = evaluate.decide_batching(_probe_points(x, steps), middle=at_x)
    if probed is not None:
        return probed[1]
    if at_x is not None:
        return at_x.reshape(-1)
    return evaluate(x[None]).reshape(-1)


def _probe_points(x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """x between x - d and x + d, d up to half a step: distinct, and each within its radius. d is drawn
    with the steps' jitter (seeded.jitter): no generator of its own."""
    nudge = (seeded.jitter(x.size).reshape(x.shape) - 0.5) * steps.reshape(x.shape)  # in [-0.5, 0.5) steps
    return np.stack([x - nudge, x, x + nudge])


def mover(evaluate: Evaluator, x: np.ndarray, steps: np.ndarray, f0: np.ndarray,
          moves: Sequence[float] = (1.0,)) -> Moved:
    """Which outputs change, bitwise, when the masked elements move by each multiple in `moves` of their step.

    An output counts as moved if any of the moves changes it.
    """
    flat = x.reshape(-1)
    per_chunk = max(1, evaluate.max_batch // len(moves))

    def moved(masks: np.ndarray) -> np.ndarray:
        answer = np.zeros((len(masks), f0.size), dtype=bool)
        for s in range(0, len(masks), per_chunk):
            chunk = masks[s:s + per_chunk]
            points = np.stack([np.where(chunk, flat + m * steps, flat) for m in moves], axis=1)
            outputs = evaluate(points.reshape(-1, *x.shape)).reshape(len(chunk), len(moves), -1)
            evaluate.proof_evaluations += len(chunk) * len(moves)
            answer[s:s + len(chunk)] = np.any(outputs != f0, axis=1)
        return answer

    return moved
