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
