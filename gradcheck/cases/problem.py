"""Case -> Problem: the arrays and callables one check works on, one Problem per checked output.

Everything here may fail because of data or user code (a missing module, a
shape mismatch, a forward that raises or returns NaN); such failures raise
CaseError, which fails this case only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable, Mapping

import numpy as np

from gradcheck.backends import Task
from gradcheck.backends.bridge import numpy_function
from gradcheck.backends.framework import installed
from gradcheck.backends.tensorflow_backend import import_tensorflow
from gradcheck.cases import expr as expr_language
from gradcheck.cases.generators import (
    DEFAULT_MAX_ELEMENTS,
    CaseError,
    build_array,
    stable_seed,
)
from gradcheck.cases.imports import resolve_import
from gradcheck.cases.modules import BuiltModule
from gradcheck.cases.native import ALL, CallPlan, output_entries, output_label
from gradcheck.cases.outputs import checked_outputs
from gradcheck.cases.schema import Case
from gradcheck.dtypes import NEVER_CAST, as_float64, is_complex_dtype, is_inexact, numpy_dtype
from gradcheck.ops import OPS

__all__ = ["DEFAULT_MAX_ELEMENTS", "CaseError", "Problem", "build_array", "materialize",
           "materialize_outputs", "resolve_import", "round_to", "stable_seed"]

# framework module -> forward(*tensors), for one output
NativeFactory = Callable[[Any], Callable]


@dataclass(frozen=True)
class Problem:
    """One point to differentiate at, in float64, shared by every method, for one output.

    `inputs` are every leaf (pytree leaves by dotted path, then a module's parameters):
    floating ones rounded through the case dtype, so that a float32 framework and the
    float64 reference see the same point; integer and boolean ones in their own dtype.
    `forward(*inputs)` is the NumPy forward of this problem's output, params bound.
    `numpy_vjp(*inputs, cotangent)` returns one gradient (or None) per input.
    """

    case: Case  # its wrt resolved: a module's parameters included
    inputs: Mapping[str, np.ndarray]
    cotangent: np.ndarray
    output: np.ndarray
    forward: Callable[..., np.ndarray]
    numpy_vjp: Callable[..., tuple] | None
    natives: Mapping[str, NativeFactory] | None = None  # framework -> its forward of this output
    output_name: str | None = None  # out[1], where the forward returns several outputs

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
            native=None if framework is None else self.natives[framework],
            traceable=not self.case.user_code, numpy_vjp=self.numpy_vjp, trace_key=trace_key(self.case),
            complex_output=bool(np.iscomplexobj(self.output)),
        )


def round_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """The float64 (complex128) array of the values `array` takes in `dtype` (integer arrays pass
    unchanged). A complex array keeps its imaginary part: in a real dtype it is refused, never cast."""
    if not is_inexact(array):
        return np.asarray(array)
    if np.iscomplexobj(array) and not is_complex_dtype(dtype):
        raise CaseError(f"a complex value in a {dtype} case: set dtype: complex128 or complex64; {NEVER_CAST}")
    try:
        return as_float64(np.asarray(array, dtype=numpy_dtype(dtype)))
    except ImportError as exc:
        raise CaseError(str(exc)) from None


def _refuse_complex_builtin(case: Case) -> None:
    """A complex case of an op that is defined on real numbers only, or of an expression: a CaseError."""
    if not is_complex_dtype(case.dtype):
        return
    if case.expr is not None:
        raise CaseError(f"expr: cases are real; a complex case ({case.dtype}) needs an op that takes complex "
                        f"values ({', '.join(complex_ops())}) or a function of its own")
    if not OPS[case.op].complex:
        raise CaseError(f"op {case.op!r} does not take complex values ({case.dtype}): it is defined on real "
                        f"numbers only (it orders, clips or compares them, or its formula is not complex); "
                        f"ops that do: {', '.join(complex_ops())}")


def complex_ops() -> list[str]:
    return sorted(name for name, op in OPS.items() if op.complex)


def _builtin_callables(case: Case) -> tuple[Callable, Callable]:
    """The NumPy forward and VJP of an op or an expression, params bound."""
    _refuse_complex_builtin(case)
    params = dict(case.params)
    if case.op is not None:
        op = OPS[case.op]
        return (lambda *xs: op.forward(*xs, **params)), (lambda *xs: op.vjp(*xs, **params))
    names, parsed, library = case.input_names, case.expr, expr_language.library("numpy")

    def forward(*xs):
        return parsed.evaluate(dict(zip(names, xs)), library)

    def vjp(*xs_and_cotangent):
        *xs, cotangent = xs_and_cotangent
        _, grads = expr_language.vjp(parsed, dict(zip(names, xs)), cotangent)
        return tuple(grads.get(name) for name in names)
    return forward, vjp


def trace_key(case: Case) -> Hashable | None:
    """What makes `_builtin_native`'s forward what it is: the op or the expression and its input names,
    and the params; None for a user's code, whose function may keep state or have side effects.

    The params go in as their repr: 1, 1.0 and True are equal as Python values (and as keys) but may
    lower differently.
    """
    if case.user_code:
        return None
    forward = ("op", case.op) if case.op is not None else ("expr", case.expr.source, case.input_names)
    return (*forward, repr(sorted(case.params.items())))


def _builtin_native(case: Case, framework: str) -> NativeFactory:
    """A built-in op lowers through its registry entry; an expression is evaluated with the framework's
    expression library."""
    params = dict(case.params)
    if case.op is not None:
        lowered = OPS[case.op].lowering(framework)
        return lambda module: lambda *inputs: lowered(module, *inputs, **params)
    names, parsed = case.input_names, case.expr

    def of_expression(module):
        library = expr_language.library(framework)
        return lambda *inputs: parsed.evaluate(dict(zip(names, inputs)), library)
    return of_expression


@dataclass(frozen=True)
class _UserCode:
    """A case's own code: its call plan, how each framework's forward is made, and the NumPy forward
    (the user's function, or the reference framework's forward run in float64 on the CPU)."""

    plan: CallPlan
    factories: Mapping[str, Callable[[Any], Callable]]  # framework -> module -> the function to call
    numpy: Callable | None  # the NumPy-level function to call (arguments as the plan makes them)
    vjp: Callable | None
    parameters: tuple[np.ndarray, ...] = ()  # a module's parameter values, in the plan's order

    def native(self, framework: str, key: Any) -> NativeFactory:
        factory, plan = self.factories[framework], self.plan
        return lambda module: plan.forward(factory(module), module, key)


def _user_code(case: Case, input_leaves: Mapping[str, np.ndarray]) -> _UserCode:
    folder = case.folder
    if "tensorflow" in case.frameworks and installed("tensorflow"):
        import_tensorflow()  # quietly, before a user's module imports it with its start-up noise
    if case.module is not None:
        cls = resolve_import(case.module, folder)
        sample = CallPlan(case, tuple(input_leaves)).arguments(list(input_leaves.values()))
        module = BuiltModule(case, cls, *sample)
        plan = CallPlan(case, tuple(input_leaves), module.names)
        return _UserCode(plan, {case.framework: module.function}, None, None, module.values)
    plan = CallPlan(case, tuple(input_leaves))
    factories = {framework: _importer(path, folder) for framework, path in case.framework_functions.items()}
    if case.function is None:
        return _UserCode(plan, factories, None, None)
    params = dict(case.params)
    hand_vjp = resolve_import(case.vjp, folder) if case.vjp else None
    return _UserCode(plan, factories, resolve_import(case.function, folder),
                     (lambda *xs: hand_vjp(*xs, **params)) if hand_vjp else None)


def _importer(path: Any, folder: str | None) -> Callable[[Any], Callable]:
    """A factory that imports a framework function once its framework is imported."""
    return lambda _framework_module: resolve_import(path, folder)


def _numpy_forward(case: Case, code: _UserCode, leaves: Mapping[str, np.ndarray], key: Any) -> Callable:
    if code.numpy is not None:
        return code.plan.forward(code.numpy, None, key)
    framework = case.reference_framework
    return numpy_function(framework, code.native(framework, key), [a.dtype for a in leaves.values()],
                          [a.ndim for a in leaves.values()])


def _output_arrays(output: Any) -> list[tuple[Hashable | None, np.ndarray]]:
    try:
        entries = output_entries(output)
        return [(key, np.asarray(value)) for key, value in entries]
    except TypeError as exc:
        raise CaseError(f"the forward returned {type(output).__name__}, not arrays: {exc}") from None
    except ValueError as exc:
        raise CaseError(f"the forward returned {type(output).__name__}, not arrays: {exc}") from None


def materialize_outputs(case: Case, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> list[Problem]:
    """Build the inputs, evaluate the forward once, settle one cotangent per checked output."""
    leaves = {path: round_to(build_array(spec, case, f"inputs.{path}", max_elements=max_elements), case.dtype)
              for path, spec in case.leaf_specs}
    if case.op is not None or case.expr is not None:
        forward, vjp = _builtin_callables(case)
        output = call_forward(forward, list(leaves.values()))
        natives = {f: _builtin_native(case, f) for f in case.frameworks}
        cotangents = checked_outputs(case, [(None, output)], max_elements)
        return [_problem(case, leaves, output, cotangents[0][1], forward, vjp, natives, None)]
    code = _user_code(case, leaves)
    leaves.update({name: round_to(value, case.dtype) for name, value in zip(code.plan.parameters, code.parameters)})
    case = _resolve_wrt(case, leaves)
    entries = _output_arrays(call_forward(_numpy_forward(case, code, leaves, ALL), list(leaves.values()), raw=True))
    problems = []
    for key, cotangent in checked_outputs(case, entries, max_elements):
        output = as_float64(dict(entries)[key])
        problems.append(_problem(
            case, leaves, output, cotangent, _numpy_forward(case, code, leaves, key),
            _vjp_of_output(code.vjp, entries, key), {f: code.native(f, key) for f in case.frameworks},
            output_label(key)))
    return problems


def materialize(case: Case, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Problem:
    """The Problem of a case's first checked output (its only one, for most cases)."""
    return materialize_outputs(case, max_elements=max_elements)[0]


def _resolve_wrt(case: Case, leaves: Mapping[str, np.ndarray]) -> Case:
    """A module's parameters join the default wrt; a declared name must be a floating leaf."""
    floating = tuple(name for name, value in leaves.items() if is_inexact(value))
    if not case.wrt_declared:
        return replace(case, wrt=floating)
    unknown = [name for name in case.wrt if name not in floating]
    if unknown:
        raise CaseError(f"{case.file}:{case.line_of('wrt')}: wrt: {', '.join(map(repr, unknown))} is not a "
                        f"floating input or parameter (one of {', '.join(floating)})")
    return case


def _vjp_of_output(vjp: Callable | None, entries: list, key: Any) -> Callable | None:
    """A hand-written VJP of a function of several outputs takes one cotangent per output (a tuple
    or dict, as the function returns them): this output's, zeros for the others."""
    if vjp is None or key is None:
        return vjp

    def of_one_output(*xs_and_cotangent):
        *xs, cotangent = xs_and_cotangent
        zeros = {k: np.zeros(np.shape(v)) for k, v in entries}
        zeros[key] = cotangent
        keys = [k for k, _ in entries]
        structure = zeros if not isinstance(keys[0], int) else tuple(zeros[k] for k in keys)
        return vjp(*xs, structure)
    return of_one_output


def call_forward(forward: Callable, inputs: list[np.ndarray], raw: bool = False) -> Any:
    """The forward at the case's inputs: one float64 or complex128 array (or, raw, whatever it returned)."""
    try:
        with np.errstate(all="ignore"):
            output = forward(*inputs)
    except CaseError:
        raise
    except Exception as exc:
        raise CaseError(f"the forward raised {type(exc).__name__}: {exc}") from None
    if raw:
        return output
    try:
        return as_float64(output)
    except (TypeError, ValueError) as exc:
        raise CaseError(f"the forward returned {type(output).__name__}, not an array: {exc}") from None


def _problem(case: Case, leaves: Mapping[str, np.ndarray], output: np.ndarray, cotangent: np.ndarray,
             forward: Callable, vjp: Callable | None, natives: Mapping, name: str | None) -> Problem:
    where = f"{name} of the forward" if name else "the forward"
    if not np.all(np.isfinite(output)):
        bad = np.argwhere(~np.isfinite(output))[0].tolist()
        raise CaseError(f"{where} is not finite at the case's inputs (output{bad} = {output[tuple(bad)]})")
    for input_name, answer in case.expect.items():
        if np.shape(answer) != leaves[input_name].shape:
            raise CaseError(
                f"{case.file}:{case.line_of('expect')}: expect.{input_name} has shape {list(np.shape(answer))} "
                f"but input {input_name} has shape {list(leaves[input_name].shape)}"
            )
    return Problem(case=case, inputs=leaves, cotangent=cotangent, output=output, forward=forward,
                   numpy_vjp=vjp, natives=natives, output_name=name)
