"""Normalisation layers: layer_norm and batch_norm (training-mode statistics), as registry entries.

Both standardise x over a set of axes A and then scale and shift:

    mu = mean_A(x),   var = mean_A((x - mu)^2)   (biased, as torch's forward uses),
    xhat = (x - mu) / sqrt(var + eps),   y = weight * xhat + bias.

layer_norm reduces over the last axis (weight, bias of shape (D,)); batch_norm reduces over every
axis but the channel axis 1 (weight, bias of shape (C,)), with the batch's own statistics, as
torch does in training mode. They differ only in A and in how weight lines up with x.
"""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.registry import Op, register


def _eps(value, key):
    """A positive float: it keeps 1/sqrt(var + eps) finite for a constant group."""
    try:
        eps = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        eps = None
    if eps is None or not eps > 0:
        raise ValueError(f"param {key!r}: expected a positive number, got {value!r}")
    return eps


def standardize(x, axes, eps):
    """(xhat, 1/sigma) over `axes`, both broadcastable against x (keepdims)."""
    mu = np.mean(x, axis=axes, keepdims=True)
    centered = x - mu
    inv_sigma = 1.0 / np.sqrt(np.mean(centered * centered, axis=axes, keepdims=True) + eps)
    return centered * inv_sigma, inv_sigma


def standardize_vjp(xhat, inv_sigma, dxhat, axes):
    """The gradient through xhat = (x - mu) / sigma, the statistics included.

    With n elements in each reduced group, d mu/dx_j = 1/n and d var/dx_j = 2 (x_j - mu)/n, so
        d xhat_i / d x_j = (delta_ij - 1/n - xhat_i xhat_j / n) / sigma
    (symmetric), and dx = (dxhat - mean_A(dxhat) - xhat * mean_A(dxhat * xhat)) / sigma.
    The two means are the gradient flowing through mu and through var: leaving them out is the
    classic wrong batch-norm backward that treats the statistics as constants.
    """
    return inv_sigma * (dxhat - np.mean(dxhat, axis=axes, keepdims=True)
                        - xhat * np.mean(dxhat * xhat, axis=axes, keepdims=True))


def _affine_vjp(x, weight, bias, cotangent, eps, axes, channel_shape):
    """The VJP of y = weight * xhat + bias, weight and bias reshaped to `channel_shape`."""
    xhat, inv_sigma = standardize(x, axes, eps)
    dy = np.asarray(cotangent)
    lined_up = weight.reshape(channel_shape)
    dx = standardize_vjp(xhat, inv_sigma, dy * lined_up, axes)
    # weight and bias are broadcast along every axis they lack: their gradients sum over those
    # (the rows for layer_norm, batch and space for batch_norm).
    dweight = finish_grad(dy * xhat, lined_up).reshape(weight.shape)
    dbias = finish_grad(dy, lined_up).reshape(bias.shape)
    return finish_grad(dx, x), dweight, dbias


def _check_affine(name, x, weight, bias, axis, min_ndim):
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: x must have at least {min_ndim} axes, got shape {x.shape}")
    for key, a in (("weight", weight), ("bias", bias)):
        if a.shape != (x.shape[axis],):
            raise ValueError(f"{name}: {key} must have shape ({x.shape[axis]},) to match axis {axis} "
                             f"of x {x.shape}, got {a.shape}")


def _dtype(*arrays):
    return np.result_type(*(a.dtype for a in arrays))


# ---------------------------------------------------------------------------
# layer_norm: statistics over the last axis of each row
# ---------------------------------------------------------------------------

def layer_norm(x, weight, bias, eps=1e-5):
    x, weight, bias = as_float(x), as_float(weight), as_float(bias)
    _check_affine("layer_norm", x, weight, bias, -1, 1)
    xhat, _ = standardize(x, -1, eps)
    return np.asarray(xhat * weight + bias, dtype=_dtype(x, weight, bias))


def layer_norm_vjp(x, weight, bias, cotangent, eps=1e-5):
    x, weight, bias = as_float(x), as_float(weight), as_float(bias)
    _check_affine("layer_norm", x, weight, bias, -1, 1)
    return _affine_vjp(x, weight, bias, cotangent, eps, -1, weight.shape)


def _centered_moments(mean, x, axes):
    """(x - mu, biased var) in a framework, `mean` its keepdims-capable mean."""
    centered = x - mean(x, axis=axes, keepdims=True)
    return centered, mean(centered * centered, axis=axes, keepdims=True)


def _tensorflow_layer_norm(tf, x, weight, bias, eps=1e-5):
    centered, var = _centered_moments(tf.reduce_mean, x, -1)
    return centered * tf.math.rsqrt(var + eps) * weight + bias


def _jax_layer_norm(jax, x, weight, bias, eps=1e-5):
    centered, var = _centered_moments(jax.numpy.mean, x, -1)
    return centered * jax.lax.rsqrt(var + eps) * weight + bias


LAYER_NORM = register(Op(
    "layer_norm", ("x", "weight", "bias"), layer_norm, layer_norm_vjp, {"eps": 1e-5},
    "normalise over the last axis, then weight * xhat + bias",
    validators={"eps": _eps},
    torch=lambda torch, x, weight, bias, eps=1e-5: torch.nn.functional.layer_norm(
        x, (x.shape[-1],), weight, bias, eps),
    tensorflow=_tensorflow_layer_norm, jax=_jax_layer_norm))


# ---------------------------------------------------------------------------
# batch_norm: statistics over every axis but the channel axis 1
# ---------------------------------------------------------------------------

def _batch_axes(x):
    return (0, *range(2, x.ndim))


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(x, weight, bias, eps=1e-5):
    x, weight, bias = as_float(x), as_float(weight), as_float(bias)
    _check_affine("batch_norm", x, weight, bias, 1, 2)
    xhat, _ = standardize(x, _batch_axes(x), eps)
    shape = _channel_shape(x)
    return np.asarray(xhat * weight.reshape(shape) + bias.reshape(shape), dtype=_dtype(x, weight, bias))


def batch_norm_vjp(x, weight, bias, cotangent, eps=1e-5):
    x, weight, bias = as_float(x), as_float(weight), as_float(bias)
    _check_affine("batch_norm", x, weight, bias, 1, 2)
    return _affine_vjp(x, weight, bias, cotangent, eps, _batch_axes(x), _channel_shape(x))


def _tensorflow_batch_norm(tf, x, weight, bias, eps=1e-5):
    axes = list(_batch_axes(x))
    mean, var = tf.nn.moments(x, axes, keepdims=True)
    shape = _channel_shape(x)
    return tf.nn.batch_normalization(x, mean, var, tf.reshape(bias, shape), tf.reshape(weight, shape), eps)


def _jax_batch_norm(jax, x, weight, bias, eps=1e-5):
    centered, var = _centered_moments(jax.numpy.mean, x, _batch_axes(x))
    shape = _channel_shape(x)
    return centered * jax.lax.rsqrt(var + eps) * weight.reshape(shape) + bias.reshape(shape)


BATCH_NORM = register(Op(
    "batch_norm", ("x", "weight", "bias"), batch_norm, batch_norm_vjp, {"eps": 1e-5},
    "batch norm, training-mode statistics over all but axis 1",
    validators={"eps": _eps},
    torch=lambda torch, x, weight, bias, eps=1e-5: torch.nn.functional.batch_norm(
        x, None, None, weight, bias, training=True, eps=eps),
    tensorflow=_tensorflow_batch_norm, jax=_jax_batch_norm))
