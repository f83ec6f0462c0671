"""Losses: mse_loss, the mean of squared differences, as a registry entry."""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.registry import Op, register


def _checked(x, target):
    x, target = as_float(x), as_float(target)
    if x.shape != target.shape:
        # torch broadcasts here with a warning, which hides shape bugs; we refuse instead.
        raise ValueError(f"mse_loss: x {x.shape} and target {target.shape} must have the same shape")
    return x, target


def mse_loss(x, target):
    x, target = _checked(x, target)
    diff = x - target
    return np.asarray(np.mean(diff * diff), dtype=np.result_type(x.dtype, target.dtype))


def mse_loss_vjp(x, target, cotangent):
    # L = (1/n) sum_i (x_i - t_i)^2, so dL/dx_i = 2 (x_i - t_i) / n = -dL/dt_i.
    x, target = _checked(x, target)
    dx = np.asarray(cotangent) * 2.0 * (x - target) / max(x.size, 1)
    return finish_grad(dx, x), finish_grad(-dx, target)


MSE_LOSS = register(Op(
    "mse_loss", ("x", "target"), mse_loss, mse_loss_vjp, {},
    "mean squared error mean((x - target)^2), a scalar",
    torch=lambda torch, x, target: torch.nn.functional.mse_loss(x, target),
    tensorflow=lambda tf, x, target: tf.reduce_mean(tf.square(x - target)),
    jax=lambda jax, x, target: jax.numpy.mean((x - target) ** 2)))
