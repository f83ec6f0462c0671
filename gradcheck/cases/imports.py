"""'module:attr.sub' import paths, resolved from the case file's own folder first, then the
current directory and sys.path (so a case folder with its own modules runs from anywhere)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from gradcheck.cases.generators import CaseError


def resolve_import(path: str | Callable, folder: str | None = None) -> Any:
    """The callable an import path names; a callable (from the Python API) is its own resolution."""
    if not isinstance(path, str):
        return path
    module_name, _, attribute = path.partition(":")
    try:
        target = _import_module(module_name, folder)
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


def _import_module(name: str, folder: str | None):
    """Import `name` with the case folder, then the current directory, at the front of sys.path.

    Two case folders may each hold a `layers.py`: a module already imported from elsewhere is
    loaded again from this folder under a name of its own, never confused with the other.
    """
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    if folder is None:
        return importlib.import_module(name)
    top = name.split(".")[0]
    local = Path(folder) / top
    if not (local.with_suffix(".py").is_file() or (local / "__init__.py").is_file()):
        return importlib.import_module(name)
    loaded = sys.modules.get(top)
    if loaded is not None and not str(getattr(loaded, "__file__", "") or "").startswith(str(local)):
        return _load_from_folder(name, folder)
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)


def _load_from_folder(name: str, folder: str):
    """A plain module file of the case folder, under a private module name."""
    file = Path(folder, *name.split(".")).with_suffix(".py")
    unique = f"gradcheck_case_module_{abs(hash(str(file)))}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module
