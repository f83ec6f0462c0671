"""Batched evaluation: how many points go to one call, sized from the forward's measured temporaries."""

import numpy as np

from gradcheck.engine import evaluator
from gradcheck.engine.reference import reference_vjp

RNG = np.random.default_rng(5)


def recording(temporary_per_point: int):
    """sin(x), batched over leading axes, holding `temporary_per_point` float64s per point meanwhile;
    records the leading shape of every call."""
    calls = []

    def forward(x):
        calls.append(x.shape[:-1])
        points = int(np.prod(x.shape[:-1], dtype=np.int64))
        scratch = np.ones((points, temporary_per_point))  # the forward's own working set, as im2col's
        return np.sin(x) + 0.0 * scratch[0, 0]

    return forward, calls


def test_a_forward_with_large_temporaries_gets_few_points_per_call():
    """2 MiB of temporaries a point (262,144 float64s): CALL_BYTES (4 MiB) holds at most 2 points a call;
    the values are those of separate calls."""
    forward, calls = recording(2**18)
    x, dz = RNG.normal(size=64), RNG.normal(size=64)
    reference = reference_vjp(forward, [x], dz, 0)
    assert reference.batched
    assert 1 <= max(int(np.prod(shape)) for shape in calls[3:]) <= evaluator.CALL_BYTES // 2**21
    assert np.max(np.abs(reference.value - dz * np.cos(x))) <= 1e-10 * np.max(np.abs(dz))


def test_a_forward_with_small_temporaries_gets_many_points_per_call():
    """64 float64s a point: thousands would fit in CALL_BYTES, so the memory budget and MAX_BATCH decide."""
    forward, calls = recording(64)
    x, dz = RNG.normal(size=64), RNG.normal(size=64)
    reference = reference_vjp(forward, [x], dz, 0)
    assert reference.batched
    assert max(int(np.prod(shape)) for shape in calls) > 16


def probe(forward, x):
    """The batching decision for `forward` at x, on x and two points beside it."""
    evaluate = evaluator.Evaluator(forward, [x], 0, np.shape(forward(x)), evaluator.DEFAULT_MEMORY_BYTES)
    evaluate.decide_batching(np.stack([x + 1e-3, x, x - 1e-3]))
    return evaluate


def test_batched_calls_equal_to_separate_ones_up_to_nan_and_inf_are_trusted():
    """log(x) at x = (0, -1, 2): -inf and NaN in the same places batched and alone count as equal."""
    x = np.array([0.0, -1.0, 2.0])
    with np.errstate(all="ignore"):
        assert probe(lambda v: np.log(np.maximum(v, 0.0)) + np.sqrt(v - 2 * (v < 0)), x).batched is True


def test_batched_calls_off_by_more_than_their_allowance_are_not_trusted():
    """A forward that adds 16 ulps of its output when called on a batch (the allowance is 4 eps times the
    element plus 4 eps times the largest, at most 8 ulps): separate calls must be used, and the
    evaluations spent on the proof are counted. One ulp is within it."""
    x = np.array([1.0, 2.0, 3.0])

    def forward(v):
        out = np.exp(v)
        return out * (1 + 16 * np.finfo(float).eps) if v.ndim > 1 else out

    evaluate = probe(forward, x)
    assert evaluate.batched is False and evaluate.evaluations == 6
    assert probe(lambda v: np.exp(v) * (1 + np.finfo(float).eps) ** (v.ndim > 1), x).batched is True


def test_the_probed_baseline_is_f_at_x_from_the_probe_with_three_evaluations_fewer():
    """Fast mode's f(x): the batching probe's middle row (batched where batching is trusted, else the
    separate call's), the same bits as `baseline`'s, three evaluations fewer; a forward that cannot be
    batched (a sum over every axis) gets it from a call of its own, two fewer."""
    x = RNG.normal(size=(4, 5))
    steps = np.full(x.size, 1e-3)
    for forward, batched in ((np.tanh, True), (lambda v: np.array([np.sum(v**2)]), False)):
        fresh = [evaluator.Evaluator(forward, [x], 0, np.shape(forward(x)), evaluator.DEFAULT_MEMORY_BYTES)
                 for _ in range(2)]
        f0, _ = evaluator.baseline(fresh[0], x, steps)
        probed = evaluator.probed_baseline(fresh[1], x, steps)
        assert fresh[1].batched is batched and np.array_equal(probed, f0)
        assert np.array_equal(probed, np.ravel(forward(x)))
        # batched: 6 probe evaluations, then baseline's x, x, x; unbatched: x three times against once
        assert fresh[0].evaluations - fresh[1].evaluations == (3 if batched else 2)


def test_a_probed_baseline_given_f_at_x_takes_it_for_the_middle_point_alone():
    """The case's own f(x) stands in for the probe's separate call at x: the same f0, batched or not,
    one evaluation fewer (and none at all for x where batching is refused); a forward that adds 16 ulps
    when batched is still caught on the two nudged points."""
    x = RNG.normal(size=(4, 5))
    steps = np.full(x.size, 1e-3)

    def off_when_batched(v):
        return np.tanh(v) * (1 + 16 * np.finfo(float).eps) if v.ndim > 2 else np.tanh(v)

    for forward, batched in ((np.tanh, True), (lambda v: np.array([np.sum(v**2)]), False), (off_when_batched, False)):
        fresh = [evaluator.Evaluator(forward, [x], 0, np.shape(forward(x)), evaluator.DEFAULT_MEMORY_BYTES)
                 for _ in range(2)]
        plain = evaluator.probed_baseline(fresh[0], x, steps)
        given = evaluator.probed_baseline(fresh[1], x, steps, at_x=forward(x))
        assert fresh[1].batched is batched and np.array_equal(given, plain)
        assert fresh[0].evaluations - fresh[1].evaluations == 1
