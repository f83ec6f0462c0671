"""Case files -> frozen Case values -> Problems: the schema, line-aware YAML, the expression language."""

from gradcheck.cases.loader import find_case_files, load_cases, load_file, parse_cases
from gradcheck.cases.schema import Case, CaseFileError, InputSpec

__all__ = ["Case", "CaseFileError", "InputSpec", "find_case_files", "load_cases", "load_file", "parse_cases"]
