"""Neural-network activations: element-wise, so each VJP is dz * f'(x) (elementwise.unary).

Each is written to stay finite and accurate over the whole real line in float32
and float64: softplus and the GELUs never form e^x for large x, and the erf
GELU takes Phi from erfc, which keeps its relative accuracy far into the left
tail where 1 + erf(x/sqrt 2) would cancel to nothing.

Kinks (clip at its bounds, leaky_relu and elu with alpha != 1 at 0): any value
between the one-sided derivatives is a valid subgradient, and the engine checks
those elements against that interval. Ours follow PyTorch's choices: clip passes
the gradient at a bound, leaky_relu gives negative_slope at 0, elu gives alpha.
"""

import math

import numpy as np

from gradcheck.ops.arrays import as_float, out
from gradcheck.ops.elementwise import sigmoid, unary

# Python's math.erfc, element by element: NumPy has no erf, math.erfc is accurate to an ulp or two,
# and the arrays of a gradient check are small enough for a loop per element.
_erfc = np.vectorize(math.erfc, otypes=[np.float64])
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
SQRT_HALF = math.sqrt(0.5)
GELU_TANH_CUBIC = 0.044715  # the cubic coefficient of the tanh approximation (Hendrycks & Gimpel)


def number(value, key):
    """A param that is a real, finite number (not a bool), as a float; ValueError naming the key."""
    value = bound(value, key)
    if not math.isfinite(value):
        raise ValueError(f"param {key!r}: must be finite, got {value!r}")
    return value


def bound(value, key):
    """A real number or +-inf (not a bool, not NaN), as a float; ValueError naming the key."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"param {key!r}: expected a number, got {value!r}")
    if math.isnan(value):
        raise ValueError(f"param {key!r}: must not be NaN")
    return float(value)


# ---------------------------------------------------------------- softplus

def softplus(x):
    # ln(1 + e^x) = ln(1 + e^-|x|) + max(x, 0): for x > 0 take e^x out of the log
    # (ln(e^x (e^-x + 1)) = x + ln(1 + e^-x)); e^-|x| <= 1 never overflows.
    x = as_float(x)
    return out(np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0), x.dtype)


SOFTPLUS = unary(
    "softplus", softplus, lambda x, y: sigmoid(x),  # (ln(1 + e^x))' = e^x / (1 + e^x) = sigmoid(x)
    "ln(1 + e^x), elementwise, stable for large |x|",
    torch=lambda torch, x: torch.nn.functional.softplus(x),
    tensorflow=lambda tf, x: tf.math.softplus(x),
    jax=lambda jax, x: jax.nn.softplus(x),
    in_expr=True)


# ---------------------------------------------------------------- gelu (erf form)

def normal_cdf(x):
    # Phi(x) = (1 + erf(x / sqrt 2)) / 2 = erfc(-x / sqrt 2) / 2, the second without cancellation.
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) * SQRT_HALF)


def normal_pdf(x):
    # phi(x) = e^(-x^2 / 2) / sqrt(2 pi); underflows to 0 for |x| > 38, where x phi(x) is 0 too.
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def gelu(x):
    # GELU(x) = x Phi(x), Phi the standard normal CDF (computed in float64, returned in x's dtype).
    x = as_float(x)
    return out(x * normal_cdf(x), x.dtype)


GELU = unary(
    "gelu", gelu,
    lambda x, y: normal_cdf(x) + x * normal_pdf(x),  # (x Phi(x))' = Phi(x) + x phi(x): product rule, Phi' = phi
    "Gaussian error linear unit x Phi(x) (erf form), elementwise",
    torch=lambda torch, x: torch.nn.functional.gelu(x),
    # Not tf.nn.gelu: up to TF 2.21 at least it rounds 1/sqrt 2 to float32 before casting it to the
    # input's dtype, so its float64 values and gradients are off by ~1e-7 relative (gradcheck flags
    # it: tests/ops/test_activations.py). The same formula with a float64 constant, on TF's own erfc.
    tensorflow=lambda tf, x: 0.5 * x * tf.math.erfc(x * -SQRT_HALF),
    jax=lambda jax, x: jax.nn.gelu(x, approximate=False),
    in_expr=False)


# ---------------------------------------------------------------- gelu (tanh form)

def _gelu_tanh_arg(x):
    # u = sqrt(2/pi) (x + c x^3) and its derivative u' = sqrt(2/pi) (1 + 3 c x^2).
    return (SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x ** 3),
            SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_CUBIC * x * x))


def gelu_tanh(x):
    # x (1 + tanh u) / 2 = x sigmoid(2u), since (1 + tanh u) / 2 = 1 / (1 + e^-2u): the sigmoid form
    # does not cancel for large negative x, where 1 + tanh u -> 0.
    x = as_float(x)
    u, _ = _gelu_tanh_arg(x)
    return out(x * sigmoid(2 * u), x.dtype)


def _gelu_tanh_derivative(x, y):
    # d/dx [x s(2u)] = s(2u) + x s'(2u) 2u' = s + 2 x s (1 - s) u', with s' = s (1 - s).
    u, du = _gelu_tanh_arg(x)
    s = sigmoid(2 * u)
    return s + 2 * x * s * (1 - s) * du


GELU_TANH = unary(
    "gelu_tanh", gelu_tanh, _gelu_tanh_derivative,
    "GELU, tanh approximation x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2, elementwise",
    torch=lambda torch, x: torch.nn.functional.gelu(x, approximate="tanh"),
    # Not tf.nn.gelu(approximate=True): it rounds 0.044715 through float32 as well (float64 gradients
    # off by up to ~2e-5 relative where they cross 0, 0.8 of the tolerance on gelu_tanh-normal).
    tensorflow=lambda tf, x: 0.5 * x * (1 + tf.math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x * x * x))),
    jax=lambda jax, x: jax.nn.gelu(x, approximate=True),
    in_expr=False)


# ---------------------------------------------------------------- silu

def silu(x):
    # SiLU (swish) x sigmoid(x).
    x = as_float(x)
    return out(x * sigmoid(x), x.dtype)


def _silu_derivative(x, y):
    # (x s)' = s + x s (1 - s) = s (1 + x (1 - s)).
    s = sigmoid(x)
    return s * (1 + x * (1 - s))


SILU = unary(
    "silu", silu, _silu_derivative,
    "sigmoid linear unit (swish) x sigmoid(x), elementwise",
    torch=lambda torch, x: torch.nn.functional.silu(x),
    tensorflow=lambda tf, x: tf.nn.silu(x),
    jax=lambda jax, x: jax.nn.silu(x),
    in_expr=False)


# ---------------------------------------------------------------- elu

def elu(x, alpha=1.0):
    # x for x > 0, alpha (e^x - 1) for x <= 0; expm1 keeps e^x - 1 accurate near 0, and min(x, 0)
    # keeps the branch np.where discards from overflowing.
    x = as_float(x)
    return out(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), x.dtype)


ELU = unary(
    "elu", elu,
    # 1 for x > 0, alpha e^x for x <= 0: alpha at the kink x = 0 (the right derivative is 1;
    # with alpha = 1 both sides agree and elu is smooth to first order).
    lambda x, y, alpha: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))),
    "exponential linear unit: x for x > 0, alpha (e^x - 1) below, elementwise",
    params={"alpha": 1.0}, validators={"alpha": number},
    torch=lambda torch, x, alpha: torch.nn.functional.elu(x, alpha=alpha),
    # tf.nn.elu has no alpha: alpha times TF's own elu on the negative side.
    tensorflow=lambda tf, x, alpha: tf.where(x > 0, x, alpha * tf.nn.elu(x)),
    jax=lambda jax, x, alpha: jax.nn.elu(x, alpha=alpha),
    in_expr=False)


# ---------------------------------------------------------------- leaky_relu

def leaky_relu(x, negative_slope=0.01):
    x = as_float(x)
    return out(np.where(x > 0, x, negative_slope * x), x.dtype)


LEAKY_RELU = unary(
    "leaky_relu", leaky_relu,
    # 1 for x > 0, negative_slope for x <= 0 (at the kink x = 0 as PyTorch and TensorFlow; JAX gives 1).
    lambda x, y, negative_slope: np.where(x > 0, 1.0, negative_slope),
    "leaky ReLU: x for x > 0, negative_slope * x below, elementwise",
    params={"negative_slope": 0.01}, validators={"negative_slope": number},
    torch=lambda torch, x, negative_slope: torch.nn.functional.leaky_relu(x, negative_slope=negative_slope),
    # TF keeps alpha as a float32 attribute: in float64 its slope is off by up to 3e-8 relative
    # (0.01 -> 0.009999999776), inside the float64 tolerance, and gradcheck shows it as a margin.
    tensorflow=lambda tf, x, negative_slope: tf.nn.leaky_relu(x, alpha=negative_slope),
    jax=lambda jax, x, negative_slope: jax.nn.leaky_relu(x, negative_slope=negative_slope),
    in_expr=False)


# ---------------------------------------------------------------- clip

def clip(x, low=-1.0, high=1.0):
    x = as_float(x)
    return out(np.clip(x, low, high), x.dtype)


def _clip_bounds_ordered(params):
    # low == high would make clip a constant, whose gradient is 0 even at the bound.
    if not params["low"] < params["high"]:
        raise ValueError(f"param 'low' ({params['low']!r}) must be below param 'high' ({params['high']!r})")


CLIP = unary(
    "clip", clip,
    # 1 strictly inside (low, high), 0 outside. At a bound the one-sided derivatives are 0 and 1 and
    # any value between is a subgradient; like PyTorch and TensorFlow we pass the gradient there.
    lambda x, y, low, high: ((x >= low) & (x <= high)).astype(x.dtype),
    "clip to [low, high] (defaults -1, 1), elementwise (grad 1 inside and at the bounds, 0 outside)",
    params={"low": -1.0, "high": 1.0}, validators={"low": bound, "high": bound},
    relation=_clip_bounds_ordered,
    torch=lambda torch, x, low, high: torch.clamp(x, low, high),
    tensorflow=lambda tf, x, low, high: tf.clip_by_value(x, low, high),
    jax=lambda jax, x, low, high: jax.numpy.clip(x, low, high),
    in_expr=False)
