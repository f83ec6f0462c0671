"""Tests for gradcheck.ops.logexp: logsumexp, log_softmax, cumsum and norm against closed forms,
their stability at large magnitudes, the norm's kink at 0, and known-bad VJPs that must fail."""

import math
import warnings

import numpy as np
import pytest

import gradcheck
from gradcheck.compare.comparison import Status
from gradcheck.ops import get_op

LSE, LOG_SOFTMAX, CUMSUM, NORM = (get_op(name) for name in ("logsumexp", "log_softmax", "cumsum", "norm"))
X = np.random.default_rng(7).normal(size=(4, 5))


def vjp_row(result):
    (row,) = [c for c in result.comparisons if c.method == "vjp"]
    return row


# ---------------------------------------------------------------- logsumexp


def test_logsumexp_closed_forms():
    assert LSE.forward(np.array([0.0, 0.0])) == pytest.approx(math.log(2), rel=1e-15)
    # log(e^1 + e^2 + e^3) by hand, over the rows of a 2 x 3 array
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    want = [math.log(math.e + math.e**2 + math.e**3), math.log(3)]
    np.testing.assert_allclose(LSE.forward(x, axis=1), want, rtol=1e-15)
    # d lse / dx is the softmax: 1/2 each for two equal entries, times the cotangent
    (dx,) = LSE.vjp(np.array([0.0, 0.0]), np.array(3.0))
    np.testing.assert_array_equal(dx, [1.5, 1.5])


def test_logsumexp_does_not_overflow_or_make_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert LSE.forward(np.array([1000.0, 1000.0])) == pytest.approx(1000 + math.log(2), rel=1e-15)
        (dx,) = LSE.vjp(np.array([1000.0, -1000.0]), np.array(1.0))
        np.testing.assert_array_equal(dx, [1.0, 0.0])
        assert LSE.forward(np.array([-np.inf, -np.inf])) == -np.inf  # log 0, not NaN
        assert LSE.forward(np.array([-800.0, -800.0], dtype=np.float32)).dtype == np.float32


def softmax_without_cotangent(x, cotangent, axis=None):
    """Known bad: the softmax alone, dropping the cotangent (right only when dz is 1)."""
    return (np.exp(x - LSE.forward(x, axis=axis)[:, None]),)


def test_a_logsumexp_vjp_forgetting_the_cotangent_fails():
    # The default cotangent (seeded normal, one per row) differs from 1, so the missing factor shows.
    result = gradcheck.check(LSE.forward, {"x": X}, vjp=softmax_without_cotangent, params={"axis": 1})
    row = vjp_row(result)
    assert row.status is Status.FAIL and row.margin > 1
    assert gradcheck.check(LSE.forward, {"x": X}, vjp=LSE.vjp, params={"axis": 1}).passed


# ---------------------------------------------------------------- log_softmax


def test_log_softmax_closed_form():
    x = np.array([0.0, math.log(3.0)])  # softmax [1/4, 3/4]
    np.testing.assert_allclose(LOG_SOFTMAX.forward(x), [math.log(0.25), math.log(0.75)], rtol=1e-15)
    (dx,) = LOG_SOFTMAX.vjp(x, np.array([1.0, 0.0]))  # dz - s * sum(dz)
    np.testing.assert_allclose(dx, [0.75, -0.75], rtol=1e-15)
    # shifting a row changes nothing, and a huge row does not overflow
    np.testing.assert_allclose(LOG_SOFTMAX.forward(x + 1000.0), LOG_SOFTMAX.forward(x), rtol=1e-12)
    np.testing.assert_allclose(np.exp(LOG_SOFTMAX.forward(X, axis=0)).sum(axis=0), np.ones(5), rtol=1e-15)


# ---------------------------------------------------------------- cumsum


def test_cumsum_closed_form_and_reverse_cumsum_vjp():
    np.testing.assert_array_equal(CUMSUM.forward(np.array([1.0, 2.0, 3.0])), [1.0, 3.0, 6.0])
    # x_0 feeds all three outputs, x_2 only the last
    (dx,) = CUMSUM.vjp(np.array([1.0, 2.0, 3.0]), np.array([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(dx, [111.0, 110.0, 100.0])
    (dx,) = CUMSUM.vjp(np.zeros((2, 3)), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), axis=0)
    np.testing.assert_array_equal(dx, [[5.0, 7.0, 9.0], [4.0, 5.0, 6.0]])


def test_cumsum_takes_one_integer_axis():
    with pytest.raises(ValueError, match="'axis'"):
        CUMSUM.check_params({"axis": None})
    with pytest.raises(ValueError, match="'axis'"):
        CUMSUM.check_params({"axis": [0, 1]})


# ---------------------------------------------------------------- norm


def test_norm_closed_forms():
    assert NORM.forward(np.array([3.0, 4.0])) == 5.0
    (dx,) = NORM.vjp(np.array([3.0, 4.0]), np.array(10.0))
    np.testing.assert_allclose(dx, [6.0, 8.0], rtol=1e-15)
    np.testing.assert_allclose(NORM.forward(np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]]), axis=1), [3.0, 0.0])
    # the squares of 3e200 overflow; the scaled sum does not
    assert NORM.forward(np.array([3e200, 4e200])) == pytest.approx(5e200, rel=1e-15)
    assert NORM.forward(np.array([3e-200, 4e-200])) == pytest.approx(5e-200, rel=1e-15)


def test_norm_at_the_zero_vector_is_a_kink_with_subgradient_zero():
    x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    (dx,) = NORM.vjp(x, np.array([5.0, 3.0]), axis=1)
    np.testing.assert_allclose(dx, [[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]], rtol=1e-15)
    result = gradcheck.check(NORM.forward, {"x": x}, vjp=NORM.vjp, params={"axis": 1})
    assert result.passed, result
    assert vjp_row(result).kinks == 3


@pytest.mark.parametrize("framework", ["tensorflow", "jax"])
def test_the_framework_lowerings_of_norm_have_subgradient_zero_at_a_zero_slice(framework):
    # tf.math.reduce_euclidean_norm and jnp.linalg.vector_norm give NaN gradients at the zero vector;
    # found by `gradcheck explore` on cases/ops/norm.yaml at x = 0. The lowerings give the op's 0.
    pytest.importorskip(framework)
    from gradcheck.cases import parse_cases
    from gradcheck.run.runner import RunOptions, run_case

    x = [[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]]
    for axis in ("null", 1):
        case = parse_cases(f"name: n\nop: norm\nparams: {{axis: {axis}}}\ninputs: {{x: {x}}}\n")[0]
        rows = run_case(case, RunOptions(methods=("numeric", framework, f"{framework}-jvp")))
        assert [r.status for r in rows] == [Status.PASS] * 3, [(r.method, r.message) for r in rows]


def test_a_norm_vjp_dividing_by_zero_at_the_kink_fails():
    def x_over_norm(x, cotangent, axis=None):
        with np.errstate(invalid="ignore"):
            return (np.expand_dims(cotangent, axis) * x / NORM.forward(x, axis=axis)[:, None],)

    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    row = vjp_row(gradcheck.check(NORM.forward, {"x": x}, vjp=x_over_norm, params={"axis": 1}))
    assert row.status is Status.FAIL  # NaN where the reference is finite is a wrong gradient
