"""Reading the array parts of a case file: inputs (literals, generators, pytrees) and cotangents.

`Reader` is field access on one YAML mapping whose errors carry file, line and key;
loader.py reads a whole case with it.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable

from gradcheck.cases.schema import (
    GENERATOR_KEYS,
    INTEGER_DTYPES,
    CaseFileError,
    Generator,
    InputSpec,
)
from gradcheck.cases.yamlfile import LineDict

LITERAL_KEYS = ("values", "dtype")


class Reader:
    """Field access on one YAML mapping with errors that carry file:line:key."""

    def __init__(self, mapping: LineDict, file: str, what: str):
        self.mapping, self.file, self.what = mapping, file, what

    def fail(self, key: str | None, message: str) -> CaseFileError:
        line = self.mapping.line_of(key) if key is not None else self.mapping.line
        return CaseFileError(self.file, line, f"{self.what}: {message}")

    def check_keys(self, known: Iterable[str]) -> None:
        known = tuple(known)
        for key in self.mapping:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.fail(
                    key, f"unknown key {key!r}{suggestion}; known keys: {', '.join(known)}"
                )

    def text(self, key: str, pattern: re.Pattern | None = None, what: str = "") -> str | None:
        value = self.mapping.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"{key!r} must be a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"{key!r} must be {what}, got {value!r}")
        return value

    def number(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"{key!r} must be a number, got {value!r}")
        return float(value)

    def natural(self, key: str) -> int | None:
        value = self.mapping.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise self.fail(key, f"{key!r} must be a non-negative integer, got {value!r}")
        return value


def is_array_mapping(value: Any) -> bool:
    """A mapping with `shape`, `dist` or `values` is one array; any other mapping is a structure."""
    return isinstance(value, LineDict) and any(key in value for key in ("shape", "dist", "values"))


def parse_inputs(reader: Reader, allow_structure: bool = True) -> tuple[InputSpec, ...]:
    raw = reader.mapping.get("inputs")
    if raw is None:
        raise reader.fail(None, "missing 'inputs'")
    if not isinstance(raw, LineDict) or not raw:
        raise reader.fail("inputs", "'inputs' must be a non-empty mapping of name: value")
    return _parse_entries(reader, raw, "inputs", allow_structure)


def _parse_entries(reader: Reader, raw: LineDict, key: str, allow_structure: bool) -> tuple[InputSpec, ...]:
    specs = []
    for name, value in raw.items():
        line = raw.line_of(name)
        if not isinstance(name, str) or not name.isidentifier():
            raise CaseFileError(reader.file, line, f"{reader.what}: input name {name!r} is not an identifier")
        if isinstance(value, LineDict) and not is_array_mapping(value):
            if not allow_structure or not value:
                raise CaseFileError(reader.file, line, f"{reader.what}: {key}.{name}: a nested mapping "
                                    "(a pytree) needs entries and a function that takes it")
            specs.append(InputSpec(name=name, line=line,
                                   children=_parse_entries(reader, value, f"{key}.{name}", True)))
        else:
            specs.append(parse_array_spec(reader, f"{key}.{name}", value, line, shape_required=True, name=name))
    return tuple(specs)


def parse_cotangent(reader: Reader) -> Any:
    """One spec; or one per output: a list (None leaves that output out) or a mapping by output key."""
    value, line = reader.mapping.get("cotangent"), reader.mapping.line_of("cotangent")
    if value is None:
        return None

    def one(key: str, item: Any) -> InputSpec | None:
        if item is None:
            return None
        return parse_array_spec(reader, key, item, line, shape_required=False)

    if isinstance(value, list) and any(item is None or isinstance(item, LineDict) for item in value):
        return tuple(one(f"cotangent[{k}]", item) for k, item in enumerate(value))
    if isinstance(value, LineDict) and not is_array_mapping(value):
        return {str(k): one(f"cotangent.{k}", item) for k, item in value.items()}
    return one("cotangent", value)


def parse_array_spec(reader: Reader, key: str, value: Any, line: int, *,
                     shape_required: bool, name: str = "") -> InputSpec:
    def fail(message: str) -> CaseFileError:
        return CaseFileError(reader.file, line, f"{reader.what}: {key}: {message}")

    if isinstance(value, LineDict) and "values" in value:
        sub = Reader(value, reader.file, f"{reader.what}: {key}")
        sub.check_keys(LITERAL_KEYS)
        dtype = value.get("dtype")
        if dtype is not None and dtype not in INTEGER_DTYPES:
            raise sub.fail("dtype", f"literal dtype {dtype!r}: one of {', '.join(INTEGER_DTYPES)} "
                           "(floating literals take the case dtype)")
        value = value["values"]
        try:
            literal = check_literal(value, integer=dtype is not None)
        except ValueError as exc:
            raise fail(str(exc)) from None
        return InputSpec(name=name, line=line, literal=literal, dtype=dtype)
    if isinstance(value, LineDict):
        return InputSpec(name=name, line=line, generator=_parse_generator(reader, key, value, shape_required))
    try:
        literal = check_literal(value)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return InputSpec(name=name, line=line, literal=literal)


_DEFAULT_ARGS = {
    "normal": {"mean": 0.0, "std": 1.0},
    "uniform": {"low": 0.0, "high": 1.0},
    "integers": {"low": 0.0, "high": 2.0},
    "spd": {"cond": 0.0},  # 0: eigenvalues drawn in [0.5, 2]
    "symmetric": {},
}


def _parse_generator(reader: Reader, key: str, value: LineDict, shape_required: bool) -> Generator:
    dist = value.get("dist", "normal")
    sub = Reader(value, reader.file, f"{reader.what}: {key}")
    if dist not in GENERATOR_KEYS:
        raise sub.fail("dist", f"unknown dist {dist!r}; one of {', '.join(GENERATOR_KEYS)}")
    sub.check_keys(GENERATOR_KEYS[dist])
    shape = value.get("shape")
    if shape is None:
        if shape_required:
            raise sub.fail(None, "a generator needs 'shape', e.g. shape: [3, 4]")
    elif isinstance(shape, int) and not isinstance(shape, bool):
        shape = [shape]
    if shape is not None and (
        not isinstance(shape, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise sub.fail("shape", f"'shape' must be a list of non-negative integers, got {shape!r}")
    if dist in ("spd", "symmetric") and shape is not None and (len(shape) < 2 or shape[-1] != shape[-2]):
        raise sub.fail("shape", f"'{dist}' needs shape [..., n, n], got {shape!r}")
    seed = sub.natural("seed")
    args = {arg: sub.number(arg, value[arg]) if arg in value else default
            for arg, default in _DEFAULT_ARGS[dist].items()}
    if dist == "normal" and args["std"] < 0:
        raise sub.fail("std", "'std' must be non-negative")
    if dist in ("uniform", "integers") and args["low"] > args["high"]:
        raise sub.fail("low", "'low' must not exceed 'high'")
    if dist == "integers" and (args["low"] != int(args["low"]) or args["high"] <= args["low"]):
        raise sub.fail("high", "'integers' draws from low (inclusive) to high (exclusive): whole numbers, low < high")
    if dist == "spd" and "cond" in value and args["cond"] < 1:
        raise sub.fail("cond", "'cond' (the condition number) must be at least 1")
    return Generator(shape=tuple(shape) if shape is not None else None, dist=dist,
                     args=tuple(args.items()), seed=seed, support=_parse_support(sub, value))


def _parse_support(sub: Reader, value: LineDict) -> tuple[float | None, float | None] | None:
    support = value.get("support")
    if support is None:
        return None
    if not isinstance(support, list) or len(support) != 2:
        raise sub.fail("support", "'support' must be [low, high] (either may be null)")
    return tuple(None if bound is None else sub.number("support", bound) for bound in support)


def complex_literal(text: str) -> complex:
    """A complex literal as case files spell it, a string such as "1+2j", "-0.5j" or "3"."""
    try:
        return complex(text.replace(" ", ""))
    except ValueError:
        raise ValueError(f"expected a number, or a complex number as a string such as \"1+2j\", got {text!r}") from None


def check_literal(value: Any, integer: bool = False) -> Any:
    """A number or a rectangular nested list of numbers: floats (complex ones as strings, "1+2j"), or
    whole numbers when `integer`."""
    if value is None or (isinstance(value, bool) and not integer):
        raise ValueError(f"expected a number or a (nested) list of numbers, got {value!r}")
    if isinstance(value, str) and not integer:
        return complex_literal(value)
    if isinstance(value, (int, float)):
        if integer and value != int(value):
            raise ValueError(f"an integer literal holds whole numbers, got {value!r}")
        return int(value) if integer else float(value)
    if isinstance(value, list):
        # An empty list is an array with no elements ([] has shape (0,), [[]] shape (1, 0)): every
        # method passes it with "no elements", as torch's own samples with a 0 in the shape do.
        items = [check_literal(item, integer) for item in value]
        shapes = {_literal_shape(item) for item in items}
        if len(shapes) > 1:
            raise ValueError("a nested list must be rectangular (rows of equal length)")
        return items
    raise ValueError(f"expected a number or a (nested) list of numbers, got {value!r}")


def _literal_shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, list):
        return (len(value), *(_literal_shape(value[0]) if value else ()))
    return ()
