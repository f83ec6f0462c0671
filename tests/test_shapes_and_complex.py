"""Inputs keep their shape on every path (CLI, gradcheck.check, the pytest fixture), empty and 0-d
included; complex values are checked where they belong and refused with a message where they do
not (a real case, a real input's gradient), never cast to real."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import gradcheck
from gradcheck.cli import main
from tests.fixtures import shapes

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def statuses(result):
    return {(c.method, c.input): c.status.value for c in result.comparisons}


def test_check_keeps_an_empty_axis():
    result = gradcheck.check(shapes.matmul, {"x": np.ones((5, 0)), "y": np.ones((0, 10))}, vjp=shapes.matmul_vjp)
    assert result.passed, result
    assert statuses(result) == {(m, i): "pass" for m in ("numeric", "vjp") for i in ("x", "y")}


def test_the_pytest_fixture_keeps_0d_and_1d_inputs(gradcheck):
    result = gradcheck(shapes.scale, {"a": np.float64(2.0), "x": np.array([1.0, 2.0, 3.0])}, vjp=shapes.scale_vjp)
    assert result.passed, result


def test_the_cli_keeps_an_empty_axis_and_a_0d_input(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "cases:\n"
        "  - name: empty\n    function: tests.fixtures.shapes:matmul\n    vjp: tests.fixtures.shapes:matmul_vjp\n"
        "    inputs: {x: {shape: [5, 0], dist: normal}, y: {shape: [0, 10], dist: normal}}\n"
        "  - name: zero-d\n    function: tests.fixtures.shapes:scale\n    vjp: tests.fixtures.shapes:scale_vjp\n"
        "    inputs: {a: 2.0, x: [1.0, 2.0, 3.0]}\n")
    result = CliRunner().invoke(main, ["run", str(tmp_path / "c.yaml"), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    assert {(r["case"], r["method"], r["input"]) for r in rows} == {
        (case, method, name) for case, names in (("empty", "xy"), ("zero-d", "ax"))
        for method in ("numeric", "vjp") for name in names}


def test_a_complex_input_in_a_real_case_is_refused_not_cast():
    result = gradcheck.check(np.sin, {"x": np.array([1.0 + 2.0j])}, vjp=lambda x, dz: (np.cos(x) * dz,),
                             dtype="float64")
    assert not result.passed and all(c.status.value == "error" for c in result.comparisons)
    assert "inputs.x is complex but the case dtype is float64" in result.comparisons[0].message
    assert "never cast to real" in result.comparisons[0].message


def test_a_complex_input_makes_the_default_dtype_complex128():
    # sin is holomorphic: the gradient of phi = Re conj(dz) sin(z) is conj(cos z) dz.
    z = np.array([1.0 + 2.0j, -0.5 + 0.25j])
    result = gradcheck.check(np.sin, {"z": z}, vjp=lambda z, dz: (np.conj(np.cos(z)) * dz,))
    assert result.passed, result
    wrong = gradcheck.check(np.sin, {"z": z}, vjp=lambda z, dz: (np.cos(z) * dz,))  # the conjugate forgotten
    assert [c.status.value for c in wrong.comparisons if c.method == "vjp"] == ["fail"]


def test_a_complex_output_of_a_real_input_has_a_real_gradient():
    # f(x) = (1 + 2j) x: phi = Re conj(dz) (1 + 2j) x, so d phi/dx = Re((1 + 2j) conj(dz)) = Re(conj(1 + 2j) dz).
    x = np.array([1.0, 2.0])
    right = gradcheck.check(shapes.complex_output, {"x": x}, vjp=lambda x, dz: (np.real((1 - 2j) * dz),))
    assert right.passed, right
    wrong = gradcheck.check(shapes.complex_output, {"x": x}, vjp=lambda x, dz: (np.real((1 + 2j) * dz),))
    assert [c.status.value for c in wrong.comparisons if c.method == "vjp"] == ["fail"]


def test_a_complex_gradient_for_a_real_input_is_an_error_that_says_so():
    result = gradcheck.check(shapes.complex_output, {"x": np.array([1.0, 2.0])}, vjp=lambda x, dz: (dz,))
    (row,) = [c for c in result.comparisons if c.method == "vjp"]
    assert row.status.value == "error"
    assert "the VJP's gradient for x is complex (complex128): its input is real" in row.message


def test_a_complex_vjp_gradient_fails_and_says_so():
    result = gradcheck.check(np.sin, {"x": np.array([1.0])}, vjp=lambda x, dz: (np.cos(x) * dz + 0j,))
    (row,) = [c for c in result.comparisons if c.method == "vjp"]
    assert row.status.value == "error" and "the VJP's gradient for x is complex" in row.message
