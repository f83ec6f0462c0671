"""engine/cost.py (the full reference's predicted cost) and engine/partial.py (the reference of some
elements only)."""

import time

import numpy as np
import pytest

from gradcheck.engine import cost
from gradcheck.engine.partial import partial_reference
from gradcheck.engine.reference import reference_vjp

RNG = np.random.default_rng(5)


def test_the_evaluation_counts_follow_the_groups_and_their_proofs():
    assert cost.full_evaluations(np.ones(5, dtype=int)) == 100 + 5 * 10  # alone: no proof
    assert cost.full_evaluations(np.array([8, 8])) == 100 + 2 * 10 + 2 * (2 * 3)  # 2 log2(8) probes per group
    assert cost.element_evaluations(7) == 170
    prediction = cost.Prediction(seconds=0, evaluations=0, groups=0, per_evaluation=1e-3, basis="", pilot_seconds=0)
    assert cost.affordable_elements(prediction, 1.0) == 85  # (1 - 0.05) / 1e-3 - 100, ten evaluations each
    assert cost.affordable_elements(prediction, 0.1) == 0


def matmul(x, y):
    return x @ y


def conv_like(x):
    """A 3-tap moving sum along the last axis: each element moves 3 outputs."""
    return x[..., :-2] + 2 * x[..., 1:-1] + 3 * x[..., 2:]


@pytest.mark.parametrize(("forward", "inputs", "groups"), [
    (matmul, [RNG.normal(size=(20, 30)), RNG.normal(size=(30, 4))], 30),  # x[i, k] moves row i: a group per k
    (conv_like, [RNG.normal(size=(400,))], 3),
    (np.tanh, [RNG.normal(size=(50, 40))], 1),
])
def test_the_predicted_evaluations_are_within_a_factor_two_of_the_reference(forward, inputs, groups):
    prediction = cost.predict_full(forward, inputs, 0, budget=100.0, closer=True)
    assert prediction.groups == groups and prediction.basis == f"{groups:,} group{'s' if groups > 1 else ''} of elements"
    dz = RNG.normal(size=np.shape(forward(*inputs)))
    actual = reference_vjp(forward, inputs, dz, 0).evaluations
    assert 0.5 < prediction.evaluations / actual < 2, (prediction.evaluations, actual)


def test_an_input_that_fits_even_alone_is_predicted_without_probing():
    x = RNG.normal(size=6)
    prediction = cost.predict_full(np.sin, [x], 0, budget=100.0)
    assert prediction.basis == cost.ALONE and prediction.evaluations == 100 + 60


def sleepy(x):
    time.sleep(0.05)
    return np.tanh(x)


def test_a_costly_forward_is_predicted_from_one_call_without_the_pilot():
    start = time.perf_counter()
    prediction = cost.predict_full(sleepy, [RNG.normal(size=1000)], 0, budget=1.0)
    assert prediction.basis.startswith("at least: one forward call takes")
    assert prediction.seconds > 100 * 0.05 and prediction.groups == 1
    assert time.perf_counter() - start < 0.5  # two calls at most (the second: a warm-up check), no baseline


def test_the_reference_of_some_elements_is_the_full_reference_there():
    x, y = RNG.normal(size=(12, 9)), RNG.normal(size=(9, 5))
    dz = RNG.normal(size=(12, 5))
    elements = np.array([0, 17, 50, 107])
    partial = partial_reference(matmul, [x, y], dz, 0, elements)
    exact = (dz @ y.T).reshape(-1)[elements]
    assert partial.value.shape == (4,)
    np.testing.assert_allclose(partial.value, exact, rtol=1e-10)
    full = reference_vjp(matmul, [x, y], dz, 0)
    assert partial.evaluations < full.evaluations
