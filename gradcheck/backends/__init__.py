"""Backends: one module per way of computing an analytic gradient, behind a small protocol.

Only a Task crosses into a backend: the native forward (a factory handed the
imported framework module), NumPy inputs, the cotangent, the dtype and the
device. Only NumPy float64 gradients come back. Backends import nothing from
cases, so the engine, the comparator and the reports never import a
framework; each framework module imports its framework inside its
functions, on first use.

Complex values: every backend returns gradcheck's one convention, the gradient
d phi/d Re z + i d phi/d Im z of phi = Re sum conj(dz) f(z) (complex128 arrays),
converting from its framework's own where they differ (jax_backend.py says how).

    name          the method name in case files and reports
    framework     the importable package it needs (None for NumPy)
    extra         the pip extra that installs it
    available()   whether the framework is installed (found without importing it;
                  an install that is found but fails to import gives error rows)
    gradients(task) -> {input name: J^T dz as float64 (complex128) array, or None}

Reverse-mode backends whose backward is itself differentiable also have
`second_order(task, tangents) -> {input name: ∇_x <V, J^T dz>}` (order: 2).

Forward-mode backends (methods.FORWARD_MODE) have `jvp(task, index, tangent)
-> J u` over the output's shape instead of gradients(). A backend that cannot
check a case for a reason that is no fault of the case's gradient (no CUDA
device, a layout its lowering does not cover) raises BackendSkip.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Protocol

import numpy as np


class BackendSkip(Exception):
    """This method cannot check this case here; the message says why (a skip, not an error)."""


@dataclass(frozen=True)
class Task:
    """Everything a backend is given: arrays and callables, nothing of the case file."""

    names: tuple[str, ...]  # every input, in call order
    inputs: tuple[np.ndarray, ...]  # float64, already rounded through `dtype`
    wrt: tuple[str, ...]  # the inputs to differentiate
    cotangent: np.ndarray
    output_shape: tuple[int, ...]
    dtype: str
    device: str = "cpu"
    native: Callable[[Any], Callable] | None = None  # framework module -> forward(*tensors), params bound
    traceable: bool = False  # the native forward is our own lowering, safe to trace (jax.jit)
    numpy_vjp: Callable | None = None  # vjp(*inputs, cotangent) -> one gradient (or None) per input
    numpy_hvp: Callable | None = None  # hvp(*inputs, cotangent, v) -> one array per input (order: 2)
    # Equal keys promise the same native forward (one op or expression, the same params): a backend
    # may reuse what it traced or compiled for one under equal input shapes and dtypes. None: never.
    trace_key: Hashable | None = None
    complex_output: bool = False  # the NumPy forward's output is complex (a framework's must be too)

    @property
    def input_elements(self) -> int:
        """Elements of all inputs together: what a backend's small-input path is sized by."""
        return sum(int(np.size(value)) for value in self.inputs)


class Backend(Protocol):
    name: str
    framework: str | None
    extra: str | None

    def available(self) -> bool: ...

    def gradients(self, task: Task) -> dict: ...


# method name -> "module:attribute" of its backend object. Dispatch stays greppable.
_REGISTRY: dict[str, str] = {
    "vjp": "gradcheck.backends.numpy_vjp:BACKEND",
    "torch": "gradcheck.backends.torch_backend:BACKEND",
    "tensorflow": "gradcheck.backends.tensorflow_backend:BACKEND",
    "jax": "gradcheck.backends.jax_backend:BACKEND",
    "torch-jvp": "gradcheck.backends.torch_backend:JVP_BACKEND",
    "tensorflow-jvp": "gradcheck.backends.tensorflow_backend:JVP_BACKEND",
    "jax-jvp": "gradcheck.backends.jax_backend:JVP_BACKEND",
}


def implemented_methods() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_backend(method: str) -> Backend:
    """The backend of a method; importing it never imports its framework."""
    module_name, _, attribute = _REGISTRY[method].partition(":")
    return getattr(importlib.import_module(module_name), attribute)
