"""Binary element-wise ops with NumPy broadcasting: multiply, divide, power.

For z = f(x, y) element-wise, dx = dz * df/dx and dy = dz * df/dy, each summed
over the axes its input was broadcast along (finish_grad).
"""

import numpy as np

from gradcheck.ops.arrays import finish_grad, float_pair
from gradcheck.ops.registry import Op, register

# ---------------------------------------------------------------- multiply

def multiply(x, y):
    x, y, dtype = float_pair(x, y)
    return np.asarray(x * y, dtype=dtype)


def multiply_vjp(x, y, cotangent):
    # z = x y:  dz/dx = y,  dz/dy = x. Complex: z is holomorphic in each operand, so the gradient
    # of phi = Re sum conj(dz) z is conj(dz/dx) dz = conj(y) dz, and conj(x) dz (DESIGN section 2).
    x, y, _ = float_pair(x, y)
    dz = np.asarray(cotangent)
    return finish_grad(dz * np.conj(y), x), finish_grad(dz * np.conj(x), y)


MULTIPLY = register(Op(
    "multiply", ("x", "y"), multiply, multiply_vjp, {},
    "x * y, elementwise with broadcasting (complex too)",
    torch=lambda torch, x, y: torch.mul(x, y),
    tensorflow=lambda tf, x, y: tf.math.multiply(x, y),
    jax=lambda jax, x, y: jax.numpy.multiply(x, y),
    complex=True))


# ---------------------------------------------------------------- divide

def divide(x, y):
    x, y, dtype = float_pair(x, y)
    return np.asarray(x / y, dtype=dtype)


def divide_vjp(x, y, cotangent):
    # z = x / y:  dz/dx = 1 / y,  dz/dy = -x / y^2.
    x, y, _ = float_pair(x, y)
    dz = np.asarray(cotangent)
    return finish_grad(dz / y, x), finish_grad(-dz * x / (y * y), y)


DIVIDE = register(Op(
    "divide", ("x", "y"), divide, divide_vjp, {},
    "x / y, elementwise with broadcasting (y away from 0)",
    torch=lambda torch, x, y: torch.div(x, y),
    tensorflow=lambda tf, x, y: tf.math.divide(x, y),
    jax=lambda jax, x, y: jax.numpy.divide(x, y)))


# ---------------------------------------------------------------- power

def power(x, y):
    x, y, dtype = float_pair(x, y)
    return np.asarray(np.power(x, y), dtype=dtype)


def power_vjp(x, y, cotangent):
    # z = x^y:  dz/dx = y x^(y-1)  (exponent 1 where y == 0, so 0 * inf never appears),
    #           dz/dy = x^y ln x   (taken as 0 where x == 0, as JAX and PyTorch do).
    x, y, _ = float_pair(x, y)
    dz = np.asarray(cotangent)
    dx = dz * y * np.power(x, np.where(y == 0, 1.0, y - 1.0))
    dy = dz * np.power(x, y) * np.log(np.where(x == 0, 1.0, x))
    return finish_grad(dx, x), finish_grad(dy, y)


POWER = register(Op(
    "power", ("x", "y"), power, power_vjp, {},
    "x ** y, elementwise with broadcasting (x > 0 where y is differentiated)",
    torch=lambda torch, x, y: torch.pow(x, y),
    tensorflow=lambda tf, x, y: tf.math.pow(x, y),
    jax=lambda jax, x, y: jax.numpy.power(x, y),
    domain="positive"))
