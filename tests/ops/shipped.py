"""The shipped case file of each registry op: cases/ops/<name>.yaml."""

from pathlib import Path

from gradcheck.cases import load_file

CASES = Path(__file__).resolve().parents[2] / "cases" / "ops"


def op_cases(name: str):
    return load_file(CASES / f"{name}.yaml")
