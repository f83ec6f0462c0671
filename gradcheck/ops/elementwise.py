"""Element-wise ops. For z = f(x) the Jacobian is diagonal, so the VJP is dx = dz * f'(x), pointwise.

Complex: where f is holomorphic (exp, sin, cos, tanh), d f = f'(z) d z, so phi = Re sum conj(dz) f(z)
changes by Re sum conj(dz) f'(z) dw = Re sum conj(conj(f'(z)) dz) dw along dw: its gradient (DESIGN
section 2) is conj(f'(z)) dz. The VJP conjugates f' (a no-op on real x). |z| is not holomorphic:
see abs_vjp.

Each derivative is written in terms of the forward value where that is
cheaper or more stable than differentiating the formula directly. Each op's
forward, VJP and framework lowerings stand together in one registry entry.
"""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad, out
from gradcheck.ops.registry import Op, register


def unary(name, forward, derivative, summary, *, torch, tensorflow, jax, domain="real", in_expr=True,
          params=None, validators=None, relation=None, holomorphic=False):
    """Register an element-wise op from its forward and f'(x, y, **params) (y = f(x)); VJP: dz * conj(f').

    holomorphic: f' is the complex derivative too, so the op takes complex inputs.
    Public so that other op families (activations.py) register element-wise ops the same way.
    """

    defaults = dict(params or {})

    def vjp(x, cotangent, **kwargs):
        x, kwargs = as_float(x), {**defaults, **kwargs}  # callable without params, as the forward is
        with np.errstate(all="ignore"):
            fprime = derivative(x, forward(x, **kwargs), **kwargs)
            if np.iscomplexobj(fprime):
                fprime = np.conj(fprime)
            return (finish_grad(np.asarray(cotangent) * fprime, x),)

    vjp.__name__ = vjp.__qualname__ = f"{name}_vjp"
    return register(Op(name, ("x",), forward, vjp, defaults, summary, domain=domain,
                       torch=torch, tensorflow=tensorflow, jax=jax, validators=validators or {},
                       in_expr=in_expr, relation=relation, complex=holomorphic))


# ---------------------------------------------------------------- sigmoid

def sigmoid(x):
    # s(x) = 1 / (1 + e^-x), evaluated with e = e^-|x| <= 1 so nothing overflows:
    # for x >= 0, s = 1/(1+e); for x < 0, s = e/(1+e) (numerator and denominator times e^x).
    x = as_float(x)
    e = np.exp(-np.abs(x))
    one = np.ones((), dtype=x.dtype)
    return out(np.where(x >= 0, one / (one + e), e / (one + e)), x.dtype)


SIGMOID = unary(
    "sigmoid", sigmoid, lambda x, s: s * (1 - s),  # s' = s (1 - s)
    "logistic function 1/(1+e^-x), elementwise",
    torch=lambda torch, x: torch.sigmoid(x),
    tensorflow=lambda tf, x: tf.math.sigmoid(x),
    jax=lambda jax, x: jax.nn.sigmoid(x))


# ---------------------------------------------------------------- relu

def relu(x):
    # max(x, 0); np.where (rather than x * (x > 0)) avoids producing -0.0.
    x = as_float(x)
    return out(np.where(x > 0, x, np.zeros((), dtype=x.dtype)), x.dtype)


RELU = unary(
    "relu", relu, lambda x, y: (x > 0).astype(x.dtype),  # 1 for x > 0, 0 below; subgradient 0 at the kink
    "rectified linear unit max(x, 0), elementwise (grad 0 at x <= 0)",
    torch=lambda torch, x: torch.relu(x),
    tensorflow=lambda tf, x: tf.nn.relu(x),
    jax=lambda jax, x: jax.nn.relu(x))


# ---------------------------------------------------------------- tanh

def tanh(x):
    x = as_float(x)
    return out(np.tanh(x), x.dtype)


TANH = unary(
    "tanh", tanh, lambda x, t: 1 - t * t,  # tanh' = 1 - tanh^2 = sech^2
    "hyperbolic tangent, elementwise",
    torch=lambda torch, x: torch.tanh(x),
    tensorflow=lambda tf, x: tf.math.tanh(x),
    jax=lambda jax, x: jax.numpy.tanh(x),
    holomorphic=True)


# ---------------------------------------------------------------- exp

def exp(x):
    x = as_float(x)
    return out(np.exp(x), x.dtype)


EXP = unary(
    "exp", exp, lambda x, y: y,  # (e^x)' = e^x
    "exponential e^x, elementwise",
    torch=lambda torch, x: torch.exp(x),
    tensorflow=lambda tf, x: tf.math.exp(x),
    jax=lambda jax, x: jax.numpy.exp(x),
    holomorphic=True)


# ---------------------------------------------------------------- log

def log(x):
    x = as_float(x)
    return out(np.log(x), x.dtype)


LOG = unary(
    "log", log, lambda x, y: 1 / x,  # ln' = 1/x
    "natural logarithm ln(x), elementwise, needs x > 0",
    torch=lambda torch, x: torch.log(x),
    tensorflow=lambda tf, x: tf.math.log(x),
    jax=lambda jax, x: jax.numpy.log(x),
    domain="positive")


# ---------------------------------------------------------------- sin, cos, tan

def sin(x):
    x = as_float(x)
    return out(np.sin(x), x.dtype)


SIN = unary(
    "sin", sin, lambda x, y: np.cos(x),
    "sine, elementwise",
    torch=lambda torch, x: torch.sin(x),
    tensorflow=lambda tf, x: tf.math.sin(x),
    jax=lambda jax, x: jax.numpy.sin(x),
    holomorphic=True)


def cos(x):
    x = as_float(x)
    return out(np.cos(x), x.dtype)


COS = unary(
    "cos", cos, lambda x, y: -np.sin(x),
    "cosine, elementwise",
    torch=lambda torch, x: torch.cos(x),
    tensorflow=lambda tf, x: tf.math.cos(x),
    jax=lambda jax, x: jax.numpy.cos(x),
    holomorphic=True)


def tan(x):
    x = as_float(x)
    return out(np.tan(x), x.dtype)


TAN = unary(
    "tan", tan, lambda x, t: 1 + t * t,  # tan' = sec^2 = 1 + tan^2
    "tangent, elementwise",
    torch=lambda torch, x: torch.tan(x),
    tensorflow=lambda tf, x: tf.math.tan(x),
    jax=lambda jax, x: jax.numpy.tan(x))


# ---------------------------------------------------------------- sqrt, abs

def sqrt(x):
    x = as_float(x)
    return out(np.sqrt(x), x.dtype)


SQRT = unary(
    "sqrt", sqrt, lambda x, y: 0.5 / y,  # (sqrt x)' = 1 / (2 sqrt x)
    "square root, elementwise, needs x > 0",
    torch=lambda torch, x: torch.sqrt(x),
    tensorflow=lambda tf, x: tf.math.sqrt(x),
    jax=lambda jax, x: jax.numpy.sqrt(x),
    domain="positive")


def abs_(x):
    # A complex z gives the real |z|, in the real dtype of its parts (complex64 -> float32).
    x = as_float(x)
    y = np.abs(x)
    return out(y, y.dtype)


def abs_vjp(x, cotangent):
    # Real x: |x|' = sign(x), with the subgradient 0 at the kink x = 0.
    # Complex z = a + ib: |z| = sqrt(a^2 + b^2) has d/da = a/|z|, d/db = b/|z|, so the gradient of
    # phi = sum dz |z| (dz real: the output is real) is dz (a + ib)/|z| = dz z/|z|; 0 at z = 0.
    x = as_float(x)
    if not np.iscomplexobj(x):
        return (finish_grad(np.asarray(cotangent) * np.sign(x), x),)
    size = np.abs(x)
    with np.errstate(all="ignore"):
        direction = np.where(size == 0, np.zeros((), dtype=x.dtype), x / np.where(size == 0, 1, size))
    return (finish_grad(np.asarray(cotangent) * direction, x),)


ABS = register(Op(
    "abs", ("x",), abs_, abs_vjp, {},
    "absolute value |x|, elementwise (grad 0 at x = 0; complex z: real |z|, grad z/|z|)",
    torch=lambda torch, x: torch.abs(x),
    tensorflow=lambda tf, x: tf.math.abs(x),
    jax=lambda jax, x: jax.numpy.abs(x),
    in_expr=True, complex=True))


# ---------------------------------------------------------------- log1p, expm1
# ln(1 + x) and e^x - 1 without the cancellation of forming 1 + x or e^x first: for |x| ~ 1e-10,
# log(1 + x) keeps only ~6 significant digits of x, log1p all of them.

def log1p(x):
    x = as_float(x)
    return out(np.log1p(x), x.dtype)


LOG1P = unary(
    "log1p", log1p, lambda x, y: 1 / (1 + x),  # (ln(1 + x))' = 1 / (1 + x)
    "ln(1 + x), elementwise, accurate near 0, needs x > -1",
    torch=lambda torch, x: torch.log1p(x),
    tensorflow=lambda tf, x: tf.math.log1p(x),
    jax=lambda jax, x: jax.numpy.log1p(x),
    in_expr=True)


def expm1(x):
    x = as_float(x)
    return out(np.expm1(x), x.dtype)


EXPM1 = unary(
    "expm1", expm1, lambda x, y: y + 1,  # (e^x - 1)' = e^x = y + 1
    "e^x - 1, elementwise, accurate near 0",
    torch=lambda torch, x: torch.expm1(x),
    tensorflow=lambda tf, x: tf.math.expm1(x),
    jax=lambda jax, x: jax.numpy.expm1(x),
    in_expr=True)
