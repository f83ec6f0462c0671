"""The activations (gradcheck/ops/activations.py) and log1p/expm1: closed-form values and slopes,
stability at the extremes, parameter errors that name file, line and key, and deliberately wrong
VJPs that gradcheck must report as failed."""

import math
import warnings

import numpy as np
import pytest

import gradcheck
from gradcheck.cases import CaseFileError, parse_cases
from gradcheck.ops import get_op
from gradcheck.ops.activations import gelu, normal_cdf, normal_pdf

# Phi(-8), the standard normal's lower tail at -8 (Abramowitz & Stegun 26.2; erfc(4 sqrt 2) / 2).
PHI_MINUS_8 = 6.220960574271785e-16


def value(name, x, **params):
    return get_op(name).forward(np.asarray(x, dtype=np.float64), **params)


def slope(name, x, **params):
    """f'(x) from the op's hand-written VJP with cotangent 1."""
    x = np.asarray(x, dtype=np.float64)
    (dx,) = get_op(name).vjp(x, np.ones_like(x), **params)
    return dx


# ---------------------------------------------------------------- closed forms

def test_softplus_values():
    assert value("softplus", 0.0) == pytest.approx(math.log(2.0), rel=1e-15)
    np.testing.assert_allclose(value("softplus", [-50.0, 1.0, 50.0]),
                               [math.exp(-50.0), math.log1p(math.e), 50.0], rtol=1e-15)
    np.testing.assert_allclose(slope("softplus", [0.0, 2.0]), [0.5, 1 / (1 + math.exp(-2.0))], rtol=1e-15)


def test_gelu_values():
    assert value("gelu", 1.0) == pytest.approx(0.8413447460685429, rel=1e-15)  # Phi(1)
    assert value("gelu", -8.0) == pytest.approx(-8.0 * PHI_MINUS_8, rel=1e-13)  # no cancellation in the tail
    # GELU'(x) = Phi(x) + x phi(x): 1/2 at 0, Phi(1) + phi(1) at 1.
    np.testing.assert_allclose(slope("gelu", [0.0, 1.0]),
                               [0.5, 0.8413447460685429 + math.exp(-0.5) / math.sqrt(2 * math.pi)], rtol=1e-15)
    assert normal_cdf(0.0) == 0.5 and normal_pdf(0.0) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-15)


def test_gelu_tanh_values():
    # x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2, straight from the definition at x = 1 and -2.
    for x in (1.0, -2.0):
        want = 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
        assert value("gelu_tanh", x) == pytest.approx(want, rel=1e-14)
    assert slope("gelu_tanh", 0.0) == 0.5
    # The approximation stays within 1e-3 of the erf form (Hendrycks & Gimpel).
    x = np.linspace(-6, 6, 121)
    assert np.max(np.abs(value("gelu_tanh", x) - value("gelu", x))) < 1e-3


def test_silu_values():
    assert value("silu", 1.0) == pytest.approx(0.7310585786300049, rel=1e-15)  # sigmoid(1)
    s = 0.7310585786300049
    np.testing.assert_allclose(slope("silu", [0.0, 1.0]), [0.5, s * (1 + (1 - s))], rtol=1e-15)


def test_elu_values():
    np.testing.assert_allclose(value("elu", [-1.0, 0.0, 2.0]), [math.expm1(-1.0), 0.0, 2.0], rtol=1e-15)
    np.testing.assert_allclose(value("elu", [-1.0], alpha=0.5), [0.5 * math.expm1(-1.0)], rtol=1e-15)
    # alpha e^x below and at 0 (PyTorch's choice at the kink), 1 above.
    np.testing.assert_allclose(slope("elu", [-1.0, 0.0, 2.0], alpha=0.5), [0.5 / math.e, 0.5, 1.0], rtol=1e-15)


def test_leaky_relu_values():
    np.testing.assert_array_equal(value("leaky_relu", [-2.0, 0.0, 3.0]), [-0.02, 0.0, 3.0])
    np.testing.assert_array_equal(slope("leaky_relu", [-2.0, 0.0, 3.0], negative_slope=0.2), [0.2, 0.2, 1.0])


def test_clip_values():
    x = [-2.0, -0.5, 0.0, 0.75, 1.5]
    np.testing.assert_array_equal(value("clip", x, low=-0.5, high=0.75), [-0.5, -0.5, 0.0, 0.75, 0.75])
    np.testing.assert_array_equal(slope("clip", x, low=-0.5, high=0.75), [0.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(value("clip", [-1e300, 2.0], low=-math.inf, high=1.0), [-1e300, 1.0])


def test_log1p_expm1_keep_small_arguments():
    # log(1 + 1e-12) in floating point keeps ~4 digits of 1e-12; log1p keeps all of them.
    assert value("log1p", 1e-12) == pytest.approx(1e-12 - 0.5e-24, rel=1e-15)
    assert value("expm1", 1e-12) == pytest.approx(1e-12 + 0.5e-24, rel=1e-15)
    np.testing.assert_allclose(slope("log1p", [0.0, 1.0]), [1.0, 0.5], rtol=1e-15)
    np.testing.assert_allclose(slope("expm1", [0.0, 1.0]), [1.0, math.e], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["softplus", "gelu", "gelu_tanh", "silu", "elu"])
def test_no_overflow_at_the_extremes(name, dtype):
    x = np.array([-1e4, -100.0, 100.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or invalid-value warning fails the test
        y = get_op(name).forward(x)
        (dx,) = get_op(name).vjp(x, np.ones_like(x))
    assert y.dtype == dtype and dx.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(dx[[-2, -1]], [1.0, 1.0])  # every one is x for large x


# ---------------------------------------------------------------- parameters

@pytest.mark.parametrize("params,key", [
    ("{alpha: fast}", "alpha"), ("{alpha: true}", "alpha"), ("{alpha: .nan}", "alpha"), ("{alpha: .inf}", "alpha"),
])
def test_bad_elu_alpha_names_file_line_and_key(params, key):
    with pytest.raises(CaseFileError) as caught:
        parse_cases(f"name: a\nop: elu\nparams: {params}\ninputs: {{x: [1.0]}}\n", "cases/x.yaml")
    assert caught.value.line == 3 and key in caught.value.message and "cases/x.yaml:3" in str(caught.value)


@pytest.mark.parametrize("params", ["{low: 1.0, high: 0.5}", "{low: 0.5, high: 0.5}", "{high: -2}"])
def test_clip_bounds_out_of_order_are_a_file_error(params):
    with pytest.raises(CaseFileError, match="'low'.*below param 'high'") as caught:
        parse_cases(f"name: a\nop: clip\nparams: {params}\ninputs: {{x: [1.0]}}\n", "cases/x.yaml")
    assert caught.value.line == 3


# ---------------------------------------------------------------- wrong VJPs must fail

X = np.random.default_rng(7).normal(size=24) * 2


def gelu_vjp_missing_x_phi(x, dz):
    # Treats Phi as a constant: d(x Phi)/dx = Phi, dropping the product rule's x phi(x) term.
    return (dz * normal_cdf(x),)


def clip_vjp_leaks_outside(x, dz, low=-0.5, high=0.75):
    # Passes the gradient everywhere, as if clip were the identity.
    return (np.array(dz, dtype=np.float64),)


def leaky_relu_vjp_as_relu(x, dz, negative_slope=0.01):
    # Forgets the negative slope: 0 below the kink, as relu.
    return (dz * (x > 0),)


def softplus_vjp_tanh(x, dz):
    # tanh where the logistic belongs: (1 + tanh x) / 2 is sigmoid(2x), right only at x = 0.
    return (dz * 0.5 * (1 + np.tanh(x)),)


@pytest.mark.parametrize("name,wrong,params", [
    ("gelu", gelu_vjp_missing_x_phi, {}),
    ("clip", clip_vjp_leaks_outside, {"low": -0.5, "high": 0.75}),
    ("leaky_relu", leaky_relu_vjp_as_relu, {"negative_slope": 0.01}),
    ("softplus", softplus_vjp_tanh, {}),
])
def test_wrong_vjps_fail(name, wrong, params):
    op = get_op(name)
    right = gradcheck.check(op.forward, {"x": X}, vjp=op.vjp, params=params, methods=["vjp"])
    assert right.passed, right
    result = gradcheck.check(op.forward, {"x": X}, vjp=wrong, params=params, methods=["vjp"])
    assert not result.passed
    assert {c.method for c in result.failures} == {"vjp"}


def test_tensorflow_nn_gelu_float64_precision_is_caught():
    """tf.nn.gelu rounds its constant 1/sqrt 2 to float32 (TF 2.21), so in float64 its gradient is off by
    ~1e-7 relative: gradcheck must flag it exactly when its forward is measurably off."""
    tf = pytest.importorskip("tensorflow")
    x = np.linspace(-4.0, -1.0, 7)
    forward_error = np.max(np.abs(tf.nn.gelu(tf.constant(x)).numpy() / gelu(x) - 1))
    result = gradcheck.check(gelu, {"x": x}, tensorflow=lambda t: tf.nn.gelu(t), methods=["tensorflow"])
    assert result.passed == (forward_error < 1e-10), (forward_error, result)
