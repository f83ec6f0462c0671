"""What the six framework methods share: the glue between a framework adapter and the protocol.

Each framework module (torch_backend, tensorflow_backend, jax_backend)
supplies an adapter that knows how to run its framework: convert NumPy
inputs to tensors in the case dtype on the chosen device, run the native
forward, and pull a cotangent back (reverse mode) or push a tangent forward
(forward mode). Everything that is not framework-specific lives here.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Protocol

import numpy as np

from gradcheck.backends import Task
from gradcheck.dtypes import NEVER_CAST, is_inexact


class Adapter(Protocol):
    framework: str  # the importable package, also the pip extra and the case key

    def vjp(self, task: Task) -> dict[str, np.ndarray | None]: ...

    def jvp(self, task: Task, index: int, tangent: np.ndarray) -> np.ndarray: ...


def installed(package: str) -> bool:
    """Whether `package` can be found, without importing it (cheap: no torch at startup)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        return False


def is_floating(array: np.ndarray) -> bool:
    """Floating (and complex) inputs are cast to the case dtype; integer and boolean ones (class
    targets, masks, indices) pass through as the framework's integer tensors, never differentiated."""
    return is_inexact(array)


def check_output(output: Any, task: Task, framework: str) -> None:
    """The framework forward must give one tensor of the NumPy forward's shape."""
    shape = getattr(output, "shape", None)  # every framework tensor has one; other values do not
    if shape is None:
        raise TypeError(f"the {framework} forward returned {type(output).__name__}, not a tensor")
    complex_output = "complex" in str(getattr(output, "dtype", ""))  # judged by its dtype's name, not converted
    if complex_output != task.complex_output:
        ours, theirs = ("complex", "real") if complex_output else ("real", "complex")
        raise TypeError(f"the {framework} forward's output is {ours} ({output.dtype}) but the NumPy forward's "
                        f"is {theirs}; {NEVER_CAST}, nor a real one made complex")
    if tuple(shape) != task.output_shape:
        raise ValueError(
            f"the {framework} forward returned shape {list(shape)}, but the NumPy forward's output "
            f"has shape {list(task.output_shape)}"
        )


class FrameworkBackend:
    """A framework method; the subclasses pick the mode."""

    def __init__(self, name: str, adapter: Adapter):
        self.name, self.adapter = name, adapter
        self.framework = self.extra = adapter.framework

    def available(self) -> bool:
        return installed(self.framework)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class ReverseMode(FrameworkBackend):
    """J^T dz by the framework's autodiff: torch.autograd.grad, GradientTape, jax.vjp."""

    def gradients(self, task: Task) -> dict[str, np.ndarray | None]:
        return self.adapter.vjp(task)

    def second_order(self, task: Task, tangents: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """∇_x <V, J^T dz> by differentiating the framework's own backward (order: 2)."""
        return self.adapter.hvp(task, tangents)


class ForwardMode(FrameworkBackend):
    """J u by the framework's forward mode: torch.autograd.forward_ad, ForwardAccumulator (on small inputs:
    the gradient transposed by a second tape, as ForwardAccumulator does op by op), jax.jvp."""

    def jvp(self, task: Task, index: int, tangent: np.ndarray) -> np.ndarray:
        return self.adapter.jvp(task, index, tangent)
