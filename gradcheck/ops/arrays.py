"""Shape and dtype helpers shared by the op modules.

Broadcasting convention: if an input was broadcast against something in the
forward (matmul batch axes, conv2d leading batch axes, a cotangent with extra
leading axes), its gradient is summed over the broadcast axes, as the chain
rule requires.
"""

import numpy as np


def as_float(x):
    """Return ``x`` as an ndarray with a floating (or complex) dtype.

    Floating arrays keep their dtype (float32 stays float32); integer/bool
    input is promoted to float64 so derivatives make sense. Complex arrays stay
    complex: the engine's complex step (Im f(x + ih)/h, exact to rounding) runs
    through every op whose formula is complex-analytic, such as matmul and conv2d.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    return x


def float_pair(x, y):
    """Both operands of a binary op as floating arrays, and the dtype of the result
    (NumPy's promotion: float32 with float32 stays float32)."""
    x, y = as_float(x), as_float(y)
    return x, y, np.result_type(x.dtype, y.dtype)


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


def out(y, dtype):
    """Forward results are ndarrays (0-d stays an array, not a numpy scalar)
    with the input's dtype."""
    return np.asarray(y, dtype=dtype)
