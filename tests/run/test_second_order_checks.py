"""order: 2 end to end: backwards that are right at order 1 and not differentiable fail at order 2, their
correct twins pass both, once_differentiable is a skip, built-in ops get order 2 in every framework."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import gradcheck
from gradcheck.cases.loader import parse_cases
from gradcheck.cases.schema import CaseFileError
from gradcheck.compare.comparison import Status
from gradcheck.reports.table import comparison_to_json, render_text
from gradcheck.run.runner import RunOptions, run_case
from tests.fixtures import second_order_numpy as np_fns

X = np.random.default_rng(7).standard_normal(20)


def _rows(result, order):
    return [c for c in result.comparisons if c.order == order and c.method != "numeric"]


def _statuses(result, order):
    return {c.status for c in _rows(result, order)}


@pytest.mark.parametrize("framework, good, bad", [
    ("torch", "sigmoid", "detached_sigmoid"),
    ("jax", "sigmoid", "stopped_sigmoid"),
    ("tensorflow", "sigmoid", "stopped_sigmoid"),
])
def test_a_backward_of_detached_tensors_passes_order_1_and_fails_order_2(framework, good, bad):
    pytest.importorskip(framework)
    module = __import__(f"tests.fixtures.second_order_{framework}", fromlist=["_"])
    wrong = gradcheck.check(**{framework: getattr(module, bad)}, inputs={"x": X}, order=2)
    assert _statuses(wrong, 1) == {Status.PASS}
    assert _statuses(wrong, 2) == {Status.FAIL}
    (row,) = _rows(wrong, 2)
    assert row.got == 0.0 and abs(row.want) > 1e-3  # its derivative is zero; the VJP's own changes
    assert "the first order passes and the second fails" in row.message
    assert "not differentiable along the tangent" in row.message
    right = gradcheck.check(**{framework: getattr(module, good)}, inputs={"x": X}, order=2)
    assert _statuses(right, 1) == {Status.PASS} and _statuses(right, 2) == {Status.PASS}
    assert right.passed


def test_a_half_detached_torch_backward_misses_a_term():
    pytest.importorskip("torch")
    from tests.fixtures import second_order_torch as t

    result = gradcheck.check(torch=t.half_detached_sigmoid, inputs={"x": X}, order=2)
    (row,) = _rows(result, 2)
    assert row.status is Status.FAIL and "misses a term" in row.message


def test_once_differentiable_is_a_skip_with_the_reason():
    pytest.importorskip("torch")
    from tests.fixtures import second_order_torch as t

    result = gradcheck.check(torch=t.once_sigmoid, inputs={"x": X}, order=2)
    (row,) = _rows(result, 2)
    assert row.status is Status.SKIP and "once_differentiable" in row.message
    assert _statuses(result, 1) == {Status.PASS}


def test_order_1_has_no_second_order_rows():
    pytest.importorskip("torch")
    from tests.fixtures import second_order_torch as t

    result = gradcheck.check(torch=t.detached_sigmoid, inputs={"x": X})
    assert result.passed and not _rows(result, 2)


def test_a_numpy_hvp_is_checked_and_a_missing_term_fails():
    good = gradcheck.check(np_fns.sigmoid, {"x": X}, vjp=np_fns.sigmoid_vjp, hvp=np_fns.sigmoid_hvp, order=2)
    (row,) = _rows(good, 2)
    assert row.status is Status.PASS and row.max_abs_err < 1e-9
    bad = gradcheck.check(np_fns.sigmoid, {"x": X}, vjp=np_fns.sigmoid_vjp, hvp=np_fns.sigmoid_hvp_missing_term,
                          order=2)
    (row,) = _rows(bad, 2)
    assert row.status is Status.FAIL
    s = np_fns.sigmoid(X[row.worst_index[0]])
    assert row.got != pytest.approx(row.want, rel=1e-3)
    assert abs(row.want) <= abs(row.got) * abs(1 - 2 * s) * 1.001 + 1e-12  # the missing factor (1 - 2s)


def test_a_numpy_vjp_without_hvp_has_no_second_order_row():
    result = gradcheck.check(np_fns.sigmoid, {"x": X}, vjp=np_fns.sigmoid_vjp, order=2)
    assert result.passed and not _rows(result, 2)


def test_a_second_order_that_ignores_the_cotangent_fails():
    def ignores(x, dz, v):
        s = np_fns.sigmoid(x)
        return (np.ones_like(dz) * s * (1 - s) * (1 - 2 * s) * v[0],)

    result = gradcheck.check(np_fns.sigmoid, {"x": X}, vjp=np_fns.sigmoid_vjp, hvp=ignores, order=2,
                             cotangent=np.ones(20))
    (row,) = _rows(result, 2)
    assert row.status is Status.FAIL and "ignores its cotangent" in row.message


def test_built_in_ops_and_expressions_get_order_2_in_every_framework():
    for framework in ("torch", "tensorflow", "jax"):
        pytest.importorskip(framework)
    (op_case, expr_case) = parse_cases(
        "cases:\n"
        "  - {name: mm, op: matmul, order: 2, inputs: {a: {shape: [3, 4], dist: normal}, "
        "b: {shape: [4, 2], dist: normal}}}\n"
        "  - {name: ex, expr: 'sum(tanh(x) * y**2)', order: 2, inputs: {x: [0.3, -1.2], y: [1.0, 2.0]}}\n")
    for case in (op_case, expr_case):
        rows = run_case(case, RunOptions(methods=("numeric", "torch", "tensorflow", "jax")))
        second = [c for c in rows if c.order == 2]
        assert {c.method for c in second} == {"torch", "tensorflow", "jax"}
        assert len(second) == 3 * 2 and all(c.status is Status.PASS for c in second)


def test_reports_mark_second_order_rows():
    result = gradcheck.check(np_fns.sigmoid, {"x": X}, vjp=np_fns.sigmoid_vjp, hvp=np_fns.sigmoid_hvp, order=2)
    first, second = [c for c in result.comparisons if c.method == "vjp"]
    assert "order" not in comparison_to_json(first)  # existing JSON stays as it was
    assert comparison_to_json(second)["order"] == 2
    json.dumps(comparison_to_json(second))
    assert "vjp (2nd)" in render_text(result.comparisons) and second.path.startswith("sigmoid › vjp (2nd)")


def test_the_run_order_wins_over_the_case():
    (case,) = parse_cases("name: s\nop: sigmoid\norder: 2\ninputs: {x: [0.5, -1.0]}\nmethods: [numeric, vjp]\n")
    assert case.order == 2
    assert not [c for c in run_case(case, RunOptions(order=1)) if c.order == 2]


@pytest.mark.parametrize("text, message", [
    ("name: s\nop: sigmoid\norder: 3\ninputs: {x: 1.0}\n", "'order' must be 1 or 2"),
    ("name: s\nfunction: m:f\nhvp: m:h\ninputs: {x: 1.0}\n", "'hvp' is the second order of a hand-written 'vjp'"),
])
def test_case_file_errors_name_the_key(text, message):
    with pytest.raises(CaseFileError, match=message):
        parse_cases(text)


def test_the_command_line_order_2_checks_second_derivatives(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gradcheck.cli import main

    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # case files name tests.fixtures.module:function
    case = tmp_path / "c.yaml"
    case.write_text("name: missing-term\nfunction: tests.fixtures.second_order_numpy:sigmoid\n"
                    "vjp: tests.fixtures.second_order_numpy:sigmoid_vjp\n"
                    "hvp: tests.fixtures.second_order_numpy:sigmoid_hvp_missing_term\n"
                    "inputs: {x: [0.5, -1.0, 2.0]}\n")
    report = tmp_path / "r.json"
    assert CliRunner().invoke(main, ["run", str(case)]).exit_code == 0  # order 1: the VJP is right
    result = CliRunner().invoke(main, ["run", str(case), "--order", "2", "--json", str(report)])
    assert result.exit_code == 1 and "vjp (2nd)" in result.output
    rows = json.loads(report.read_text())["results"]
    (second,) = [r for r in rows if r.get("order") == 2]
    assert second["method"] == "vjp" and second["status"] == "fail"
    assert CliRunner().invoke(main, ["run", str(case), "--order", "3"]).exit_code == 2


def test_complex_values_get_first_order_checks_and_a_second_order_skip_that_says_why():
    pytest.importorskip("torch")
    z = np.array([1 + 2j, -0.5 + 0.3j, 2 - 1j])
    result = gradcheck.check(lambda z: z * z, {"z": z}, torch=lambda z: z * z, order=2)
    by_order = {(c.method, c.order): c for c in result.comparisons}
    assert by_order[("torch", 1)].status is Status.PASS
    assert by_order[("torch", 2)].status is Status.SKIP
    assert "complex" in by_order[("torch", 2)].message


def test_a_complex_case_in_auto_mode_predicts_its_cost_without_casting_to_real():
    z = np.array([1 + 2j, -0.5 + 0.3j, 2 - 1j])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning: a cast to real would drop Im z
        good = gradcheck.check(lambda z: z * z, {"z": z}, vjp=lambda z, dz: (np.conj(2 * z) * dz,))
        bad = gradcheck.check(lambda z: z * z, {"z": z}, vjp=lambda z, dz: (2 * z * dz,))  # conjugate forgotten
    assert [c.status for c in good.comparisons if c.method == "vjp"] == [Status.PASS]
    assert [c.status for c in bad.comparisons if c.method == "vjp"] == [Status.FAIL]
