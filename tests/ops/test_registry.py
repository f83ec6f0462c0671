"""Every registry op, the same way: its case file, its lowerings, and every method in float64 and float32.

The op list comes from the registry: a new op is tested here the moment it is registered.
"""

import pytest

from gradcheck.cases import expr
from gradcheck.compare.comparison import Status
from gradcheck.methods import Mode
from gradcheck.ops import FRAMEWORKS, OPS
from gradcheck.reports.table import render_text
from gradcheck.run.runner import RunOptions, run_case
from tests.ops.shipped import CASES, installed_methods, op_cases

NAMES = sorted(OPS)


@pytest.mark.parametrize("name", NAMES)
def test_every_op_has_its_own_case_file(name):
    cases = op_cases(name)
    assert cases, f"{CASES / name}.yaml holds no case"
    assert {case.op for case in cases} == {name}


def test_every_case_file_belongs_to_an_op():
    assert {path.stem for path in CASES.glob("*.yaml")} == set(OPS)


@pytest.mark.parametrize("name", NAMES)
def test_every_op_is_lowered_for_every_framework(name):
    op = OPS[name]
    assert op.frameworks == FRAMEWORKS
    assert op.summary and "\n" not in op.summary and op.domain in ("real", "positive")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_every_method_passes_on_the_shipped_cases(name, dtype):
    methods = installed_methods()
    for case in op_cases(name):
        rows = run_case(case, RunOptions(methods=methods, dtype=dtype, mode=Mode.FULL))
        assert {row.method for row in rows} >= set(methods), case.name
        assert all(row.status is Status.PASS for row in rows), render_text(rows)


def test_expression_functions_are_registry_ops():
    assert set(expr.FUNCTIONS) <= set(OPS)
    assert all(OPS[name].in_expr for name in expr.FUNCTIONS)
