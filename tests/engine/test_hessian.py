"""The second-order references: the derivative of a VJP along V, and the engine's H V, against closed forms."""

import numpy as np

from gradcheck.engine.hessian import (
    derivative_along,
    directional_forward,
    seeded_tangent,
    step_along,
)
from gradcheck.engine.reference import reference_vjp

RTOL, ATOL = 1e-7, 1e-10


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _stable_sigmoid(x):
    """Not complex-analytic (np.abs, np.where): the engine must take central differences for F."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _within(value, error, truth):
    return np.all(np.abs(value - truth) <= error + RTOL * np.abs(truth) + ATOL)


def _point(n=500, seed=0):
    rng = np.random.default_rng(seed)
    x = 2 * rng.standard_normal(n)
    return x, rng.standard_normal(n), seeded_tangent(x, seed + 1)


def test_seeded_tangents_move_every_element_relative_to_its_scale():
    x = np.array([1e-3, 2.0, -50.0])
    v = seeded_tangent(x, 0)
    ratio = np.abs(v) / np.maximum(np.abs(x), 0.1 * np.mean(np.abs(x)))
    assert np.all((ratio >= 1.0) & (ratio < 1.5))
    assert np.array_equal(v, seeded_tangent(x, 0))


def test_the_derivative_of_a_vjp_along_v_is_the_closed_form():
    x, dz, v = _point()
    s = _sigmoid(x)
    found = derivative_along(lambda moved: {"x": dz * _sigmoid(moved["x"]) * (1 - _sigmoid(moved["x"]))},
                             {"x": x}, {"x": v})["x"]
    truth = dz * s * (1 - s) * (1 - 2 * s) * v
    assert _within(found.value, found.error, truth)
    assert np.max(np.abs(found.value - truth)) < 1e-9


def _engine_hvp(forward, x, dz, v):
    along = directional_forward(forward, [x], [v], step_along({"x": x}, {"x": v}))
    return along, reference_vjp(along.forward, [x], dz, 0)


def test_the_engine_hvp_of_an_analytic_forward_is_exact_to_rounding():
    x, dz, v = _point()
    s = _sigmoid(x)
    along, found = _engine_hvp(_sigmoid, x, dz, v)
    truth = dz * s * (1 - s) * (1 - 2 * s) * v
    assert along.method == "complex step"
    assert _within(found.value, found.error, truth)
    assert np.max(np.abs(found.value - truth)) < 1e-11


def test_the_engine_hvp_of_a_non_analytic_forward_has_error_estimates_that_cover_it():
    x, dz, v = _point(n=2000, seed=3)
    s = _sigmoid(x)
    along, found = _engine_hvp(_stable_sigmoid, x, dz, v)
    truth = dz * s * (1 - s) * (1 - 2 * s) * v
    assert along.method == "central differences"
    assert _within(found.value, found.error, truth)  # the noise offset makes the estimates honest
    assert np.max(np.abs(found.value - truth)) < 1e-7


def test_a_bilinear_forward_couples_its_inputs():
    """φ = <dz, a b>: H V for a is dz v_b^T, for b it is v_a^T dz (each moves along the other's tangent)."""
    rng = np.random.default_rng(5)
    a, b, dz = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    va, vb = seeded_tangent(a, 1), seeded_tangent(b, 2)
    along = directional_forward(np.matmul, [a, b], [va, vb], step_along({"a": a, "b": b}, {"a": va, "b": vb}))
    for index, truth in ((0, dz @ vb.T), (1, va.T @ dz)):
        found = reference_vjp(along.forward, [a, b], dz, index)
        assert _within(found.value, found.error, truth)
