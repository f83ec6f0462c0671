"""Case files -> Case values: find the files, read line-aware YAML, check every key, name the file,
line and key of any defect (with the closest known key for a typo). Nothing runs here."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable

from gradcheck.cases import expr as expr_language
from gradcheck.cases.schema import (
    CASE_KEYS,
    GENERATOR_KEYS,
    IMPORT_PATH,
    MAX_FILE_BYTES,
    NAME_PATTERN,
    TOLERANCE_KEYS,
    Case,
    CaseFileError,
    Generator,
    InputSpec,
)
from gradcheck.cases.yamlfile import LineDict, YamlError, load_yaml
from gradcheck.methods import METHODS, REVERSE_MODE
from gradcheck.ops import OPS
from gradcheck.tolerance import DTYPES, ToleranceOverride

# ---------------------------------------------------------------- files


def find_case_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders walked recursively for *.yaml/*.yml, sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            )
        elif path.is_file():
            found.append(path)
        else:
            raise CaseFileError(str(raw), None, "no such file or folder")
    return found


def load_cases(paths: Iterable[str | Path] = ("cases",)) -> list[Case]:
    """Load every case under `paths`; names must be unique across the suite."""
    cases: list[Case] = []
    seen: dict[str, Case] = {}
    for path in find_case_files(paths):
        for case in load_file(path):
            if case.name in seen:
                first = seen[case.name]
                raise CaseFileError(
                    case.file, case.line,
                    f"duplicate case name {case.name!r} (first in {first.file}:{first.line})",
                )
            seen[case.name] = case
            cases.append(case)
    return cases


def load_file(path: str | Path) -> list[Case]:
    file = str(path)
    try:
        if Path(path).stat().st_size > MAX_FILE_BYTES:
            raise CaseFileError(file, None, f"file is larger than {MAX_FILE_BYTES} bytes")
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseFileError(file, None, f"cannot read: {exc}") from None
    return parse_cases(text, file)


def parse_cases(text: str, file: str = "<string>") -> list[Case]:
    try:
        document = load_yaml(text)
    except YamlError as exc:
        raise CaseFileError(file, exc.line, str(exc)) from None
    if document is None:
        return []
    if not isinstance(document, LineDict):
        raise CaseFileError(file, 1, "expected a case (a mapping) or a mapping with 'cases:'")
    if "cases" in document:
        extra = [key for key in document if key != "cases"]
        if extra:
            raise CaseFileError(
                file, document.line_of(extra[0]),
                f"unknown top-level key {extra[0]!r} beside 'cases' (only 'cases' is allowed there)",
            )
        entries = document["cases"]
        if not isinstance(entries, list):
            raise CaseFileError(file, document.line_of("cases"), "'cases' must be a list of cases")
        names: dict[str, int] = {}
        cases = []
        for entry in entries:
            case = _parse_case(entry, file, document.line_of("cases"))
            if case.name in names:
                raise CaseFileError(
                    file, case.line,
                    f"duplicate case name {case.name!r} (first on line {names[case.name]})",
                )
            names[case.name] = case.line
            cases.append(case)
        return cases
    return [_parse_case(document, file, 1)]


# ---------------------------------------------------------------- one case


class _Reader:
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


def _parse_case(entry: Any, file: str, parent_line: int) -> Case:
    if not isinstance(entry, LineDict):
        raise CaseFileError(file, parent_line, f"each case must be a mapping, got {entry!r}")
    name = entry.get("name")
    reader = _Reader(entry, file, f"case {name!r}" if isinstance(name, str) else "case")
    reader.check_keys(CASE_KEYS)
    if name is None:
        raise reader.fail(None, "missing 'name'")
    name = reader.text("name", NAME_PATTERN, "letters, digits, '_', '.' or '-'")

    sources = [key for key in ("op", "expr", "function") if entry.get(key) is not None]
    if len(sources) != 1:
        message = (
            "needs one of 'op', 'expr' or 'function'"
            if not sources
            else f"'op', 'expr' and 'function' are mutually exclusive (found {', '.join(sources)})"
        )
        raise reader.fail(sources[-1] if sources else None, message)

    inputs = _parse_inputs(reader)
    input_names = tuple(spec.name for spec in inputs)

    op_name = reader.text("op")
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise reader.fail("params", "'params' must be a mapping of keyword arguments")
    if op_name is not None:
        if op_name not in OPS:
            hint = difflib.get_close_matches(op_name, OPS, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise reader.fail("op", f"unknown op {op_name!r}{suggestion}; built-in ops: {', '.join(OPS)}")
        op = OPS[op_name]
        if len(inputs) != len(op.inputs):
            raise reader.fail(
                "inputs",
                f"op {op_name!r} takes {len(op.inputs)} input(s) ({', '.join(op.inputs)}), "
                f"got {len(inputs)}",
            )
        try:
            params = op.check_params(params)
        except ValueError as exc:
            raise reader.fail("params", str(exc)) from None

    parsed_expr = None
    if entry.get("expr") is not None:
        source = reader.text("expr")
        if params:
            raise reader.fail("params", "'params' applies to 'op' and 'function' cases, not 'expr'")
        try:
            parsed_expr = expr_language.parse(source, allowed_names=input_names)
        except expr_language.ExprError as exc:
            raise reader.fail("expr", f"invalid expression: {exc}") from None

    function = reader.text("function", IMPORT_PATH, "an import path 'module:attribute'")
    vjp = reader.text("vjp", IMPORT_PATH, "an import path 'module:attribute'")
    if vjp is not None and function is None:
        raise reader.fail("vjp", "'vjp' needs a NumPy 'function' to go with it")
    framework_functions = {
        method: path
        for method in REVERSE_MODE
        if (path := reader.text(method, IMPORT_PATH, "an import path 'module:attribute'"))
    }
    if framework_functions and function is None:
        key = next(iter(framework_functions))
        raise reader.fail(key, f"'{key}' needs a NumPy 'function' (the forward the reference differentiates)")

    wrt = _parse_name_list(reader, "wrt", input_names) or input_names
    methods = _parse_name_list(reader, "methods", METHODS)

    dtype = entry.get("dtype", "float64")
    if dtype not in DTYPES:
        raise reader.fail("dtype", f"unknown dtype {dtype!r}; one of {', '.join(DTYPES)}")

    cotangent = None
    if entry.get("cotangent") is not None:
        cotangent = _parse_array_spec(reader, "cotangent", entry["cotangent"], entry.line_of("cotangent"),
                                      shape_required=False)

    expect = _parse_expect(reader, input_names)
    return Case(
        name=name, file=file, line=entry.line, op=op_name, expr=parsed_expr,
        function=function, vjp=vjp, framework_functions=MappingProxyType(framework_functions),
        inputs=inputs, params=MappingProxyType(dict(params)), cotangent=cotangent, wrt=wrt,
        dtype=dtype, methods=methods, tolerance=_parse_tolerance(reader, "tolerance"),
        expect=MappingProxyType(expect),
        expect_tolerance=_parse_tolerance(reader, "expect_tolerance"),
        skip=_parse_reason(reader, "skip"), xfail=_parse_reason(reader, "xfail"),
        timeout=_parse_timeout(reader), key_lines=MappingProxyType(dict(entry.key_lines)),
    )


def _parse_inputs(reader: _Reader) -> tuple[InputSpec, ...]:
    raw = reader.mapping.get("inputs")
    if raw is None:
        raise reader.fail(None, "missing 'inputs'")
    if not isinstance(raw, LineDict) or not raw:
        raise reader.fail("inputs", "'inputs' must be a non-empty mapping of name: value")
    specs = []
    for name, value in raw.items():
        line = raw.line_of(name)
        if not isinstance(name, str) or not name.isidentifier():
            raise CaseFileError(reader.file, line, f"{reader.what}: input name {name!r} is not an identifier")
        if name in expr_language.FUNCTIONS:
            raise CaseFileError(reader.file, line, f"{reader.what}: input name {name!r} is a function name")
        specs.append(_parse_array_spec(reader, f"inputs.{name}", value, line, shape_required=True, name=name))
    return tuple(specs)


def _parse_array_spec(reader: _Reader, key: str, value: Any, line: int, *,
                      shape_required: bool, name: str = "") -> InputSpec:
    fail = lambda message: CaseFileError(reader.file, line, f"{reader.what}: {key}: {message}")  # noqa: E731
    if isinstance(value, LineDict):
        dist = value.get("dist", "normal")
        if dist not in GENERATOR_KEYS:
            raise fail(f"unknown dist {dist!r}; one of {', '.join(GENERATOR_KEYS)}")
        sub = _Reader(value, reader.file, f"{reader.what}: {key}")
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
        seed = value.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise sub.fail("seed", f"'seed' must be a non-negative integer, got {seed!r}")
        defaults = {"mean": 0.0, "std": 1.0} if dist == "normal" else {"low": 0.0, "high": 1.0}
        args = tuple(
            (arg, sub.number(arg, value[arg]) if arg in value else default)
            for arg, default in defaults.items()
        )
        if dist == "normal" and dict(args)["std"] < 0:
            raise sub.fail("std", "'std' must be non-negative")
        if dist == "uniform" and dict(args)["low"] > dict(args)["high"]:
            raise sub.fail("low", "'low' must not exceed 'high'")
        generator = Generator(
            shape=tuple(shape) if shape is not None else None, dist=dist, args=args, seed=seed
        )
        return InputSpec(name=name, line=line, generator=generator)
    try:
        literal = _check_literal(value)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return InputSpec(name=name, line=line, literal=literal)


def _check_literal(value: Any) -> Any:
    """A number or a rectangular nested list of numbers, as floats."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a number or a (nested) list of numbers, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list has no elements to differentiate")
        items = [_check_literal(item) for item in value]
        shapes = {_literal_shape(item) for item in items}
        if len(shapes) != 1:
            raise ValueError("a nested list must be rectangular (rows of equal length)")
        return items
    raise ValueError(f"expected a number or a (nested) list of numbers, got {value!r}")


def _literal_shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, list):
        return (len(value), *_literal_shape(value[0]))
    return ()


def _parse_name_list(reader: _Reader, key: str, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    value = reader.mapping.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise reader.fail(key, f"'{key}' must be a non-empty list")
    for item in value:
        if item not in allowed:
            hint = difflib.get_close_matches(str(item), allowed, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise reader.fail(key, f"{key}: unknown name {item!r}{suggestion}; one of {', '.join(allowed)}")
    if len(set(value)) != len(value):
        raise reader.fail(key, f"'{key}' lists a name twice")
    return tuple(value)


def _parse_tolerance(reader: _Reader, key: str) -> ToleranceOverride | None:
    value = reader.mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, LineDict):
        raise reader.fail(key, f"'{key}' must be a mapping like {{rtol: 1.0e-6, atol: 1.0e-9}}")
    sub = _Reader(value, reader.file, f"{reader.what}: {key}")
    sub.check_keys(TOLERANCE_KEYS)
    levels = {}
    for name in TOLERANCE_KEYS:
        if name in value:
            number = sub.number(name, value[name])
            if not number >= 0 or number == float("inf"):
                raise sub.fail(name, f"'{name}' must be a finite number >= 0, got {value[name]!r}")
            levels[name] = number
    return ToleranceOverride(**levels)


def _parse_timeout(reader: _Reader) -> float | None:
    value = reader.mapping.get("timeout")
    seconds = None if value is None else reader.number("timeout", value)
    if seconds is not None and not 0 < seconds < float("inf"):
        raise reader.fail("timeout", f"'timeout' must be a number of seconds > 0, got {value!r}")
    return seconds


def _parse_expect(reader: _Reader, input_names: tuple[str, ...]) -> dict[str, Any]:
    value = reader.mapping.get("expect")
    if value is None:
        return {}
    line = reader.mapping.line_of("expect")
    if not isinstance(value, LineDict):
        if len(input_names) != 1:
            raise reader.fail("expect", "'expect' must map input names to their known gradients")
        value = {input_names[0]: value}
    expect = {}
    for name, answer in value.items():
        if name not in input_names:
            raise CaseFileError(
                reader.file, getattr(value, "line_of", lambda _k: line)(name),
                f"{reader.what}: expect: {name!r} is not an input ({', '.join(input_names)})",
            )
        try:
            expect[name] = _check_literal(answer)
        except ValueError as exc:
            raise reader.fail("expect", f"expect.{name}: {exc}") from None
    return expect


def _parse_reason(reader: _Reader, key: str) -> str | None:
    value = reader.mapping.get(key)
    if value is None or value is False:
        return None
    if value is True:
        return key
    if not isinstance(value, str):
        raise reader.fail(key, f"'{key}' takes a reason string")
    return value
