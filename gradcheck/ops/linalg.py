"""matmul with np.matmul semantics (batched, broadcasting, 1-D vectors), as a registry entry."""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.registry import Op, register


def _conj(a):
    return np.conj(a) if np.iscomplexobj(a) else a


def _result_dtype(x, y):
    return np.result_type(x.dtype, y.dtype)


def matmul(x, y):
    x = as_float(x)
    y = as_float(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("matmul: inputs must be at least 1-D")
    return np.asarray(np.matmul(x, y), dtype=_result_dtype(x, y))


def matmul_vjp(x, y, cotangent):
    # For Z = X @ Y (one matrix of a batch), Z_ik = sum_j X_ij Y_jk, so
    #   dL/dX_ij = sum_k dZ_ik Y_jk  ->  dX = dZ @ Y^T
    #   dL/dY_jk = sum_i X_ij dZ_ik  ->  dY = X^T @ dZ.
    # Complex: phi = Re tr(dZ^H X Y) changes by Re tr(dZ^H dX Y) = Re tr((dZ Y^H)^H dX) along dX,
    # so the gradient (DESIGN section 2) is dX = dZ @ Y^H and likewise dY = X^H @ dZ: the
    # conjugate transposes, which are the plain transposes for real operands.
    # np.matmul's 1-D conventions are handled by promoting to matrices the
    # way matmul does (x: (k,) -> (1, k); y: (k,) -> (k, 1)) and inserting
    # the matching size-1 axis into dz.  Batch axes that were broadcast in
    # the forward are summed out (finish_grad), and the promoted axis is
    # dropped again by reshaping to the input's shape.
    x = as_float(x)
    y = as_float(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("matmul: inputs must be at least 1-D")
    dz = np.asarray(cotangent)
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    if x.ndim == 1 and y.ndim == 1:
        dz2 = dz[..., None, None]
    elif x.ndim == 1:
        dz2 = dz[..., None, :]
    elif y.ndim == 1:
        dz2 = dz[..., :, None]
    else:
        dz2 = dz
    dx = np.matmul(dz2, np.swapaxes(_conj(y2), -1, -2))
    dy = np.matmul(np.swapaxes(_conj(x2), -1, -2), dz2)
    dx = finish_grad(dx, x2).reshape(x.shape)
    dy = finish_grad(dy, y2).reshape(y.shape)
    return dx, dy


def _tensorflow_matmul(tf, x, y):
    # NumPy semantics for 1-D operands (tf.linalg.matmul needs rank >= 2): promote, multiply, drop.
    vx, vy = x.shape.rank == 1, y.shape.rank == 1
    z = tf.linalg.matmul(x[tf.newaxis, :] if vx else x, y[:, tf.newaxis] if vy else y)
    if vx and vy:
        return tf.reshape(z, [])
    return tf.squeeze(z, axis=-2) if vx else tf.squeeze(z, axis=-1) if vy else z


MATMUL = register(Op(
    "matmul", ("x", "y"), matmul, matmul_vjp, {},
    "matrix product x @ y, np.matmul semantics (batched, 1-D vectors)",
    torch=lambda torch, x, y: torch.matmul(x, y),
    tensorflow=_tensorflow_matmul,
    jax=lambda jax, x, y: jax.numpy.matmul(x, y),
    complex=True))
