"""Elementwise ops: sigmoid, relu, tanh, exp, log.

For an elementwise map z = f(x) the Jacobian is diagonal, so the
vector-Jacobian product is simply dx = dz * f'(x), evaluated pointwise.
Each derivative below is written in terms of the forward value where that
is cheaper or more stable than differentiating the formula directly.

This module also holds the small shape/dtype helpers shared by the other op
modules (``as_float``, ``finish_grad``).
"""

import numpy as np


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------

def as_float(x):
    """Return ``x`` as an ndarray with a floating dtype.

    Floating arrays keep their dtype (float32 stays float32); integer/bool
    input is promoted to float64 so derivatives make sense.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def unbroadcast(g, shape):
    """Reduce a gradient ``g`` to ``shape`` by summing over broadcast axes.

    If an input was broadcast in the forward pass, every copy of an element
    contributed to the output, so (chain rule) its gradient is the sum of the
    gradients of all copies: sum over leading axes that the input lacks and
    over axes where the input has size 1.  If ``g`` is *smaller* than
    ``shape`` (a broadcastable cotangent) it is broadcast up instead.
    """
    g = np.asarray(g)
    shape = tuple(shape)
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    elif extra < 0:
        g = g.reshape((1,) * (-extra) + g.shape)
    axes = tuple(i for i, (gs, s) in enumerate(zip(g.shape, shape))
                 if s == 1 and gs != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if g.shape != shape:
        g = np.broadcast_to(g, shape)
    return g


def finish_grad(g, like):
    """Give gradient ``g`` the shape and dtype of input ``like``, as a
    fresh writable ndarray (never a read-only broadcast view)."""
    g = unbroadcast(g, like.shape)
    g = np.asarray(g, dtype=like.dtype)
    if not g.flags.writeable:
        g = g.copy()
    return g


def _out(y, dtype):
    """Forward results are ndarrays (0-d stays an array, not a numpy scalar)
    with the input's dtype."""
    return np.asarray(y, dtype=dtype)


# ---------------------------------------------------------------------------
# sigmoid
# ---------------------------------------------------------------------------

def sigmoid(x):
    # s(x) = 1 / (1 + e^-x).  Evaluated with e = e^-|x| <= 1 so nothing
    # overflows: for x >= 0, s = 1/(1+e); for x < 0, s = e/(1+e)
    # (multiply numerator and denominator by e^x).
    x = as_float(x)
    e = np.exp(-np.abs(x))
    one = np.ones((), dtype=x.dtype)
    s = np.where(x >= 0, one / (one + e), e / (one + e))
    return _out(s, x.dtype)


def sigmoid_vjp(x, cotangent):
    # s'(x) = s(x) * (1 - s(x)), so dx = dz * s * (1 - s).
    x = as_float(x)
    s = sigmoid(x)
    return (finish_grad(np.asarray(cotangent) * s * (1 - s), x),)


# ---------------------------------------------------------------------------
# relu
# ---------------------------------------------------------------------------

def relu(x):
    # max(x, 0); np.where (rather than x * (x > 0)) avoids producing -0.0.
    x = as_float(x)
    return _out(np.where(x > 0, x, np.zeros((), dtype=x.dtype)), x.dtype)


def relu_vjp(x, cotangent):
    # relu'(x) = 1 for x > 0 and 0 for x < 0; at the kink x = 0 we choose
    # the subgradient 0, i.e. dx = dz * (x > 0).
    x = as_float(x)
    return (finish_grad(np.asarray(cotangent) * (x > 0), x),)


# ---------------------------------------------------------------------------
# tanh
# ---------------------------------------------------------------------------

def tanh(x):
    x = as_float(x)
    return _out(np.tanh(x), x.dtype)


def tanh_vjp(x, cotangent):
    # d/dx tanh(x) = 1 - tanh(x)^2  (= sech^2 x).
    x = as_float(x)
    t = np.tanh(x)
    return (finish_grad(np.asarray(cotangent) * (1 - t * t), x),)


# ---------------------------------------------------------------------------
# exp
# ---------------------------------------------------------------------------

def exp(x):
    x = as_float(x)
    return _out(np.exp(x), x.dtype)


def exp_vjp(x, cotangent):
    # d/dx e^x = e^x.
    x = as_float(x)
    return (finish_grad(np.asarray(cotangent) * np.exp(x), x),)


# ---------------------------------------------------------------------------
# log
# ---------------------------------------------------------------------------

def log(x):
    # Natural log; only defined for x > 0 (domain "positive").
    x = as_float(x)
    return _out(np.log(x), x.dtype)


def log_vjp(x, cotangent):
    # d/dx ln(x) = 1/x.
    x = as_float(x)
    return (finish_grad(np.asarray(cotangent) / x, x),)
