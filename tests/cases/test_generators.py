"""The generators: integers, spd and symmetric, and support: stored for explore."""

import numpy as np

from gradcheck.cases import parse_cases
from gradcheck.cases.problem import materialize


def inputs_of(spec: str) -> dict:
    (case,) = parse_cases(f"name: g\ntorch: torch:add\ninputs:\n  a: {spec}\n  x: 1.0\n", "cases/x.yaml")
    return case, materialize(case).inputs["a"]


def test_integers_draw_from_low_inclusive_to_high_exclusive_as_int64():
    case, a = inputs_of("{shape: [2000], dist: integers, low: -2, high: 3}")
    assert a.dtype == np.int64 and set(np.unique(a)) == {-2, -1, 0, 1, 2}
    assert case.wrt == ("x",)  # an integer input is never differentiated


def test_spd_eigenvalues_lie_in_half_to_two_and_cond_sets_the_condition_number():
    _, a = inputs_of("{shape: [5, 4, 4], dist: spd}")
    assert np.array_equal(a, np.swapaxes(a, -1, -2))
    eigenvalues = np.linalg.eigvalsh(a)
    assert eigenvalues.min() >= 0.5 - 1e-12 and eigenvalues.max() <= 2.0 + 1e-12
    _, b = inputs_of("{shape: [3, 3], dist: spd, cond: 1000}")
    eigenvalues = np.linalg.eigvalsh(b)
    assert abs(eigenvalues.max() / eigenvalues.min() - 1000.0) < 1e-6


def test_symmetric_is_symmetric_and_not_definite_in_general():
    _, a = inputs_of("{shape: [6, 6], dist: symmetric, seed: 1}")
    assert np.array_equal(a, a.T)
    assert np.linalg.eigvalsh(a).min() < 0 < np.linalg.eigvalsh(a).max()


def test_support_is_stored_on_the_generator_and_does_not_change_the_draw():
    case, with_support = inputs_of("{shape: [4], dist: uniform, low: 1, high: 2, seed: 0, support: [0, null]}")
    assert case.inputs[0].generator.support == (0.0, None)
    _, without = inputs_of("{shape: [4], dist: uniform, low: 1, high: 2, seed: 0}")
    assert np.array_equal(with_support, without)
