"""The `jax` and `jax-jvp` methods: jax.vjp and jax.jvp.

    reverse:  jax.vjp(f, x)[1](dz)
    forward:  jax.jvp(f, (x,), (u,))[1]

JAX computes in float32 unless 64-bit mode is on. A float64 case turns it on
for the duration of the check only, with JAX's own scoped switch
(`jax.enable_x64`, `jax.experimental.enable_x64` before 0.4.36), which
restores the user's setting on the way out; float32 and narrower cases run
under whatever the user has set, since explicit dtypes hold either way.

Complex values: JAX pairs cotangents with tangents without a conjugate: its
vjp(c) is the v with Re sum v du = Re sum c df along every du. gradcheck's
gradient g of phi = Re sum conj(dz) f(z) is the one with d phi = Re sum conj(g) du,
so pulling back c = conj(dz) gives v = conj(g): g = conj(vjp(conj(dz))). (JAX's
FAQ, "Complex numbers and differentiation": grad of a real function of z is the
conjugate of the gradient torch reports.) On real values both conjugates are
no-ops. Its jvp is the derivative of f(z + t u) in real t, as the reference's.
"""

from __future__ import annotations

import contextlib

import numpy as np

from gradcheck.backends import BackendSkip, Task
from gradcheck.backends.framework import (
    ForwardMode,
    ReverseMode,
    check_output,
    is_floating,
)
from gradcheck.dtypes import as_float64

FRAMEWORK = "jax"


def _jax():
    import jax

    return jax


def x64_enabled():
    """JAX's scoped 64-bit switch, wherever this JAX version keeps it."""
    try:
        from jax import enable_x64
    except ImportError:
        from jax.experimental import enable_x64
    return enable_x64(True)


def _device(jax, name: str):
    try:
        return jax.devices(name)[0]
    except RuntimeError:  # JAX raises when no platform of that name is present
        raise BackendSkip(f"no {name.upper()} device for jax (jax.devices({name!r}) found none)") from None


def _dtype(jax, name: str):
    numpy = jax.numpy
    return {"float64": numpy.float64, "float32": numpy.float32, "float16": numpy.float16,
            "bfloat16": numpy.bfloat16, "complex64": numpy.complex64, "complex128": numpy.complex128}[name]


def _to_numpy(array) -> np.ndarray:
    return as_float64(array)


class JaxAdapter:
    framework = FRAMEWORK

    @contextlib.contextmanager
    def _setup(self, task: Task):
        """Inside: the native forward and the inputs as arrays in the case dtype on the device."""
        jax = _jax()
        device = _device(jax, task.device)
        precision = x64_enabled() if task.dtype in ("float64", "complex128") else contextlib.nullcontext()
        with precision, jax.default_device(device):
            dtype = _dtype(jax, task.dtype)
            forward = task.native(jax)
            if task.traceable:
                # Our own lowerings trace cleanly: one compiled program per case is several
                # times faster than compiling each primitive eagerly. A user's function runs
                # as written (jit would reject Python control flow that vjp and jvp accept).
                forward = jax.jit(forward)
            # Exact casts: the inputs were rounded through the case dtype already.
            arrays = [jax.device_put(jax.numpy.asarray(value, dtype=dtype if is_floating(value) else None), device)
                      for value in task.inputs]
            yield jax, forward, arrays

    def vjp(self, task: Task) -> dict[str, np.ndarray | None]:
        with self._setup(task) as (jax, forward, arrays):
            positions = [task.names.index(name) for name in task.wrt]

            def of_wrt(*wrt_arrays):
                args = list(arrays)
                for position, array in zip(positions, wrt_arrays):
                    args[position] = array
                return forward(*args)

            output, pullback = jax.vjp(of_wrt, *(arrays[p] for p in positions))
            check_output(output, task, FRAMEWORK)
            # JAX's convention to gradcheck's: g = conj(vjp(conj(dz))) (see the module's docstring).
            grads = pullback(jax.numpy.conj(jax.numpy.asarray(task.cotangent, dtype=output.dtype)))
            return {name: np.conj(_to_numpy(grad)) for name, grad in zip(task.wrt, grads)}

    def jvp(self, task: Task, index: int, tangent: np.ndarray) -> np.ndarray:
        with self._setup(task) as (jax, forward, arrays):

            def of_one_input(x):
                args = list(arrays)
                args[index] = x
                return forward(*args)

            along = jax.numpy.asarray(tangent, dtype=arrays[index].dtype)
            output, derivative = jax.jvp(of_one_input, (arrays[index],), (along,))
            check_output(output, task, FRAMEWORK)
            return _to_numpy(derivative)


BACKEND = ReverseMode("jax", JaxAdapter())
JVP_BACKEND = ForwardMode("jax-jvp", JaxAdapter())
