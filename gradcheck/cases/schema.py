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
    "name", "op", "expr", "function", "vjp", "hvp", *REVERSE_MODE, "module", "framework", "init",
    "reference", "args", "rng_seed", "params", "inputs", "cotangent", "wrt", "dtype", "methods",
    "tolerance", "expect", "expect_tolerance", "skip", "xfail", "timeout", "order",
)
ORDERS = (1, 2)  # order: 2 also checks second derivatives (DESIGN section 3)
GENERATOR_KEYS = {
    "normal": ("shape", "dist", "seed", "mean", "std", "support"),
    "uniform": ("shape", "dist", "seed", "low", "high", "support"),
    "integers": ("shape", "dist", "seed", "low", "high", "support"),
    "spd": ("shape", "dist", "seed", "cond", "support"),
    "symmetric": ("shape", "dist", "seed", "support"),
}
# Literal dtypes: floating literals follow the case dtype; these are passed through, never differentiated.
INTEGER_DTYPES = ("int64", "int32", "bool")
MODULE_FRAMEWORKS = ("torch", "tensorflow")
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
    dist: str  # "normal" | "uniform" | "integers" | "spd" | "symmetric"
    args: tuple[tuple[str, float], ...]  # (("mean", 0.0), ("std", 1.0)), low/high, cond
    seed: int | None  # None: derived from the case name
    # Where the function is defined, (low, high) with None for unbounded: kept for `explore`, unused by run.
    support: tuple[float | None, float | None] | None = None

    @property
    def integer(self) -> bool:
        return self.dist == "integers"


@dataclass(frozen=True)
class InputSpec:
    """One array (a literal or a generator), or a nested mapping of them (a pytree)."""

    name: str
    line: int
    literal: Any = None  # nested lists of numbers, or a number
    generator: Generator | None = None
    dtype: str | None = None  # int64 | int32 | bool for a pass-through literal; None: the case dtype
    children: tuple[InputSpec, ...] = ()  # a pytree node's entries, in file order

    @property
    def floating(self) -> bool:
        return self.dtype is None and not (self.generator is not None and self.generator.integer)

    def leaves(self, prefix: str = "") -> tuple[tuple[str, InputSpec], ...]:
        """(dotted path, array spec) of every leaf under this spec, in file order."""
        path = f"{prefix}{self.name}"
        if not self.children:
            return ((path, self),)
        return tuple(leaf for child in self.children for leaf in child.leaves(f"{path}."))


# A cotangent per output: one spec (a single output), or a list / mapping with None for "leave out".
Cotangent = Any


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
    hvp: str | Callable | None = None  # hand-written second order: hvp(*inputs, cotangent, v) (order: 2)
    framework_functions: Mapping[str, str | Callable] = field(default_factory=dict)  # method -> forward
    module: str | Callable | None = None  # a torch.nn.Module or Keras layer class (or factory)
    framework: str | None = None  # the module's framework
    init: Mapping[str, Any] = field(default_factory=dict)  # the module's constructor keywords
    reference: str | None = None  # the framework whose forward the reference differentiates
    args: tuple[str, ...] | None = None  # positional call order over input and param names
    rng_seed: int | None = None  # global RNGs reseeded to this before every forward call
    inputs: tuple[InputSpec, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    cotangent: Cotangent = None  # InputSpec, or a tuple / mapping of InputSpec | None per output
    wrt: tuple[str, ...] = ()  # resolved: every floating leaf when the file says nothing
    wrt_declared: bool = False  # a module's parameters join the default wrt once it is built
    dtype: str = "float64"
    methods: tuple[str, ...] | None = None  # None: every method that applies
    tolerance: ToleranceOverride | None = None
    expect: Mapping[str, Any] = field(default_factory=dict)  # input -> literal
    expect_tolerance: ToleranceOverride | None = None
    skip: str | None = None
    xfail: str | None = None
    timeout: float | None = None  # seconds before the case is stopped; None: the run's default
    order: int = 1  # 2: second derivatives are checked too (the run's --order wins)
    key_lines: Mapping[str, int] = field(default_factory=dict)
    folder: str | None = None  # the case file's folder, where its imports are looked for first

    @property
    def kind(self) -> str:
        """op | expr | function (a NumPy forward) | native (a framework function alone) | module."""
        if self.op:
            return "op"
        if self.expr:
            return "expr"
        if self.module is not None:
            return "module"
        return "function" if self.function is not None else "native"

    @property
    def definition(self) -> str:
        """What defines the forward, in words: `op sigmoid`, `torch sparsemax:sparsemax`, ..."""
        match self.kind:
            case "op":
                return f"op {self.op}"
            case "expr":
                return f"expr {self.expr.source}"
            case "module":
                return f"module {self.module} ({self.framework})"
            case "function":
                return f"function {self.function}"
        framework = self.reference_framework
        return f"{framework} {self.framework_functions[framework]}"

    @property
    def user_code(self) -> bool:
        """The forward is the user's own code (not our lowering): not traced, no forward mode by default."""
        return self.kind in ("function", "native", "module")

    @property
    def reference_framework(self) -> str | None:
        """The framework whose forward the reference differentiates (None: a NumPy forward)."""
        if self.kind == "module":
            return self.framework
        if self.kind != "native":
            return None
        return self.reference or next(f for f in FRAMEWORKS if f in self.framework_functions)

    @property
    def frameworks(self) -> tuple[str, ...]:
        """The frameworks this case can be checked in: an op's lowerings, every framework for an
        expression, the framework functions a function case names."""
        if self.op is not None:
            return OPS[self.op].frameworks
        if self.expr is not None:
            return FRAMEWORKS
        if self.module is not None:
            return (self.framework,)
        return tuple(f for f in FRAMEWORKS if f in self.framework_functions)

    @property
    def has_numpy_vjp(self) -> bool:
        return self.op is not None or self.expr is not None or self.vjp is not None

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    @property
    def leaf_specs(self) -> tuple[tuple[str, InputSpec], ...]:
        """Every array input by dotted path (a pytree's leaves in place of the tree)."""
        return tuple(leaf for spec in self.inputs for leaf in spec.leaves())

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)
