"""gradcheck: is this gradient right?

    import gradcheck
    result = gradcheck.check(swish, {"x": x}, vjp=swish_vjp)
    assert result.passed, result

The public names are imported on first use, so that importing a submodule
(the pytest plugin, the CLI) does not pay for NumPy before it needs it.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from gradcheck.api import Result, check
    from gradcheck.cases import Case, CaseFileError, load_cases

__all__ = ["Case", "CaseFileError", "Result", "check", "load_cases"]
__version__ = "0.1.0"

_HOMES = {
    "check": "gradcheck.api", "Result": "gradcheck.api",
    "load_cases": "gradcheck.cases", "Case": "gradcheck.cases", "CaseFileError": "gradcheck.cases",
}


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
