"""Case files -> Case values: find the files, read line-aware YAML, check every key, name the file,
line and key of any defect (with the closest known key for a typo). Nothing runs here."""

from __future__ import annotations

import difflib
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable

from gradcheck.cases import expr as expr_language
from gradcheck.cases.schema import (
    CASE_KEYS,
    IMPORT_PATH,
    MAX_FILE_BYTES,
    MODULE_FRAMEWORKS,
    NAME_PATTERN,
    ORDERS,
    TOLERANCE_KEYS,
    Case,
    CaseFileError,
)
from gradcheck.cases.specs import Reader, check_literal, parse_cotangent, parse_inputs
from gradcheck.cases.yamlfile import LineDict, YamlError, load_yaml
from gradcheck.methods import METHODS, REVERSE_MODE
from gradcheck.ops import OPS
from gradcheck.tolerance import DTYPES, ToleranceOverride

# ---------------------------------------------------------------- files


# Folders of tools, not of cases: a virtual environment alone holds hundreds of YAML files.
SKIPPED_FOLDERS = frozenset({".git", ".venv", "venv", "node_modules", "site-packages", "__pycache__",
                             ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def find_case_files(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """(file, named) pairs: files as given (named: True); folders walked recursively for
    *.yaml/*.yml, sorted (named: False)."""
    found: list[tuple[Path, bool]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend((p, False) for p in sorted(
                p for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml") and p.is_file()
                and not SKIPPED_FOLDERS.intersection(p.relative_to(path).parts[:-1])
            ))
        elif path.is_file():
            found.append((path, True))
        else:
            raise CaseFileError(str(raw), None, "no such file or folder")
    return found


def load_cases(paths: Iterable[str | Path] = ("cases",), notes: list[str] | None = None) -> list[Case]:
    """Load every case under `paths`; names must be unique across the suite.

    A walked YAML file that is not a case file (a CI workflow, a config file) is passed
    over, with a line in `notes`; a file named in `paths` must be a case file.
    """
    cases: list[Case] = []
    seen: dict[str, Case] = {}
    for path, named in find_case_files(paths):
        for case in load_file(path, must_be_cases=named, notes=notes):
            if case.name in seen:
                first = seen[case.name]
                raise CaseFileError(
                    case.file, case.line,
                    f"duplicate case name {case.name!r} (first in {first.file}:{first.line})",
                )
            seen[case.name] = case
            cases.append(case)
    return cases


def load_file(path: str | Path, *, must_be_cases: bool = True, notes: list[str] | None = None) -> list[Case]:
    """The cases of one file, which know its folder (imports are resolved from there first)."""
    file = str(path)
    try:
        if Path(path).stat().st_size > MAX_FILE_BYTES:
            raise CaseFileError(file, None, f"file is larger than {MAX_FILE_BYTES} bytes")
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseFileError(file, None, f"cannot read: {exc}") from None
    document = _read_yaml(text, file)
    if document is not None and not is_case_document(document):
        if must_be_cases:
            raise CaseFileError(file, 1, "not a case file: no top-level 'cases:' list and no case mapping "
                                "(a mapping with 'inputs' and a forward such as 'op', 'function' or 'torch')")
        if notes is not None:
            notes.append(f"note: {file} is not a case file (no top-level 'cases:' list or case mapping); passed over")
        return []
    folder = str(Path(path).resolve().parent)
    return [replace(case, folder=folder) for case in _cases_of(document, file)]


def is_case_document(document: Any) -> bool:
    """A top-level `cases:` list, or a mapping with a forward or inputs: what a case file holds.
    (A GitHub workflow has `name:` too, but none of these.)"""
    keys = ("cases", "inputs", *FORWARD_KEYS, *REVERSE_MODE)
    return isinstance(document, LineDict) and any(key in document for key in keys)


def parse_cases(text: str, file: str = "<string>") -> list[Case]:
    return _cases_of(_read_yaml(text, file), file)


def _read_yaml(text: str, file: str) -> Any:
    try:
        return load_yaml(text)
    except YamlError as exc:
        raise CaseFileError(file, exc.line, str(exc)) from None


def _cases_of(document: Any, file: str) -> list[Case]:
    if document is None:
        return []
    if not isinstance(document, LineDict):
        raise CaseFileError(file, 1, "expected a case (a mapping) or a mapping with 'cases:'")
    if "cases" not in document:
        return [_parse_case(document, file, 1)]
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


# ---------------------------------------------------------------- one case


def _parse_case(entry: Any, file: str, parent_line: int) -> Case:
    if not isinstance(entry, LineDict):
        raise CaseFileError(file, parent_line, f"each case must be a mapping, got {entry!r}")
    name = entry.get("name")
    reader = Reader(entry, file, f"case {name!r}" if isinstance(name, str) else "case")
    reader.check_keys(CASE_KEYS)
    if name is None:
        raise reader.fail(None, "missing 'name'")
    name = reader.text("name", NAME_PATTERN, "letters, digits, '_', '.' or '-'")
    _check_one_forward(reader)

    is_expr = entry.get("expr") is not None
    inputs = parse_inputs(reader, allow_structure=not is_expr)
    input_names = tuple(spec.name for spec in inputs)
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise reader.fail("params", "'params' must be a mapping of keyword arguments")
    op_name = reader.text("op")
    if op_name is not None:
        params = _check_op(reader, op_name, inputs, params)
    parsed_expr = _parse_expr(reader, inputs, params) if is_expr else None

    function = reader.text("function", IMPORT_PATH, "an import path 'module:attribute'")
    vjp = reader.text("vjp", IMPORT_PATH, "an import path 'module:attribute'")
    if vjp is not None and function is None:
        raise reader.fail("vjp", "'vjp' needs a NumPy 'function' to go with it")
    hvp = reader.text("hvp", IMPORT_PATH, "an import path 'module:attribute'")
    if hvp is not None and vjp is None:
        raise reader.fail("hvp", "'hvp' is the second order of a hand-written 'vjp': give the 'vjp' too")
    framework_functions = {
        method: path
        for method in REVERSE_MODE
        if (path := reader.text(method, IMPORT_PATH, "an import path 'module:attribute'"))
    }
    module, framework, init = _parse_module(reader, framework_functions)
    reference = _parse_reference(reader, function, framework_functions)

    # A floating leaf (pytree leaves by dotted path) is differentiated by default; integer and
    # boolean leaves are passed through. A module's parameters join once it is built.
    leaves = tuple(leaf for spec in inputs for leaf in spec.leaves())
    floating = tuple(path for path, spec in leaves if spec.floating)
    declared = _parse_name_list(reader, "wrt", tuple(p for p, _ in leaves), open_names=module is not None)
    for item in declared or ():
        if item in dict(leaves) and not dict(leaves)[item].floating:
            raise reader.fail("wrt", f"wrt: {item!r} is an integer or boolean input, never differentiated")
    methods = _parse_name_list(reader, "methods", METHODS)

    dtype = entry.get("dtype", "float64")
    if dtype not in DTYPES:
        raise reader.fail("dtype", f"unknown dtype {dtype!r}; one of {', '.join(DTYPES)}")

    expect = _parse_expect(reader, floating)
    return Case(
        name=name, file=file, line=entry.line, op=op_name, expr=parsed_expr,
        function=function, vjp=vjp, hvp=hvp, framework_functions=MappingProxyType(framework_functions),
        module=module, framework=framework, init=MappingProxyType(init), reference=reference,
        args=_parse_args(reader, input_names, params), rng_seed=reader.natural("rng_seed"),
        inputs=inputs, params=MappingProxyType(dict(params)), cotangent=parse_cotangent(reader),
        wrt=declared or floating, wrt_declared=declared is not None,
        dtype=dtype, methods=methods, tolerance=_parse_tolerance(reader, "tolerance"),
        expect=MappingProxyType(expect),
        expect_tolerance=_parse_tolerance(reader, "expect_tolerance"),
        skip=_parse_reason(reader, "skip"), xfail=_parse_reason(reader, "xfail"),
        timeout=_parse_timeout(reader), order=_parse_order(reader), key_lines=MappingProxyType(dict(entry.key_lines)),
    )


FORWARD_KEYS = ("op", "expr", "function", "module")


def _check_one_forward(reader: Reader) -> None:
    """One forward: op, expr, function or module, or framework functions alone."""
    sources = [key for key in FORWARD_KEYS if reader.mapping.get(key) is not None]
    if len(sources) > 1:
        raise reader.fail(sources[-1], f"'op', 'expr', 'function' and 'module' are mutually exclusive "
                          f"(found {', '.join(sources)})")
    if not sources and not any(reader.mapping.get(key) is not None for key in REVERSE_MODE):
        raise reader.fail(None, "needs a forward: one of 'op', 'expr', 'function', 'module', "
                          "or a framework function ('torch', 'tensorflow', 'jax')")
    if sources and sources[0] in ("op", "expr"):
        for key in REVERSE_MODE:
            if reader.mapping.get(key) is not None:
                raise reader.fail(key, f"'{key}' names a user's function; an '{sources[0]}' case has its own")


def _check_op(reader: Reader, op_name: str, inputs, params: dict) -> dict:
    if op_name not in OPS:
        hint = difflib.get_close_matches(op_name, OPS, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise reader.fail("op", f"unknown op {op_name!r}{suggestion}; built-in ops: {', '.join(OPS)}")
    op = OPS[op_name]
    try:
        op.check_input_count(len(inputs))
    except ValueError as exc:
        raise reader.fail("inputs", str(exc)) from None
    try:
        return op.check_params(params)
    except ValueError as exc:
        raise reader.fail("params", str(exc)) from None


def _parse_expr(reader: Reader, inputs, params: dict) -> expr_language.Expr:
    source = reader.text("expr")
    if params:
        raise reader.fail("params", "'params' applies to 'op' and 'function' cases, not 'expr'")
    for spec in inputs:  # in an expression a name is either an input or a function, not both
        if spec.name in expr_language.FUNCTIONS:
            raise CaseFileError(reader.file, spec.line,
                                f"{reader.what}: input name {spec.name!r} is a function name in 'expr'")
    input_names = tuple(spec.name for spec in inputs)
    try:
        return expr_language.parse(source, allowed_names=input_names)
    except expr_language.ExprError as exc:
        raise reader.fail("expr", f"invalid expression: {exc}") from None


def _parse_module(reader: Reader, framework_functions: dict) -> tuple[str | None, str | None, dict]:
    module = reader.text("module", IMPORT_PATH, "an import path 'module:attribute'")
    framework, init = reader.mapping.get("framework"), reader.mapping.get("init") or {}
    if module is None:
        for key in ("framework", "init"):
            if reader.mapping.get(key) is not None:
                raise reader.fail(key, f"'{key}' goes with 'module'")
        return None, None, {}
    if framework not in MODULE_FRAMEWORKS:
        raise reader.fail("framework" if framework else "module",
                          f"'module' needs 'framework:', one of {', '.join(MODULE_FRAMEWORKS)}, got {framework!r}")
    if framework_functions:
        raise reader.fail(next(iter(framework_functions)), "a 'module' case is checked in its own framework")
    if not isinstance(init, dict):
        raise reader.fail("init", "'init' must be a mapping of constructor keywords")
    return module, framework, dict(init)


def _parse_reference(reader: Reader, function, framework_functions: dict) -> str | None:
    reference = reader.mapping.get("reference")
    if reference is None:
        return None
    if function is not None:
        raise reader.fail("reference", "'reference' picks a framework function; this case has a NumPy forward")
    if reference not in framework_functions:
        raise reader.fail("reference", f"'reference' must name one of this case's framework functions "
                          f"({', '.join(framework_functions) or 'none'}), got {reference!r}")
    return reference


def _parse_args(reader: Reader, input_names: tuple[str, ...], params: dict) -> tuple[str, ...] | None:
    """Positional call order over input and param names; every input must have a place."""
    args = _parse_name_list(reader, "args", (*input_names, *params))
    if args is not None:
        missing = [name for name in input_names if name not in args]
        if missing:
            raise reader.fail("args", f"args: input(s) {', '.join(missing)} missing from the call order")
    return args


def _parse_name_list(reader: Reader, key: str, allowed: tuple[str, ...],
                     open_names: bool = False) -> tuple[str, ...] | None:
    """A list of known names (`open_names`: others allowed too, checked once the module is built)."""
    value = reader.mapping.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise reader.fail(key, f"'{key}' must be a non-empty list")
    for item in value:
        if not isinstance(item, str) or (item not in allowed and not open_names):
            hint = difflib.get_close_matches(str(item), allowed, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise reader.fail(key, f"{key}: unknown name {item!r}{suggestion}; one of {', '.join(allowed)}")
    if len(set(value)) != len(value):
        raise reader.fail(key, f"'{key}' lists a name twice")
    return tuple(value)


def _parse_tolerance(reader: Reader, key: str) -> ToleranceOverride | None:
    value = reader.mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, LineDict):
        raise reader.fail(key, f"'{key}' must be a mapping like {{rtol: 1.0e-6, atol: 1.0e-9}}")
    sub = Reader(value, reader.file, f"{reader.what}: {key}")
    sub.check_keys(TOLERANCE_KEYS)
    levels = {}
    for name in TOLERANCE_KEYS:
        if name in value:
            number = sub.number(name, value[name])
            if not number >= 0 or number == float("inf"):
                raise sub.fail(name, f"'{name}' must be a finite number >= 0, got {value[name]!r}")
            levels[name] = number
    return ToleranceOverride(**levels)


def _parse_timeout(reader: Reader) -> float | None:
    value = reader.mapping.get("timeout")
    seconds = None if value is None else reader.number("timeout", value)
    if seconds is not None and not 0 < seconds < float("inf"):
        raise reader.fail("timeout", f"'timeout' must be a number of seconds > 0, got {value!r}")
    return seconds


def _parse_order(reader: Reader) -> int:
    value = reader.mapping.get("order", 1)
    if isinstance(value, bool) or value not in ORDERS:
        raise reader.fail("order", f"'order' must be 1 or 2, got {value!r}")
    return value


def _parse_expect(reader: Reader, input_names: tuple[str, ...]) -> dict[str, Any]:
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
            expect[name] = check_literal(answer)
        except ValueError as exc:
            raise reader.fail("expect", f"expect.{name}: {exc}") from None
    return expect


def _parse_reason(reader: Reader, key: str) -> str | None:
    value = reader.mapping.get(key)
    if value is None or value is False:
        return None
    if value is True:
        return key
    if not isinstance(value, str):
        raise reader.fail(key, f"'{key}' takes a reason string")
    return value
