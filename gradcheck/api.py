"""`gradcheck.check`: the same recipe as a case file, for functions in hand."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from gradcheck.cases.schema import Case, InputSpec
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.verdict import NOTHING, unchecked_cases
from gradcheck.dtypes import refuse_complex
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
    function: Callable, inputs: Mapping[str, Any], *, vjp: Callable | None = None,
    torch: Callable | None = None, tensorflow: Callable | None = None, jax: Callable | None = None,
    cotangent: Any = None, wrt: Sequence[str] | None = None, params: Mapping[str, Any] | None = None,
    dtype: str = "float64", rtol: float | None = None, atol: float | None = None,
    expect: Mapping[str, Any] | None = None, methods: Sequence[str] | None = None,
    name: str | None = None, options: RunOptions | None = None,
) -> Result:
    """Check the gradients of `function(*inputs.values(), **params)`.

    `vjp(*inputs, cotangent, **params)` returns one gradient per input (None
    where not differentiated); `torch=`, `tensorflow=`, `jax=` take the same
    function written in that framework, whose own backward is checked.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if not inputs:
        raise ValueError("inputs must name at least one input")
    names = tuple(inputs)
    unknown = set(wrt or ()) - set(names)
    if unknown:
        raise ValueError(f"wrt names {sorted(unknown)} are not inputs ({', '.join(names)})")
    frameworks = {k: v for k, v in (("torch", torch), ("tensorflow", tensorflow), ("jax", jax)) if v is not None}
    arrays = {key: real_array(value, f"input {key!r}") for key, value in inputs.items()}
    case = Case(
        name=name or getattr(function, "__name__", "function"), file="<python>", line=0,
        function=function, vjp=vjp, framework_functions=MappingProxyType(frameworks),
        inputs=tuple(InputSpec(name=k, line=0, literal=v) for k, v in arrays.items()),
        params=MappingProxyType(dict(params or {})),
        cotangent=None if cotangent is None else InputSpec(
            name="cotangent", line=0, literal=real_array(cotangent, "the cotangent")),
        wrt=tuple(wrt) if wrt else names, dtype=dtype,
        methods=tuple(methods) if methods else None,
        tolerance=ToleranceOverride(rtol=rtol, atol=atol) if rtol is not None or atol is not None else None,
        expect=MappingProxyType({k: real_array(v, f"expect[{k!r}]") for k, v in (expect or {}).items()}),
    )
    return Result(tuple(run_case(case, options or RunOptions())))


def real_array(value: Any, what: str) -> np.ndarray:
    """A float64 copy of `value` with its shape exactly, (0, 10) and 0-d included (nested lists lose
    empty axes: a (0, 10) array's .tolist() is [], shape (0,)). A complex value is refused, not cast."""
    try:
        refuse_complex(value, what)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    array = np.array(value, dtype=np.float64)
    array.flags.writeable = False  # the case holds it; nothing downstream may change it in place
    return array
