"""What a case file declares, as frozen values: Case, InputSpec, Generator, and the keys they accept.

loader.py reads YAML into these values, naming the file, line and key of any
defect; problem.py turns a Case into arrays and callables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from gradcheck.cases import expr as expr_language
from gradcheck.methods import REVERSE_MODE
from gradcheck.ops import FRAMEWORKS, OPS
from gradcheck.tolerance import ToleranceOverride

CASE_KEYS = (
    "name", "op", "expr", "function", "vjp", *REVERSE_MODE, "params", "inputs",
    "cotangent", "wrt", "dtype", "methods", "tolerance", "expect", "expect_tolerance",
    "skip", "xfail", "timeout",
)
GENERATOR_KEYS = {
    "normal": ("shape", "dist", "seed", "mean", "std"),
    "uniform": ("shape", "dist", "seed", "low", "high"),
}
TOLERANCE_KEYS = ("rtol", "atol")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
MAX_FILE_BYTES = 10_000_000


class CaseFileError(ValueError):
    """A defect of a case file: where it is and what is wrong."""

    def __init__(self, file: str, line: int | None, message: str):
        self.file, self.line, self.message = file, line, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Generator:
    """A seeded random array: numpy.random.default_rng(seed).<dist>(...)."""

    shape: tuple[int, ...]
    dist: str  # "normal" | "uniform"
    args: tuple[tuple[str, float], ...]  # (("mean", 0.0), ("std", 1.0)) or low/high
    seed: int | None  # None: derived from the case name


@dataclass(frozen=True)
class InputSpec:
    name: str
    line: int
    literal: Any = None  # nested lists of floats, or a float
    generator: Generator | None = None


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    line: int
    op: str | None = None
    expr: expr_language.Expr | None = None
    # "module:attr" import paths in files; the callables themselves from gradcheck.check
    function: str | Callable | None = None  # NumPy forward
    vjp: str | Callable | None = None  # hand-written VJP
    framework_functions: Mapping[str, str | Callable] = field(default_factory=dict)  # method -> forward
    inputs: tuple[InputSpec, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    cotangent: InputSpec | None = None
    wrt: tuple[str, ...] = ()  # resolved: every input when the file says nothing
    dtype: str = "float64"
    methods: tuple[str, ...] | None = None  # None: every method that applies
    tolerance: ToleranceOverride | None = None
    expect: Mapping[str, Any] = field(default_factory=dict)  # input -> literal
    expect_tolerance: ToleranceOverride | None = None
    skip: str | None = None
    xfail: str | None = None
    timeout: float | None = None  # seconds before the case is stopped; None: the run's default
    key_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "op" if self.op else "expr" if self.expr else "function"

    @property
    def frameworks(self) -> tuple[str, ...]:
        """The frameworks this case can be checked in: an op's lowerings, every framework for an
        expression, the framework functions a function case names."""
        if self.op is not None:
            return OPS[self.op].frameworks
        if self.expr is not None:
            return FRAMEWORKS
        return tuple(f for f in FRAMEWORKS if f in self.framework_functions)

    @property
    def has_numpy_vjp(self) -> bool:
        return self.op is not None or self.expr is not None or self.vjp is not None

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)
