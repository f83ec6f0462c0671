"""Selections: maximum and minimum of two arrays (element-wise), max and min over axes.

Each output is one of its inputs, so its derivative is 1 for the selected element and 0 for the
others. Where several elements tie for the selection the function has a kink: every convex
combination of the tied elements' unit vectors is a valid subgradient. The VJPs here split the
cotangent evenly among the tied elements, the symmetric choice that torch and jax make too
(tf.maximum gives all of it to x, also valid). Giving the full cotangent to every tied element is
wrong (the shares must sum to the cotangent); the engine's tie check (engine/ties.py) reports it
for ties within one input, as in max and min, not yet for x == y across maximum's two inputs.
"""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad, float_pair, out
from gradcheck.ops.reductions import (
    broadcast_back,
    normalize_axis_param,
    reduced_axes,
    tf_axis,
)
from gradcheck.ops.registry import Op, register

# ---------------------------------------------------------------- maximum, minimum


def _torch_tensors(torch, x, y):
    """torch.maximum takes tensors only: a Python float from `expr:` (maximum(x, 0)) becomes a 0-d
    tensor of the other operand's dtype, as it would in x * 0.5."""
    if not torch.is_tensor(x):
        x = torch.as_tensor(x, dtype=y.dtype, device=y.device)
    if not torch.is_tensor(y):
        y = torch.as_tensor(y, dtype=x.dtype, device=x.device)
    return x, y


def _pairwise_vjp(name, wins):
    """The VJP of z = select(x, y), `wins(x, y)` true where x is selected.

    dz/dx is 1 where x wins and 0 where it loses; at x == y the one-sided derivatives along x are
    0 and 1, and (t, 1 - t) for any t in [0, 1] is a subgradient pair: t = 1/2, as torch and jax.
    Each share is summed over the axes its input was broadcast along (finish_grad).
    """

    def vjp(x, y, cotangent):
        x, y, _ = float_pair(x, y)
        share_x = np.where(x == y, 0.5, wins(x, y).astype(np.float64))
        dz = np.asarray(cotangent)
        return finish_grad(dz * share_x, x), finish_grad(dz * (1.0 - share_x), y)

    vjp.__name__ = vjp.__qualname__ = f"{name}_vjp"
    return vjp


def maximum(x, y):
    x, y, dtype = float_pair(x, y)
    return out(np.maximum(x, y), dtype)


def minimum(x, y):
    x, y, dtype = float_pair(x, y)
    return out(np.minimum(x, y), dtype)


MAXIMUM = register(Op(
    "maximum", ("x", "y"), maximum, _pairwise_vjp("maximum", np.greater), {},
    "larger of x and y, elementwise with broadcasting (ties: half each)",
    torch=lambda torch, x, y: torch.maximum(*_torch_tensors(torch, x, y)),
    tensorflow=lambda tf, x, y: tf.math.maximum(x, y),
    jax=lambda jax, x, y: jax.numpy.maximum(x, y), in_expr=True))

MINIMUM = register(Op(
    "minimum", ("x", "y"), minimum, _pairwise_vjp("minimum", np.less), {},
    "smaller of x and y, elementwise with broadcasting (ties: half each)",
    torch=lambda torch, x, y: torch.minimum(*_torch_tensors(torch, x, y)),
    tensorflow=lambda tf, x, y: tf.math.minimum(x, y),
    jax=lambda jax, x, y: jax.numpy.minimum(x, y), in_expr=True))


# ---------------------------------------------------------------- max, min over axes


def max_(x, axis=None):
    x = as_float(x)
    return out(np.max(x, axis=normalize_axis_param(axis)), x.dtype)


def min_(x, axis=None):
    x = as_float(x)
    return out(np.min(x, axis=normalize_axis_param(axis)), x.dtype)


def _reduction_vjp(pick):
    """The VJP of y = pick(x, axis), pick np.max or np.min.

    dy/dx_i = 1 for the selected element and 0 for the others; with |T| tied selections each gets
    dz / |T| (an even split of a valid subgradient, see the module docstring).
    """

    def vjp(x, cotangent, axis=None):
        x = as_float(x)
        axes = reduced_axes(axis, x.ndim)
        chosen = x == pick(x, axis=axes, keepdims=True)
        share = chosen / np.sum(chosen, axis=axes, keepdims=True)
        g, _ = broadcast_back(x, cotangent, axis)
        return (finish_grad(g * share, x),)

    vjp.__name__ = vjp.__qualname__ = f"{pick.__name__}_vjp"
    return vjp


def _torch_dims(axis):
    """torch.amax and torch.amin reduce every axis for dim=()."""
    return () if axis is None else axis


MAX = register(Op(
    "max", ("x",), max_, _reduction_vjp(np.max), {"axis": None},
    "largest element over axis (None: all; int or list); ties share dz evenly",
    validators={"axis": normalize_axis_param},
    torch=lambda torch, x, axis=None: torch.amax(x, dim=_torch_dims(axis)),
    tensorflow=lambda tf, x, axis=None: tf.reduce_max(x, axis=tf_axis(axis)),
    jax=lambda jax, x, axis=None: jax.numpy.max(x, axis=axis), in_expr=True))

MIN = register(Op(
    "min", ("x",), min_, _reduction_vjp(np.min), {"axis": None},
    "smallest element over axis (None: all; int or list); ties share dz evenly",
    validators={"axis": normalize_axis_param},
    torch=lambda torch, x, axis=None: torch.amin(x, dim=_torch_dims(axis)),
    tensorflow=lambda tf, x, axis=None: tf.reduce_min(x, axis=tf_axis(axis)),
    jax=lambda jax, x, axis=None: jax.numpy.min(x, axis=axis), in_expr=True))
