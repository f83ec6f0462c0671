"""Backends: one module per way of computing an analytic gradient.

A backend is a small protocol. Only NumPy float64 arrays cross it, so the
engine, the comparator and the reports never import a framework; each
framework module imports its framework inside its functions, on first use.

    name          the method name in case files and reports
    framework     the importable package it needs (None for NumPy)
    extra         the pip extra that installs it
    available()   whether the framework imports
    applies(case) whether the case gives this method something to check
    gradients(problem, options) -> {input name: J^T dz as float64 array, or None}
"""

from __future__ import annotations

import importlib
from typing import Protocol

from gradcheck.cases import Case


class Backend(Protocol):
    name: str
    framework: str | None
    extra: str | None

    def available(self) -> bool: ...

    def applies(self, case: Case) -> bool: ...

    def gradients(self, problem, options) -> dict: ...


# method name -> "module:attribute" of its backend object. Dispatch stays greppable.
_REGISTRY: dict[str, str] = {
    "vjp": "gradcheck.backends.numpy_vjp:BACKEND",
}


def implemented_methods() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_backend(method: str) -> Backend:
    """The backend of a method; importing it never imports its framework."""
    module_name, _, attribute = _REGISTRY[method].partition(":")
    return getattr(importlib.import_module(module_name), attribute)
