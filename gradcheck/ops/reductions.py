"""Reductions: sum, mean, and softmax (a normalisation along one axis), as registry entries."""

import operator

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.registry import Op, register

# ---------------------------------------------------------------------------
# axis handling
# ---------------------------------------------------------------------------

def _as_int(v):
    """operator.index, but rejecting bools (True is not an axis)."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError("bool is not an integer axis")
    return operator.index(v)


def normalize_axis_param(axis, key="axis"):
    """Validate a sum/mean axis: None, an int, or a list/tuple of ints.

    Returns None, an int, or a tuple of ints.  Raises ValueError naming the
    key for anything else (including repeated axes).
    """
    if axis is None:
        return None
    try:
        return _as_int(axis)
    except TypeError:
        pass
    if isinstance(axis, (list, tuple)):
        try:
            out = tuple(_as_int(a) for a in axis)
        except TypeError:
            out = None
        if out is not None:
            if len(set(out)) != len(out):
                raise ValueError(f"param {key!r}: repeated axis in {axis!r}")
            return out
    raise ValueError(
        f"param {key!r}: expected None, an int or a list of ints, got {axis!r}")


def normalize_softmax_axis(axis, key="axis"):
    try:
        return _as_int(axis)
    except TypeError:
        raise ValueError(f"param {key!r}: expected an int, got {axis!r}") from None


def reduced_axes(axis, ndim):
    """Reduced axes as a sorted tuple of non-negative ints (None = all)."""
    axis = normalize_axis_param(axis)
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"param 'axis': repeated axis in {axis!r}")
    return tuple(sorted(out))


def broadcast_back(x, cotangent, axis):
    """Undo a reduction for the cotangent.

    Each input element feeds exactly one output element (the one obtained by
    deleting the reduced axes), with partial derivative 1 for sum.  So the
    VJP copies dz back along the reduced axes: re-insert them as size-1 axes
    and broadcast to x's shape.  Any extra leading axes of dz (beyond the
    reduced output's rank) are treated as broadcast batch axes and summed
    out by finish_grad.
    """
    axes = reduced_axes(axis, x.ndim)
    dz = np.asarray(cotangent)
    out_ndim = x.ndim - len(axes)
    extra = dz.ndim - out_ndim
    if extra < 0:
        raise ValueError(
            f"cotangent of shape {dz.shape} does not match the reduced output "
            f"(rank {out_ndim}) of input shape {x.shape}")
    dz = np.expand_dims(dz, tuple(extra + a for a in axes))
    return np.broadcast_to(dz, dz.shape[:extra] + x.shape), axes


# ---------------------------------------------------------------------------
# sum
# ---------------------------------------------------------------------------

def sum_(x, axis=None):
    x = as_float(x)
    axis = normalize_axis_param(axis)
    return np.asarray(np.sum(x, axis=axis), dtype=x.dtype)


def sum_vjp(x, cotangent, axis=None):
    # d(sum)/dx_i = 1 for every summed element: dx = dz broadcast back.
    x = as_float(x)
    g, _ = broadcast_back(x, cotangent, axis)
    return (finish_grad(g, x),)


# ---------------------------------------------------------------------------
# mean
# ---------------------------------------------------------------------------

def tf_axis(axis):
    return list(axis) if isinstance(axis, tuple) else axis


SUM = register(Op(
    "sum", ("x",), sum_, sum_vjp, {"axis": None},
    "sum over axis (None: all elements; int or list of ints)",
    validators={"axis": normalize_axis_param},
    torch=lambda torch, x, axis=None: torch.sum(x) if axis is None else torch.sum(x, dim=axis),
    tensorflow=lambda tf, x, axis=None: tf.reduce_sum(x, axis=tf_axis(axis)),
    jax=lambda jax, x, axis=None: jax.numpy.sum(x, axis=axis), in_expr=True))


def mean(x, axis=None):
    x = as_float(x)
    axis = normalize_axis_param(axis)
    return np.asarray(np.mean(x, axis=axis), dtype=x.dtype)


def mean_vjp(x, cotangent, axis=None):
    # mean = sum / n with n the number of reduced elements, so each element's
    # partial derivative is 1/n: dx = dz broadcast back, divided by n.
    x = as_float(x)
    g, axes = broadcast_back(x, cotangent, axis)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return (finish_grad(g / count if count else g, x),)


MEAN = register(Op(
    "mean", ("x",), mean, mean_vjp, {"axis": None},
    "arithmetic mean over axis (None: all elements; int or list of ints)",
    validators={"axis": normalize_axis_param},
    torch=lambda torch, x, axis=None: torch.mean(x) if axis is None else torch.mean(x, dim=axis),
    tensorflow=lambda tf, x, axis=None: tf.reduce_mean(x, axis=tf_axis(axis)),
    jax=lambda jax, x, axis=None: jax.numpy.mean(x, axis=axis), in_expr=True))


# ---------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------

def softmax(x, axis=-1):
    # s_i = e^{x_i} / sum_j e^{x_j}.  Subtracting max(x) along the axis
    # leaves s unchanged (common factor e^{-max} cancels) and keeps every
    # exponent <= 0, so nothing overflows.
    x = as_float(x)
    axis = normalize_softmax_axis(axis)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return np.asarray(e / np.sum(e, axis=axis, keepdims=True), dtype=x.dtype)


def softmax_vjp(x, cotangent, axis=-1):
    # Jacobian ds_i/dx_j = s_i (delta_ij - s_j) (symmetric).  Hence
    # dx_j = sum_i dz_i s_i (delta_ij - s_j) = s_j * (dz_j - sum_i dz_i s_i),
    # i.e. dx = s * (dz - sum(dz * s, axis, keepdims=True)).
    x = as_float(x)
    axis = normalize_softmax_axis(axis)
    s = softmax(x, axis=axis)
    dz = np.asarray(cotangent)
    dx = s * (dz - np.sum(dz * s, axis=axis, keepdims=True))
    return (finish_grad(dx, x),)


SOFTMAX = register(Op(
    "softmax", ("x",), softmax, softmax_vjp, {"axis": -1},
    "softmax e^x / sum(e^x) along axis (max-shifted, stable)",
    validators={"axis": normalize_softmax_axis},
    torch=lambda torch, x, axis=-1: torch.softmax(x, dim=axis),
    tensorflow=lambda tf, x, axis=-1: tf.nn.softmax(x, axis=axis),
    jax=lambda jax, x, axis=-1: jax.nn.softmax(x, axis=axis)))
