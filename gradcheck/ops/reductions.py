"""Reductions: sum, mean, and softmax (a normalisation along one axis), as registry entries.

Axis conventions, one definition followed by the NumPy op, its VJP and every lowering:

- `axis: null` (the default) reduces every axis.
- `axis: []` reduces *no* axis (NumPy's meaning: the empty set of axes), so sum and mean are the
  identity. torch reads `dim=[]` as "every axis"; its lowering reduces over a new length-1 axis
  instead, so that it agrees. A torch sample written `dim=[]` is therefore `axis: []` only where
  the two meanings coincide (a 0-d input); otherwise it is `axis: null`.
- A 0-d input has no axes, but axis 0 or -1 names the scalar itself (as torch allows): reducing
  over a single element changes nothing, so it reduces no axis.
- `keepdims: true` keeps each reduced axis with length 1 (NumPy's spelling; torch's `keepdim`).
"""

import operator

import numpy as np

from gradcheck.dtypes import numpy_dtype
from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.registry import Op, UnsupportedLowering, register

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


def normalize_keepdims(value, key="keepdims"):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"param {key!r}: expected true or false, got {value!r}")
    return bool(value)


def reduced_axes(axis, ndim):
    """The axes a sum/mean reduces, as a sorted tuple of non-negative ints (see the module notes).

    None -> every axis; an int or a list -> those axes; [] -> none. On a 0-d input, axis 0 or -1
    is the scalar itself and reduces no axis.
    """
    axis = normalize_axis_param(axis)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else axis
    if ndim == 0:
        bad = [a for a in axes if a not in (0, -1)]
        if bad:
            raise np.exceptions.AxisError(bad[0], 1)
        return ()
    for a in axes:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
    out = sorted(a % ndim for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"param 'axis': repeated axis in {axis!r}")
    return tuple(out)


def broadcast_back_axes(x, cotangent, axes, keepdims=False):
    """Undo a reduction for the cotangent.

    Each input element feeds exactly one output element (the one obtained by
    deleting the reduced axes), with partial derivative 1 for sum.  So the
    VJP copies dz back along the reduced axes: re-insert them as size-1 axes
    (already there with keepdims) and broadcast to x's shape.  Any extra
    leading axes of dz (beyond the reduced output's rank) are treated as
    broadcast batch axes and summed out by finish_grad.
    """
    dz = np.asarray(cotangent)
    out_ndim = x.ndim if keepdims else x.ndim - len(axes)
    extra = dz.ndim - out_ndim
    if extra < 0:
        raise ValueError(
            f"cotangent of shape {dz.shape} does not match the reduced output "
            f"(rank {out_ndim}) of input shape {x.shape}")
    if not keepdims:
        dz = np.expand_dims(dz, tuple(extra + a for a in axes))
    return np.broadcast_to(dz, dz.shape[:extra] + x.shape)


# ---------------------------------------------------------------------------
# lowerings shared by sum and mean: the axes resolved here, so every framework reduces the same
# ones (TF and JAX refuse axis -1 on a 0-d tensor; torch reads dim=[] as every axis).
# ---------------------------------------------------------------------------

def broadcast_back(x, cotangent, axis):
    """The cotangent of a reduction over `axis` (not kept) copied back to x's shape, and the axes reduced."""
    axes = reduced_axes(axis, x.ndim)
    return broadcast_back_axes(x, cotangent, axes), axes


def tf_axis(axis):
    """TensorFlow wants a list where NumPy takes a tuple of axes."""
    return list(axis) if isinstance(axis, tuple) else axis


def torch_reduction(reduce, x, axis=None, keepdims=False):
    """reduce (torch.sum or torch.mean) over the axes our convention names."""
    axes = reduced_axes(axis, x.ndim)
    if not axes:
        # Reducing no axis is the identity; torch would read dim=() as every axis, so reduce over
        # a new length-1 axis instead: the same values, and still torch's own reduction.
        return reduce(x.unsqueeze(0), dim=0)
    return reduce(x, dim=axes, keepdim=keepdims)


def tensorflow_reduction(reduce, x, axis=None, keepdims=False):
    # tf.reduce_sum / reduce_mean read axis=[] as "no axis", as we do.
    return reduce(x, axis=list(reduced_axes(axis, x.ndim)), keepdims=keepdims)


def jax_reduction(reduce, x, axis=None, keepdims=False):
    return reduce(x, axis=reduced_axes(axis, x.ndim), keepdims=keepdims)


REDUCTION_PARAMS = {"axis": None, "keepdims": False}
REDUCTION_VALIDATORS = {"axis": normalize_axis_param, "keepdims": normalize_keepdims}


# ---------------------------------------------------------------------------
# sum
# ---------------------------------------------------------------------------

def sum_(x, axis=None, keepdims=False):
    x = as_float(x)
    axes = reduced_axes(axis, x.ndim)
    return np.asarray(np.sum(x, axis=axes, keepdims=keepdims), dtype=x.dtype)


def sum_vjp(x, cotangent, axis=None, keepdims=False):
    # d(sum)/dx_i = 1 for every summed element: dx = dz broadcast back.
    x = as_float(x)
    g = broadcast_back_axes(x, cotangent, reduced_axes(axis, x.ndim), keepdims)
    return (finish_grad(g, x),)


SUM = register(Op(
    "sum", ("x",), sum_, sum_vjp, REDUCTION_PARAMS,
    "sum over axis (null: every axis; []: none; int or list of ints); keepdims",
    validators=REDUCTION_VALIDATORS,
    torch=lambda torch, x, **params: torch_reduction(torch.sum, x, **params),
    tensorflow=lambda tf, x, **params: tensorflow_reduction(tf.reduce_sum, x, **params),
    jax=lambda jax, x, **params: jax_reduction(jax.numpy.sum, x, **params), in_expr=True,
    complex=True))  # linear, so its VJP (dz broadcast back) holds for complex values as written


# ---------------------------------------------------------------------------
# mean
# ---------------------------------------------------------------------------

def mean(x, axis=None, keepdims=False):
    x = as_float(x)
    axes = reduced_axes(axis, x.ndim)
    return np.asarray(np.mean(x, axis=axes, keepdims=keepdims), dtype=x.dtype)


def mean_vjp(x, cotangent, axis=None, keepdims=False):
    # mean = sum / n with n the number of reduced elements, so each element's
    # partial derivative is 1/n: dx = dz broadcast back, divided by n.
    x = as_float(x)
    axes = reduced_axes(axis, x.ndim)
    g = broadcast_back_axes(x, cotangent, axes, keepdims)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return (finish_grad(g / count if count else g, x),)


MEAN = register(Op(
    "mean", ("x",), mean, mean_vjp, REDUCTION_PARAMS,
    "arithmetic mean over axis (null: every axis; []: none; int or list of ints); keepdims",
    validators=REDUCTION_VALIDATORS,
    torch=lambda torch, x, **params: torch_reduction(torch.mean, x, **params),
    tensorflow=lambda tf, x, **params: tensorflow_reduction(tf.reduce_mean, x, **params),
    jax=lambda jax, x, **params: jax_reduction(jax.numpy.mean, x, **params), in_expr=True,
    complex=True))  # linear: dz / n broadcast back holds for complex values


# ---------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------
# `dtype` (torch's keyword): the input is cast to it before the softmax, and the output has it;
# the gradient comes back in the input's own dtype. null keeps the input's dtype. A dtype
# narrower than the case's makes the forward, and so the reference, that narrow: check such a
# case in that dtype (its tolerances), not in float64.

SOFTMAX_DTYPES = ("float32", "float64")


def normalize_softmax_dtype(value, key="dtype"):
    if value is not None and value not in SOFTMAX_DTYPES:
        raise ValueError(f"param {key!r}: expected null or one of {', '.join(SOFTMAX_DTYPES)}, got {value!r}")
    return value


def _scalar_axis(axis):
    """A 0-d input is its own one-element axis: axis 0 or -1 (as torch allows), nothing else."""
    if axis not in (0, -1):
        raise np.exceptions.AxisError(axis, 1)


def _softmax_input(x, axis, dtype):
    """x as a float array in `dtype`, viewed with at least one axis (a 0-d x as shape (1,))."""
    x = as_float(x)
    if dtype is not None:
        x = x.astype(numpy_dtype(dtype))
    axis = normalize_softmax_axis(axis)
    if x.ndim == 0:
        _scalar_axis(axis)
        return x.reshape(1), 0
    return x, axis


def softmax(x, axis=-1, dtype=None):
    # s_i = e^{x_i} / sum_j e^{x_j}.  Subtracting max(x) along the axis
    # leaves s unchanged (common factor e^{-max} cancels) and keeps every
    # exponent <= 0, so nothing overflows. `initial=-inf` makes the max of a
    # zero-length axis -inf rather than an error: there is nothing to normalise.
    # One array takes x - max, its exponential and the quotient in turn: the
    # differences call softmax on batches of points, where each fresh
    # temporary costs more than the arithmetic (2.6 times as long, 32 x 1,000).
    shape = np.shape(x)
    x, axis = _softmax_input(x, axis, dtype)
    e = np.subtract(x, np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    np.exp(e, out=e)
    e /= np.sum(e, axis=axis, keepdims=True)
    return e.reshape(shape)


def softmax_vjp(x, cotangent, axis=-1, dtype=None):
    # Jacobian ds_i/dx_j = s_i (delta_ij - s_j) (symmetric).  Hence
    # dx_j = sum_i dz_i s_i (delta_ij - s_j) = s_j * (dz_j - sum_i dz_i s_i),
    # i.e. dx = s * (dz - sum(dz * s, axis, keepdims=True)). On a 0-d x, s = 1
    # and dx = 0: the softmax of one element is constant.
    original = as_float(x)
    x, axis = _softmax_input(original, axis, dtype)
    s = softmax(x, axis=axis)
    dz = np.asarray(cotangent)
    if original.ndim == 0:
        dz = dz.reshape(dz.shape + (1,))
    dx = s * (dz - np.sum(dz * s, axis=axis, keepdims=True))
    if original.ndim == 0:
        dx = dx[..., 0]
    return (finish_grad(dx, original),)


def lowered_softmax(softmax_along, cast, x, axis=-1, dtype=None):
    """softmax_along(x, axis) in a framework, after cast(x, dtype), a 0-d x as one element."""
    if dtype is not None:
        x = cast(x, dtype)
    if len(x.shape) == 0:  # TF and JAX refuse an axis on a 0-d tensor
        _scalar_axis(axis)
        return softmax_along(x[None], 0)[0]
    return softmax_along(x, axis)


def _torch_dtype(torch, name):
    return {"float32": torch.float32, "float64": torch.float64}[name]


def _jax_cast(jax, t, name):
    # Outside 64-bit mode (JAX's default, kept for float32 cases) a float64 request would quietly
    # compute in float32: not what was asked, so this framework is skipped, saying why.
    if jax.dtypes.canonicalize_dtype(name) != np.dtype(name):
        raise UnsupportedLowering(f"softmax dtype {name} needs JAX's 64-bit mode, off for a "
                                  f"{t.dtype} case (enable jax_enable_x64, or run it as float64)")
    return t.astype(name)


SOFTMAX = register(Op(
    "softmax", ("x",), softmax, softmax_vjp, {"axis": -1, "dtype": None},
    "softmax e^x / sum(e^x) along axis (max-shifted, stable); dtype: cast first",
    validators={"axis": normalize_softmax_axis, "dtype": normalize_softmax_dtype},
    torch=lambda torch, x, **params: lowered_softmax(
        lambda t, a: torch.softmax(t, dim=a), lambda t, d: t.to(_torch_dtype(torch, d)), x, **params),
    tensorflow=lambda tf, x, **params: lowered_softmax(
        lambda t, a: tf.nn.softmax(t, axis=a), tf.cast, x, **params),
    jax=lambda jax, x, **params: lowered_softmax(
        lambda t, a: jax.nn.softmax(t, axis=a), lambda t, d: _jax_cast(jax, t, d), x, **params)))
