"""The step-size curve: truncation with slope 2 at large steps, round-off with slope -1 at small ones."""

import numpy as np

from gradcheck.engine.curve import step_curve


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _slope(curve, mask):
    return np.polyfit(np.log(curve.steps[mask]), np.log(curve.errors[mask]), 1)[0]


def test_a_smooth_forward_shows_both_regimes_and_the_steps_used():
    x, dz = np.array([3.0, 4.0, 5.0]), np.array([1.0, 2.0, 3.0])
    s = _sigmoid(3.0)
    exact = s * (1 - s)  # element 0, cotangent 1
    curve = step_curve(_sigmoid, [x], 0, dz, 0, exact)
    assert np.all(np.diff(curve.steps) < 0) and curve.steps[0] <= 0.25 * 3.0
    assert len(curve.used) == 4 and np.allclose(curve.used[:-1] / curve.used[1:], 2.0)
    assert set(np.round(curve.used, 12)) <= set(np.round(curve.steps, 12))
    assert 1.8 < _slope(curve, (curve.steps > 1e-3) & (curve.steps < 0.1)) < 2.2  # truncation ~ h^2
    assert -1.4 < _slope(curve, curve.steps < 1e-9) < -0.6  # round-off ~ 1/h (noisy)
    assert np.nanmin(curve.errors) < 1e-9 < curve.errors[0]
    assert np.allclose(np.diff(np.log(curve.truncation)) / np.diff(np.log(curve.steps)), 2.0)
    assert np.allclose(np.diff(np.log(curve.roundoff)) / np.diff(np.log(curve.steps)), -1.0, atol=0.05)


def test_a_linear_forward_has_no_truncation_line_and_a_domain_edge_leaves_gaps():
    x = np.array([[3.0, 4.0], [5.0, 6.0]])
    y = np.array([[4.0, 5.0], [6.0, 7.0]])
    dz = np.ones((2, 2))
    curve = step_curve(lambda a, b: a @ b, [x, y], 0, dz, 0, 9.0)  # d/dx00 sum(x @ y) = y00 + y01
    assert np.all(np.isnan(curve.truncation))  # its error at the largest step is round-off only
    assert np.max(curve.errors[curve.steps > 1e-4]) < 1e-9

    def log_or_raise(v):
        if np.any(v <= 0):
            raise ValueError("outside the domain")
        return np.log(v)

    near_zero = step_curve(log_or_raise, [np.array([0.1, 1.0])], 0, np.ones(2), 0, 10.0)
    assert np.all(np.isfinite(near_zero.errors))  # steps stay under a quarter of |x|: never crosses 0
