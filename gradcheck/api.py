"""`gradcheck.check`: the same recipe as a case file, for functions in hand."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from gradcheck.cases.schema import Case, InputSpec
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.verdict import NOTHING, unchecked_cases
from gradcheck.run.runner import RunOptions, run_case
from gradcheck.tolerance import DTYPES, ToleranceOverride


@dataclass(frozen=True)
class Result:
    """What `check` found. str(result) is the table the CLI prints."""

    comparisons: tuple[Comparison, ...]

    @property
    def passed(self) -> bool:
        """No mismatch, no error, and something was compared: a check of nothing is not a pass."""
        return not self.failures

    @property
    def failures(self) -> tuple[Comparison, ...]:
        """The rows that make the check fail, the "nothing to compare" row included."""
        return tuple(c for c in self.comparisons
                     if c.status in (Status.FAIL, Status.ERROR) or c.method == NOTHING)

    @property
    def nothing_compared(self) -> bool:
        return bool(unchecked_cases(self.comparisons))

    def __str__(self) -> str:
        from gradcheck.reports.table import render_text

        return render_text(self.comparisons)

    def __repr__(self) -> str:
        # pytest shows `assert result.passed, result` through repr(), cut to 240
        # characters: lead with the first failure, not with the dataclass fields.
        failures = self.failures
        if not failures:
            return f"Result(passed: {len(self.comparisons)} comparisons)"
        first = failures[0]
        return (f"Result(failed: {len(failures)} of {len(self.comparisons)} comparisons; "
                f"{first.path}: {first.message})")


def check(
    function: Callable | None = None, inputs: Mapping[str, Any] | None = None, *,
    vjp: Callable | None = None, hvp: Callable | None = None, order: int = 1,
    torch: Callable | None = None, tensorflow: Callable | None = None, jax: Callable | None = None,
    cotangent: Any = None, wrt: Sequence[str] | None = None, params: Mapping[str, Any] | None = None,
    dtype: str | None = None, rtol: float | None = None, atol: float | None = None,
    expect: Mapping[str, Any] | None = None, methods: Sequence[str] | None = None,
    name: str | None = None, options: RunOptions | None = None,
    args: Sequence[str] | None = None, rng_seed: int | None = None, reference: str | None = None,
    budget: float | None = None,
) -> Result:
    """Check the gradients of `function(*inputs.values(), **params)`.

    `vjp(*inputs, cotangent, **params)` returns one gradient per input (None
    where not differentiated); `torch=`, `tensorflow=`, `jax=` take the same
    function written in that framework, whose own backward is checked. Without
    a NumPy `function`, the reference differentiates the framework function's
    own forward (`reference=` picks one when several are given).

    An input may be a nested dict (a pytree: its leaves are named by dotted path)
    or an integer or boolean array (passed through, never differentiated). A
    tuple or dict `cotangent` gives one cotangent per output (None leaves one out).
    `args` fixes the positional call order over input and param names.
    `budget` (seconds per input) replaces the options' budget: in auto mode, an input whose full
    check is predicted to take longer is checked along random directions.
    `order=2` also checks second derivatives (DESIGN section 3), `vjp`'s through
    `hvp(*inputs, cotangent, v, **params)` (v: one tangent per input; one array per input back).
    `dtype` defaults to float64, or complex128 where an input is complex; complex gradients are
    d phi/d Re z + i d phi/d Im z of phi = Re sum conj(dz) f(z).
    """
    if dtype is None:
        dtype = "complex128" if _any_complex(inputs) else "float64"
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if not inputs:
        raise ValueError("inputs must name at least one input")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    if hvp is not None and vjp is None:
        raise ValueError("hvp is the second order of a hand-written vjp: give vjp= too")
    frameworks = {k: v for k, v in (("torch", torch), ("tensorflow", tensorflow), ("jax", jax)) if v is not None}
    if function is None and not frameworks:
        raise ValueError("check needs a forward: a NumPy function, or torch=, tensorflow= or jax=")
    if reference is not None and reference not in frameworks:
        raise ValueError(f"reference must name a framework function given ({', '.join(frameworks)})")
    specs = tuple(_input_spec(k, v) for k, v in inputs.items())
    leaves = {path: spec for node in specs for path, spec in node.leaves()}
    floating = tuple(path for path, spec in leaves.items() if spec.floating)
    unknown = set(wrt or ()) - set(leaves)
    if unknown:
        raise ValueError(f"wrt names {sorted(unknown)} are not inputs ({', '.join(leaves)})")
    integer = set(wrt or ()) - set(floating)
    if integer:
        raise ValueError(f"wrt names {sorted(integer)} are integer or boolean inputs, never differentiated")
    case = Case(
        name=name or getattr(function or next(iter(frameworks.values())), "__name__", "function"),
        file="<python>", line=0,
        function=function, vjp=vjp, hvp=hvp, order=order, framework_functions=MappingProxyType(frameworks),
        reference=reference,
        args=tuple(args) if args else None, rng_seed=rng_seed, inputs=specs,
        params=MappingProxyType(dict(params or {})), cotangent=_cotangent_spec(cotangent),
        wrt=tuple(wrt) if wrt else floating, wrt_declared=bool(wrt), dtype=dtype,
        methods=tuple(methods) if methods else None,
        tolerance=ToleranceOverride(rtol=rtol, atol=atol) if rtol is not None or atol is not None else None,
        expect=MappingProxyType({k: exact_array(v) for k, v in (expect or {}).items()}),
    )
    options = options or RunOptions()
    if budget is not None:
        if not budget > 0:
            raise ValueError(f"budget must be a number of seconds above 0, got {budget!r}")
        options = replace(options, budget=float(budget))
    return Result(tuple(run_case(case, options)))


def _input_spec(name: str, value: Any) -> InputSpec:
    """A dict is a pytree node; an integer or boolean array keeps its dtype; the rest is float."""
    if _is_node(value):
        return InputSpec(name=name, line=0, children=tuple(_input_spec(k, v) for k, v in value.items()))
    array = np.asarray(value)
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer):
        dtype = "bool" if array.dtype == np.bool_ else "int64"
        return InputSpec(name=name, line=0, literal=np.array(array), dtype=dtype)
    return InputSpec(name=name, line=0, literal=exact_array(value))


def _cotangent_spec(cotangent: Any) -> Any:
    """One array; or, as a tuple or dict, one per output (None: leave that output out)."""
    def one(value):
        return None if value is None else InputSpec(
            name="cotangent", line=0, literal=exact_array(value))
    if isinstance(cotangent, tuple):
        return tuple(one(v) for v in cotangent)
    if _is_node(cotangent):
        return {str(k): one(v) for k, v in cotangent.items()}
    return one(cotangent)


def _is_node(value: Any) -> bool:
    """A dict-like pytree node. An array is ruled out first: a process's first isinstance(array, Mapping)
    asks every registered Mapping class, about 70 us."""
    return not isinstance(value, np.ndarray) and isinstance(value, Mapping)


def _any_complex(value: Any) -> bool:
    if _is_node(value):
        return any(_any_complex(v) for v in value.values())
    return bool(np.iscomplexobj(value))


def exact_array(value: Any) -> np.ndarray:
    """A float64 (complex128) copy of `value` with its shape exactly, (0, 10) and 0-d included (nested
    lists lose empty axes: a (0, 10) array's .tolist() is [], shape (0,)). A complex value stays complex:
    in a real case it is refused when the case is built, never cast."""
    array = np.array(value, dtype=np.complex128 if np.iscomplexobj(value) else np.float64)
    array.flags.writeable = False  # the case holds it; nothing downstream may change it in place
    return array
