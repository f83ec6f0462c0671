"""The `jax` and `jax-jvp` methods: jax.vjp and jax.jvp.

    reverse:  jax.vjp(f, x)[1](dz)
    forward:  jax.jvp(f, (x,), (u,))[1]

JAX computes in float32 unless 64-bit mode is on. A float64 case turns it on
for the duration of the check only, with JAX's own scoped switch
(`jax.enable_x64`, `jax.experimental.enable_x64` before 0.4.36), which
restores the user's setting on the way out; float32 and narrower cases run
under whatever the user has set, since explicit dtypes hold either way.

Our own lowerings (Task.traceable) run each method's whole computation as one
jitted program: one trace and one XLA compile, where jax.vjp of a jitted
forward compiles twice (the linearised forward, then its transpose). The
program is kept under the task's trace_key and input shapes, so the second
call of a row (the scaled cotangent) and later rows of the same op, params
and shapes reuse it; on small inputs the compile is nearly all of a row's
cost. A user's function runs as written, every call: jit would reject Python
control flow that vjp and jvp accept, and it may have side effects.

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
from collections import OrderedDict
from dataclasses import replace
from typing import Callable, Hashable

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


# (trace key, method, dtype, device, input shapes and dtypes) -> jitted program, least recently used
# first. Each holds its XLA executable, about 1 MiB on XLA:CPU even for a tiny program (100 small
# cases kept 130 MiB more with 256 kept): the bound keeps a long run's memory flat. Most of the reuse
# is within a case (the scaled cotangent, a second output, the next dtype), which a few entries serve.
_PROGRAMS: OrderedDict[Hashable, Callable] = OrderedDict()
PROGRAMS_KEPT = 32
SMALL_INPUTS = 4096  # elements, all inputs together, up to which a program is compiled cheaply (_jit)
SMALL_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False,
                          "xla_cpu_parallel_codegen_split_count": 1}


def _program(jax, task: Task, method: tuple, build: Callable[[], Callable]) -> Callable:
    """`build()` jitted and kept for our own lowerings, as written for a user's function."""
    if not task.traceable:
        return build()
    if task.trace_key is None:
        return jax.jit(build())
    key = (task.trace_key, method, task.dtype, task.device,
           tuple((np.shape(value), np.asarray(value).dtype.str) for value in task.inputs))
    program = _PROGRAMS.pop(key, None)
    _PROGRAMS[key] = program = _jit(jax, build(), task) if program is None else program
    while len(_PROGRAMS) > PROGRAMS_KEPT:
        _PROGRAMS.popitem(last=False)
    return program


def _jit(jax, function: Callable, task: Task) -> Callable:
    """jax.jit, with the XLA:CPU compile cut down on small inputs, where it is nearly all of a row's cost
    while running the program takes microseconds either way (CPU per compile, 100 small cases):

        xla_backend_optimization_level 0         no LLVM optimisations: about a third less
        xla_cpu_use_fusion_emitters False        XLA's older elemental emitters, whose kernels compile
                                                 two to four times faster (softmax, layer_norm, conv)
        xla_cpu_parallel_codegen_split_count 1   one LLVM module, not several compiled by threads

    The values agree with the default compile to the last bits (tanh and tan differ in one ulp: the
    emitters approximate them differently). An option this XLA does not know is dropped on first use."""
    if task.input_elements > SMALL_INPUTS:
        return jax.jit(function)
    try:
        compiled = jax.jit(function, compiler_options=dict(SMALL_COMPILER_OPTIONS))
    except TypeError:  # a JAX before jit's compiler_options
        return jax.jit(function)

    def program(*args):
        nonlocal compiled
        while True:
            try:
                return compiled(*args)
            except Exception as exc:
                unknown = [name for name in SMALL_COMPILER_OPTIONS if f"No such compile option: '{name}'" in str(exc)]
                if not unknown:
                    raise
                for name in unknown:  # an older XLA: without it, for this program and the later ones
                    SMALL_COMPILER_OPTIONS.pop(name)
                compiled = jax.jit(function, compiler_options=dict(SMALL_COMPILER_OPTIONS))
    return program


def _shapes_only(task: Task) -> Task:
    """The task without its arrays and callables: what a kept program may hold to check its output."""
    return replace(task, inputs=(), cotangent=np.empty(0), native=None, numpy_vjp=None)


def _vjp_program(jax, forward: Callable, positions: list[int], task: Task) -> Callable:
    """(arrays, cotangent) -> (output, J^T dz for the inputs at `positions`)."""
    expected = _shapes_only(task)

    def program(arrays, cotangent):
        def of_wrt(*wrt_arrays):
            args = list(arrays)
            for position, array in zip(positions, wrt_arrays):
                args[position] = array
            return forward(*args)

        output, pullback = jax.vjp(of_wrt, *(arrays[p] for p in positions))
        check_output(output, expected, FRAMEWORK)
        return output, pullback(jax.numpy.asarray(cotangent, dtype=output.dtype))
    return program


def _jvp_program(jax, forward: Callable, index: int, task: Task) -> Callable:
    """(arrays, tangent) -> J u, the input at `index` moved along u."""
    expected = _shapes_only(task)

    def program(arrays, tangent):
        def of_one_input(x):
            args = list(arrays)
            args[index] = x
            return forward(*args)

        output, derivative = jax.jvp(of_one_input, (arrays[index],), (tangent,))
        check_output(output, expected, FRAMEWORK)
        return derivative
    return program


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
            # Exact casts: the inputs (and the cotangent) were rounded through the case dtype already.
            arrays = [jax.device_put(jax.numpy.asarray(value, dtype=dtype if is_floating(value) else None), device)
                      for value in task.inputs]
            yield jax, task.native(jax), arrays

    def vjp(self, task: Task) -> dict[str, np.ndarray | None]:
        with self._setup(task) as (jax, forward, arrays):
            positions = [task.names.index(name) for name in task.wrt]
            program = _program(jax, task, ("vjp", *positions), lambda: _vjp_program(jax, forward, positions, task))
            # JAX's convention to gradcheck's: g = conj(vjp(conj(dz))) (see the module's docstring); the
            # program casts the cotangent to the output's dtype (a real output of complex input keeps it real).
            _, grads = program(arrays, jax.numpy.asarray(np.conj(task.cotangent)))
            return {name: np.conj(_to_numpy(grad)) for name, grad in zip(task.wrt, grads)}

    def jvp(self, task: Task, index: int, tangent: np.ndarray) -> np.ndarray:
        with self._setup(task) as (jax, forward, arrays):
            program = _program(jax, task, ("jvp", index), lambda: _jvp_program(jax, forward, index, task))
            return _to_numpy(program(arrays, jax.numpy.asarray(tangent, dtype=arrays[index].dtype)))

    def hvp(self, task: Task, tangents: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """∇_x <V, J^T dz>: jax.grad of the scalar made from jax.vjp's pullback (reverse over reverse).

        A custom_vjp's bwd is differentiated as written: a lax.stop_gradient in it is a zero there.
        """
        with self._setup(task) as (jax, forward, arrays):
            positions = [task.names.index(name) for name in task.wrt]
            along_v = [jax.numpy.asarray(tangents[name], dtype=arrays[p].dtype) for name, p in zip(task.wrt, positions)]

            def of_wrt(*wrt_arrays):
                args = list(arrays)
                for position, array in zip(positions, wrt_arrays):
                    args[position] = array
                return forward(*args)

            def along(*wrt_arrays):
                output, pullback = jax.vjp(of_wrt, *wrt_arrays)
                grads = pullback(jax.numpy.asarray(task.cotangent, dtype=output.dtype))
                return sum(jax.numpy.sum(v * g) for v, g in zip(along_v, grads)), output

            second_order = jax.grad(along, argnums=tuple(range(len(positions))), has_aux=True)
            if task.traceable:
                second_order = jax.jit(second_order)
            second, output = second_order(*(arrays[p] for p in positions))
            check_output(output, task, FRAMEWORK)
            return {name: _to_numpy(grad) for name, grad in zip(task.wrt, second)}


BACKEND = ReverseMode("jax", JaxAdapter())
JVP_BACKEND = ForwardMode("jax-jvp", JaxAdapter())
