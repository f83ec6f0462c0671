"""The shipped case file of each registry op (cases/ops/<name>.yaml), and the methods installed here."""

import importlib.util
from pathlib import Path

from gradcheck.cases import load_file
from gradcheck.ops import FRAMEWORKS

CASES = Path(__file__).resolve().parents[2] / "cases" / "ops"


def op_cases(name: str):
    return load_file(CASES / f"{name}.yaml")


def installed(framework: str) -> bool:
    return importlib.util.find_spec(framework) is not None


def installed_methods() -> tuple[str, ...]:
    """numeric, vjp, and each installed framework's reverse and forward mode."""
    return ("numeric", "vjp", *(m for f in FRAMEWORKS if installed(f) for m in (f, f"{f}-jvp")))
