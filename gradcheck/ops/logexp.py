"""Log-sum-exp and its relatives along axes: logsumexp, log_softmax, cumsum (a running sum) and
norm (the L2 norm), as registry entries.

logsumexp and log_softmax are computed around the maximum, which changes no value and keeps every
exponent <= 0; norm is computed around the largest magnitude for the same reason.
"""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad, out
from gradcheck.ops.reductions import (
    broadcast_back,
    normalize_axis_param,
    normalize_softmax_axis,
    reduced_axes,
    tf_axis,
)
from gradcheck.ops.registry import Op, register


def _torch_every_axis(x, axis):
    """torch.logsumexp needs its dims spelled out: None is every axis."""
    return tuple(range(x.ndim)) if axis is None else axis


# ---------------------------------------------------------------- logsumexp


def logsumexp_keepdims(x, axes):
    """log sum_i e^{x_i} over `axes`, the reduced axes kept with size 1.

    For any m, log sum e^{x_i} = m + log sum e^{x_i - m}. With m = max x_i every exponent is
    <= 0 (no overflow) and one term is e^0 = 1 (the log never sees an underflowed 0). A slice of
    -inf alone has no finite maximum: m = 0 there, giving log 0 = -inf rather than NaN.
    """
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))


def logsumexp(x, axis=None):
    x = as_float(x)
    axes = reduced_axes(axis, x.ndim)
    return out(np.squeeze(logsumexp_keepdims(x, axes), axis=axes), x.dtype)


def logsumexp_vjp(x, cotangent, axis=None):
    # d/dx_i log sum_j e^{x_j} = e^{x_i} / sum_j e^{x_j} = e^{x_i - lse}: the softmax over the
    # reduced axes. dx = dz (broadcast back along the reduced axes) * softmax.
    x = as_float(x)
    g, axes = broadcast_back(x, cotangent, axis)
    return (finish_grad(g * np.exp(x - logsumexp_keepdims(x, axes)), x),)


LOGSUMEXP = register(Op(
    "logsumexp", ("x",), logsumexp, logsumexp_vjp, {"axis": None},
    "log sum e^x over axis (None: all; int or list of ints), max-shifted",
    validators={"axis": normalize_axis_param},
    torch=lambda torch, x, axis=None: torch.logsumexp(x, dim=_torch_every_axis(x, axis)),
    tensorflow=lambda tf, x, axis=None: tf.reduce_logsumexp(x, axis=tf_axis(axis)),
    jax=lambda jax, x, axis=None: jax.nn.logsumexp(x, axis=axis), in_expr=True))


# ---------------------------------------------------------------- log_softmax


def log_softmax(x, axis=-1):
    # log s_i = x_i - log sum_j e^{x_j}, the shifted logsumexp keeping it finite for large x.
    x = as_float(x)
    return out(x - logsumexp_keepdims(x, reduced_axes(normalize_softmax_axis(axis), x.ndim)), x.dtype)


def log_softmax_vjp(x, cotangent, axis=-1):
    # y_i = x_i - lse(x), so dy_i/dx_j = delta_ij - s_j with s the softmax. Then
    # dx_j = sum_i dz_i (delta_ij - s_j) = dz_j - s_j sum_i dz_i along the axis.
    x = as_float(x)
    axis = normalize_softmax_axis(axis)
    dz = np.asarray(cotangent)
    s = np.exp(log_softmax(x, axis=axis))
    return (finish_grad(dz - s * np.sum(dz, axis=axis, keepdims=True), x),)


LOG_SOFTMAX = register(Op(
    "log_softmax", ("x",), log_softmax, log_softmax_vjp, {"axis": -1},
    "x - logsumexp(x) along axis (an int), max-shifted",
    validators={"axis": normalize_softmax_axis},
    torch=lambda torch, x, axis=-1: torch.log_softmax(x, dim=axis),
    tensorflow=lambda tf, x, axis=-1: tf.nn.log_softmax(x, axis=axis),
    jax=lambda jax, x, axis=-1: jax.nn.log_softmax(x, axis=axis)))


# ---------------------------------------------------------------- cumsum


def cumsum(x, axis=-1):
    x = as_float(x)
    return out(np.cumsum(x, axis=normalize_softmax_axis(axis)), x.dtype)


def cumsum_vjp(x, cotangent, axis=-1):
    # y_i = sum_{j <= i} x_j along the axis, so dy_i/dx_j = 1 for i >= j and
    # dx_j = sum_{i >= j} dz_i: the cumulative sum of dz taken from the far end.
    # The axis counts from the end, so a cotangent with extra leading batch axes is summed right.
    x = as_float(x)
    axis = reduced_axes(normalize_softmax_axis(axis), x.ndim)[0] - x.ndim
    dz = np.asarray(cotangent)
    return (finish_grad(np.flip(np.cumsum(np.flip(dz, axis), axis=axis), axis), x),)


CUMSUM = register(Op(
    "cumsum", ("x",), cumsum, cumsum_vjp, {"axis": -1},
    "running sum along axis (an int)",
    validators={"axis": normalize_softmax_axis},
    torch=lambda torch, x, axis=-1: torch.cumsum(x, dim=axis),
    tensorflow=lambda tf, x, axis=-1: tf.math.cumsum(x, axis=axis),
    jax=lambda jax, x, axis=-1: jax.numpy.cumsum(x, axis=axis)))


# ---------------------------------------------------------------- norm


def _norm_keepdims(x, axes):
    # sqrt(sum x_i^2) = m sqrt(sum (x_i / m)^2) with m = max |x_i|: the squares stay <= 1, so
    # they neither overflow (|x| > 1e154 in float64) nor all underflow. m = 1 for a zero slice.
    m = np.max(np.abs(x), axis=axes, keepdims=True)
    m = np.where(m > 0, m, 1)
    return m * np.sqrt(np.sum(np.square(x / m), axis=axes, keepdims=True))


def norm(x, axis=None):
    x = as_float(x)
    axes = reduced_axes(axis, x.ndim)
    return out(np.squeeze(_norm_keepdims(x, axes), axis=axes), x.dtype)


def norm_vjp(x, cotangent, axis=None):
    # d/dx_i sqrt(sum_j x_j^2) = x_i / n. At the zero vector n has a kink (a cone): its
    # subgradients are the unit ball, and 0, the smallest, is taken (as torch does); x / n
    # would be 0 / 0 there.
    x = as_float(x)
    g, axes = broadcast_back(x, cotangent, axis)
    n = _norm_keepdims(x, axes)
    return (finish_grad(g * np.where(n > 0, x / np.where(n > 0, n, 1), 0), x),)


def _norm_lowering(reduce_any, where, norm_of):
    """A framework's own norm, but 0 with gradient 0 on a zero slice (the op's subgradient there, as
    torch gives): TensorFlow's and JAX's norms give NaN gradients at the zero vector (0 * sqrt'(0)),
    which `gradcheck explore` found at x = 0. The double where keeps their norm everywhere else."""
    def lowered(x, axis):
        n = norm_of(where(reduce_any(x != 0, axis, True), x, 1.0 + 0 * x), axis)
        return where(reduce_any(x != 0, axis, False), n, 0 * n)
    return lowered


def _tf_norm(tf, x, axis=None):
    return _norm_lowering(lambda b, a, keep: tf.math.reduce_any(b, axis=tf_axis(a), keepdims=keep), tf.where,
                          lambda v, a: tf.math.reduce_euclidean_norm(v, axis=tf_axis(a)))(x, axis)


def _jax_norm(jax, x, axis=None):
    numpy = jax.numpy
    return _norm_lowering(lambda b, a, keep: numpy.any(b, axis=a, keepdims=keep), numpy.where,
                          lambda v, a: numpy.linalg.vector_norm(v, axis=a))(x, axis)


NORM = register(Op(
    "norm", ("x",), norm, norm_vjp, {"axis": None},
    "L2 norm over axis (None: all; int or list of ints); kink at 0 (grad 0)",
    validators={"axis": normalize_axis_param},
    torch=lambda torch, x, axis=None: torch.linalg.vector_norm(x, dim=axis),
    tensorflow=_tf_norm, jax=_jax_norm))
