"""A shrunk failing point as a regression case: the case as written, with its inputs and cotangent
as literals, appended to a case file that `gradcheck run` then fails on until the bug is fixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from gradcheck.cases.schema import Case
from gradcheck.reports.table import write_atomically


def _name(case: Case) -> str:
    return case.name if isinstance(case.name, str) else "case"


def literal(array) -> list | float | str:
    """An array as a case-file literal: nested lists of numbers, complex ones as strings ("1.5-2.0j")."""
    array = np.asarray(array)
    if not np.iscomplexobj(array):
        return array.tolist()
    return np.vectorize(lambda z: f"{z.real!r}{z.imag:+}j", otypes=[object])(array).tolist()


def case_entry(case: Case, inputs: dict[str, np.ndarray], cotangent: np.ndarray, name: str) -> dict:
    """The YAML mapping of `case` at the point: every key it was written with, inputs as literals."""
    entry: dict = {"name": name}
    if case.op is not None:
        entry["op"] = case.op
    elif case.expr is not None:
        entry["expr"] = case.expr.source
    else:
        if case.function is not None:
            entry["function"] = case.function
        if case.vjp is not None:
            entry["vjp"] = case.vjp
        entry.update(dict(case.framework_functions))
    if case.params:
        entry["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in case.params.items()}
    entry["inputs"] = {spec.name: literal(inputs[spec.name]) for spec in case.inputs}
    entry["cotangent"] = literal(cotangent)
    if tuple(case.wrt) != tuple(spec.name for spec in case.inputs):
        entry["wrt"] = list(case.wrt)
    entry["dtype"] = case.dtype
    if case.methods is not None:
        entry["methods"] = list(case.methods)
    if case.tolerance is not None:
        entry["tolerance"] = {k: v for k, v in (("rtol", case.tolerance.rtol), ("atol", case.tolerance.atol))
                              if v is not None}
    return entry


def append_regression(path: str | Path, case: Case, inputs: dict[str, np.ndarray], cotangent: np.ndarray) -> str:
    """Append the regression case to `path` (created if missing); returns the new case's name."""
    path = Path(path)
    document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    entries = list((document or {}).get("cases", [])) if isinstance(document, dict) else []
    taken = {entry.get("name") for entry in entries if isinstance(entry, dict)}
    number = 1
    while f"{_name(case)}-explored-{number}" in taken:
        number += 1
    name = f"{_name(case)}-explored-{number}"
    entries.append(case_entry(case, inputs, cotangent, name))
    header = "# Written by `gradcheck explore`: inputs where a gradient failed, shrunk. Run with `gradcheck run`.\n"
    write_atomically(path, header + yaml.safe_dump({"cases": entries}, sort_keys=False, default_flow_style=None,
                                                   width=100))
    return name
