"""swish(x) = x * sigmoid(x) in NumPy, with its hand-written VJP.

    d/dx swish = s + x s (1 - s) = s (1 + x (1 - s)),   s = sigmoid(x)
"""

import numpy as np


def sigmoid(x):
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def swish(x):
    return x * sigmoid(x)


def swish_vjp(x, cotangent):
    s = sigmoid(x)
    return (cotangent * s * (1 + x * (1 - s)),)


def swish_hvp(x, dz, v):
    """The second order (order: 2): d/dt <v, swish_vjp(x + t v, dz)> = dz swish''(x) v, with
    swish'' = s (1 - s) (2 + x (1 - 2 s))."""
    s = 1.0 / (1.0 + np.exp(-x))
    return (dz * s * (1 - s) * (2 + x * (1 - 2 * s)) * v[0],)
