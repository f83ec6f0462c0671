"""Case -> Problem: the arrays and callables one check works on.

Everything here may fail because of data or user code (a missing module, a
shape mismatch, a forward that raises or returns NaN); such failures raise
CaseError, which fails this case only.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from gradcheck.backends import Task
from gradcheck.cases import expr as expr_language
from gradcheck.cases.schema import Case, InputSpec
from gradcheck.dtypes import numpy_dtype, refuse_complex
from gradcheck.ops import OPS

DEFAULT_MAX_ELEMENTS = 10_000_000


class CaseError(Exception):
    """This case cannot be checked; the message says why."""


@dataclass(frozen=True)
class Problem:
    """One point to differentiate at, in float64, shared by every method.

    `inputs` are the case's values rounded through the case dtype, so that a
    float32 framework and the float64 reference see the same point.
    `forward(*inputs)` is the NumPy forward with params bound.
    `numpy_vjp(*inputs, cotangent)` returns one gradient (or None) per input.
    """

    case: Case
    inputs: Mapping[str, np.ndarray]
    cotangent: np.ndarray
    output: np.ndarray
    forward: Callable[..., np.ndarray]
    numpy_vjp: Callable[..., tuple] | None

    @property
    def wrt(self) -> tuple[str, ...]:
        return self.case.wrt

    @property
    def dtype(self) -> str:
        return self.case.dtype

    def task(self, framework: str | None, device: str = "cpu") -> Task:
        """What the backend of `framework` (None: the NumPy VJP) is given: arrays and callables only."""
        return Task(
            names=tuple(self.inputs), inputs=tuple(self.inputs.values()), wrt=self.wrt,
            cotangent=self.cotangent, output_shape=self.output.shape, dtype=self.dtype, device=device,
            native=None if framework is None else native_forward(self.case, framework),
            traceable=self.case.kind != "function", numpy_vjp=self.numpy_vjp,
        )


def stable_seed(*parts: str) -> int:
    """A seed from text that is the same in every process (unlike hash())."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def round_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """The float64 array of the values `array` takes in `dtype`."""
    try:
        return np.asarray(array, dtype=numpy_dtype(dtype)).astype(np.float64)
    except ImportError as exc:
        raise CaseError(str(exc)) from None


def build_array(spec: InputSpec, case: Case, what: str, *, shape: tuple[int, ...] | None = None,
                max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """A literal as an array, or a generator's draw; the budget is checked first."""
    if spec.generator is None:
        return np.array(spec.literal, dtype=np.float64)
    generator = spec.generator
    shape = generator.shape if generator.shape is not None else shape
    size = math.prod(shape)  # Python ints: no overflow before the check
    if size > max_elements:
        raise CaseError(
            f"{case.file}:{spec.line}: {what} has shape {list(shape)} = {size:,} elements, over the "
            f"budget of {max_elements:,} (raise it with --max-elements)"
        )
    seed = generator.seed if generator.seed is not None else stable_seed(case.name, what)
    rng = np.random.default_rng(seed)
    args = dict(generator.args)
    if generator.dist == "normal":
        return rng.normal(args["mean"], args["std"], size=shape)
    return rng.uniform(args["low"], args["high"], size=shape)


def resolve_import(path: str | Callable) -> Any:
    """'package.module:attr.sub' -> the object; the current folder is importable.

    A callable (from the Python API) is its own resolution.
    """
    if not isinstance(path, str):
        return path
    module_name, _, attribute = path.partition(":")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the user's module raises
        raise CaseError(f"cannot import {module_name!r} for {path!r}: {type(exc).__name__}: {exc}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CaseError(f"{path!r}: {module_name} has no attribute {attribute!r}") from None
    if not callable(target):
        raise CaseError(f"{path!r} is not callable")
    return target


def _numpy_callables(case: Case) -> tuple[Callable, Callable | None]:
    """The NumPy forward and hand-written VJP of a case, params bound."""
    params = dict(case.params)
    if case.op is not None:
        op = OPS[case.op]
        return (lambda *xs: op.forward(*xs, **params)), (lambda *xs: op.vjp(*xs, **params))
    if case.expr is not None:
        names, parsed, library = case.input_names, case.expr, expr_language.library("numpy")

        def forward(*xs):
            return parsed.evaluate(dict(zip(names, xs)), library)

        def vjp(*xs_and_cotangent):
            *xs, cotangent = xs_and_cotangent
            _, grads = expr_language.vjp(parsed, dict(zip(names, xs)), cotangent)
            return tuple(grads.get(name) for name in names)

        return forward, vjp
    function = resolve_import(case.function)
    hand_vjp = resolve_import(case.vjp) if case.vjp else None
    return (
        (lambda *xs: function(*xs, **params)),
        (lambda *xs: hand_vjp(*xs, **params)) if hand_vjp else None,
    )


def native_forward(case: Case, framework: str) -> Callable[[Any], Callable]:
    """The case's forward in `framework`, as a factory handed the imported module: f(*tensors), params bound.

    A built-in op lowers through its registry entry, an expression is evaluated
    with the framework's expression library, and a function case uses the user's
    own framework function (its custom backward is what gets checked), imported
    only when the factory runs: after the backend has imported the framework.
    """
    params = dict(case.params)
    if case.op is not None:
        lowered = OPS[case.op].lowering(framework)
        return lambda module: lambda *inputs: lowered(module, *inputs, **params)
    if case.expr is not None:
        names, parsed = case.input_names, case.expr

        def of_expression(module):
            library = expr_language.library(framework)
            return lambda *inputs: parsed.evaluate(dict(zip(names, inputs)), library)
        return of_expression

    def of_function(module):
        function = resolve_import(case.framework_functions[framework])
        return lambda *inputs: function(*inputs, **params)
    return of_function


def call_forward(forward: Callable, inputs: list[np.ndarray]) -> np.ndarray:
    try:
        with np.errstate(all="ignore"):
            output = forward(*inputs)
    except Exception as exc:
        raise CaseError(f"the forward raised {type(exc).__name__}: {exc}") from None
    try:
        refuse_complex(output, "the forward's output")
    except TypeError as exc:
        raise CaseError(str(exc)) from None
    try:
        output = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CaseError(f"the forward returned {type(output).__name__}, not an array: {exc}") from None
    return output


def materialize(case: Case, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Problem:
    """Build the inputs, evaluate the forward once, settle the cotangent."""
    inputs = {
        spec.name: round_to(build_array(spec, case, f"inputs.{spec.name}", max_elements=max_elements),
                            case.dtype)
        for spec in case.inputs
    }
    forward, numpy_vjp = _numpy_callables(case)
    output = call_forward(forward, list(inputs.values()))
    if not np.all(np.isfinite(output)):
        bad = np.argwhere(~np.isfinite(output))[0].tolist()
        raise CaseError(f"the forward is not finite at the case's inputs (output{bad} = "
                        f"{output[tuple(bad)]})")
    if case.cotangent is None:
        # z.backward() / tape.gradient(z, w) seed a scalar output with 1.0.
        if output.ndim == 0:
            cotangent = np.array(1.0)
        else:
            rng = np.random.default_rng(stable_seed(case.name, "cotangent"))
            cotangent = rng.standard_normal(output.shape)
    else:
        cotangent = build_array(case.cotangent, case, "cotangent", shape=output.shape,
                                max_elements=max_elements)
    cotangent = round_to(cotangent, case.dtype)
    if cotangent.shape != output.shape:
        raise CaseError(
            f"{case.file}:{case.line_of('cotangent')}: cotangent has shape {list(cotangent.shape)} "
            f"but the output has shape {list(output.shape)}"
        )
    for name, answer in case.expect.items():
        expected_shape = np.shape(answer)
        if expected_shape != inputs[name].shape:
            raise CaseError(
                f"{case.file}:{case.line_of('expect')}: expect.{name} has shape {list(expected_shape)} "
                f"but input {name} has shape {list(inputs[name].shape)}"
            )
    return Problem(case=case, inputs=inputs, cotangent=cotangent, output=output,
                   forward=forward, numpy_vjp=numpy_vjp)
