"""gradcheck: is this gradient right?

    import gradcheck
    result = gradcheck.check(swish, {"x": x}, vjp=swish_vjp)
    assert result.passed, result
"""

from gradcheck.api import Result, check
from gradcheck.cases import Case, CaseFileError, load_cases

__all__ = ["check", "load_cases", "Case", "CaseFileError", "Result"]
__version__ = "0.1.0"
