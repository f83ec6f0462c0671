"""Shape ops: transpose, reshape, concat. Each moves elements without changing them, so its
Jacobian is a permutation (or a selection) matrix and its VJP moves the cotangent back:

    transpose by p  -> transpose dz by the inverse permutation argsort(p)
    reshape         -> reshape dz to x's shape (both read in row-major order)
    concat [x, y]   -> split dz where x ends along the axis

The parameters are validated once for their form when the case file loads (naming the key),
and against the input's shape when the op runs; the lowerings receive the same resolved
permutation or shape, so NumPy and the frameworks never differ over a negative axis or a -1.
"""

import math

import numpy as np

from gradcheck.ops.arrays import as_float
from gradcheck.ops.reductions import normalize_axis_param, normalize_softmax_axis
from gradcheck.ops.registry import Op, register


def _shape_text(shape):
    return "[" + ", ".join(str(n) for n in shape) + "]"


# ---------------------------------------------------------------- transpose

def normalize_axes(axes, key="axes"):
    """None (reverse the axes) or a list of distinct int axes, as a tuple; ValueError naming the key."""
    value = normalize_axis_param(axes, key)
    if isinstance(value, int):
        raise ValueError(f"param {key!r}: expected None or a list of axes (a permutation), got {axes!r}")
    return value


def permutation(axes, ndim):
    """The axes as a permutation of range(ndim) (negative axes count from the end; None reverses)."""
    if axes is None:
        return tuple(reversed(range(ndim)))
    perm = tuple(a % ndim if -ndim <= a < ndim else -1 for a in axes) if ndim else tuple(axes)
    if sorted(perm) != list(range(ndim)):
        raise ValueError(f"param 'axes': {list(axes)} is not a permutation of the {ndim} axes of the input")
    return perm


def transpose(x, axes=None):
    x = as_float(x)
    return np.transpose(x, permutation(axes, x.ndim))


def transpose_vjp(x, cotangent, axes=None):
    # z[i_p0, ..., i_pk] = x[i_0, ..., i_k]: each element moves once, so dx is dz moved back,
    # i.e. transposed by the inverse permutation (argsort p sends axis p_j back to j).
    x = as_float(x)
    perm = permutation(axes, x.ndim)
    return (np.ascontiguousarray(np.transpose(cotangent, np.argsort(perm)), dtype=x.dtype),)


TRANSPOSE = register(Op(
    "transpose", ("x",), transpose, transpose_vjp, {"axes": None},
    "permute the axes (axes: a permutation; None reverses them)",
    validators={"axes": normalize_axes},
    torch=lambda torch, x, axes=None: torch.permute(x, permutation(axes, x.ndim)),
    tensorflow=lambda tf, x, axes=None: tf.transpose(x, perm=permutation(axes, len(x.shape))),
    jax=lambda jax, x, axes=None: jax.numpy.transpose(x, permutation(axes, x.ndim))))


# ---------------------------------------------------------------- reshape

def normalize_shape(shape, key="shape"):
    """A list of sizes >= 0 with at most one -1 (inferred), as a tuple; ValueError naming the key."""
    sizes = [shape] if isinstance(shape, int) and not isinstance(shape, bool) else shape
    if not isinstance(sizes, (list, tuple)) or any(
            isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < -1 for n in sizes):
        raise ValueError(f"param {key!r}: expected a list of sizes (ints >= 0, one -1 allowed), got {shape!r}")
    if list(sizes).count(-1) > 1:
        raise ValueError(f"param {key!r}: at most one size may be -1 (inferred), got {shape!r}")
    return tuple(int(n) for n in sizes)


def resolve_shape(shape, input_shape):
    """The target shape with its -1 filled in; ValueError if it does not hold the input's elements."""
    size = math.prod(input_shape)
    known = math.prod(n for n in shape if n != -1)
    resolved = shape
    if -1 in shape and known and size % known == 0:
        resolved = tuple(size // known if n == -1 else n for n in shape)
    if math.prod(resolved) != size or -1 in resolved:
        raise ValueError(f"param 'shape': cannot reshape an input of shape {_shape_text(input_shape)} "
                         f"({size} elements) into {_shape_text(shape)}")
    return resolved


def reshape(x, shape=(-1,)):
    x = as_float(x)
    return np.reshape(x, resolve_shape(shape, x.shape))


def reshape_vjp(x, cotangent, shape=(-1,)):
    # Row-major reshape keeps the flat order: element k of x is element k of z, so dx = dz reshaped back.
    x = as_float(x)
    return (np.array(np.reshape(cotangent, x.shape), dtype=x.dtype),)


RESHAPE = register(Op(
    "reshape", ("x",), reshape, reshape_vjp, {"shape": (-1,)},
    "reshape in row-major order (shape: sizes, one -1 inferred; default flattens)",
    validators={"shape": normalize_shape},
    torch=lambda torch, x, shape=(-1,): torch.reshape(x, resolve_shape(shape, tuple(x.shape))),
    tensorflow=lambda tf, x, shape=(-1,): tf.reshape(x, resolve_shape(shape, tuple(x.shape))),
    jax=lambda jax, x, shape=(-1,): jax.numpy.reshape(x, resolve_shape(shape, x.shape))))


# ---------------------------------------------------------------- concat

def concat(x, y, axis=0):
    x, y = as_float(x), as_float(y)
    return np.concatenate([x, y], axis=axis)


def concat_vjp(x, y, cotangent, axis=0):
    # z = [x; y] along the axis: z's first n slices are x's (n = x's length there), the rest y's.
    x, y = as_float(x), as_float(y)
    dx, dy = np.split(np.asarray(cotangent), [x.shape[axis]], axis=axis)
    return np.array(dx, dtype=x.dtype), np.array(dy, dtype=y.dtype)


CONCAT = register(Op(
    "concat", ("x", "y"), concat, concat_vjp, {"axis": 0},
    "join x and y along axis (other sizes must match)",
    validators={"axis": normalize_softmax_axis},
    torch=lambda torch, x, y, axis=0: torch.cat([x, y], dim=axis),
    tensorflow=lambda tf, x, y, axis=0: tf.concat([x, y], axis=axis),
    jax=lambda jax, x, y, axis=0: jax.numpy.concatenate([x, y], axis=axis)))
