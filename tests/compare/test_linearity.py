"""Cotangent linearity: a VJP called with SCALE * dz must return SCALE times its first answer."""

import numpy as np
import pytest

import gradcheck
from gradcheck.compare import linearity
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.tolerance import Tolerance

TOL = Tolerance(rtol=1e-7, atol=1e-10)
PASSING = Comparison(case="c", file="f.yaml", line=1, method="vjp", input="x", status=Status.PASS)


def test_a_linear_answer_keeps_the_row():
    first = np.array([1.0, -2.0, 0.0])
    assert linearity.check(PASSING, first, linearity.SCALE * first, TOL) is PASSING


def test_an_ignored_cotangent_fails_and_says_so():
    first = np.array([1.0, -2.0, 0.0])
    row = linearity.check(PASSING, first, first.copy(), TOL)
    assert row.status is Status.FAIL
    assert "ignores its cotangent" in row.message
    assert "2 of 3 elements" in row.message  # the zero element scales to itself


def test_a_nonlinear_answer_fails_and_says_so():
    first = np.array([1.0, 4.0])
    row = linearity.check(PASSING, first, (linearity.SCALE * first) ** 2, TOL)
    assert row.status is Status.FAIL and "not linear in its cotangent" in row.message


def test_a_failing_row_keeps_its_message_and_adds_the_diagnosis():
    failing = PASSING.with_status(Status.FAIL, "1 of 2 elements out of tolerance")
    row = linearity.check(failing, np.array([1.0, 2.0]), np.array([1.0, 2.0]), TOL)
    assert row.message.startswith("1 of 2 elements out of tolerance; also the backward ignores")


def test_none_for_the_scaled_cotangent_fails():
    row = linearity.check(PASSING, np.array([1.0]), None, TOL)
    assert row.status is Status.FAIL and "returned None" in row.message


# ---------------------------------------------------------------- through gradcheck.check


def cube_sum(x):
    return np.sum(x**3)


def cube_sum_vjp(x, dz):
    return (3 * x**2 * dz,)


def cube_sum_vjp_ignoring_dz(x, dz):
    return (3 * x**2,)  # right only when dz == 1, the default for a scalar output


def test_a_scalar_numpy_vjp_that_ignores_its_cotangent_fails():
    x = np.array([0.5, -1.0, 2.0])
    bad = gradcheck.check(cube_sum, {"x": x}, vjp=cube_sum_vjp_ignoring_dz)
    assert not bad.passed
    (row,) = [c for c in bad.comparisons if c.method == "vjp"]
    assert row.status is Status.FAIL and "ignores its cotangent" in row.message
    assert gradcheck.check(cube_sum, {"x": x}, vjp=cube_sum_vjp).passed


def test_tensorflow_issue_30883_relu_fails_and_the_fixed_one_passes(monkeypatch):
    pytest.importorskip("tensorflow")
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "fixtures"))
    import issue30883

    x = np.array([0.5, -1.0, 2.0, 3.0])
    forward = lambda v: np.sum(np.maximum(v, 0.0))
    bad = gradcheck.check(forward, {"x": x}, tensorflow=issue30883.relu_sum)
    (row,) = [c for c in bad.comparisons if c.method == "tensorflow"]
    assert row.status is Status.FAIL and "ignores its cotangent" in row.message, row
    good = gradcheck.check(forward, {"x": x}, tensorflow=issue30883.relu_sum_fixed)
    assert good.passed, good


def test_the_failing_row_carries_the_linearity_numbers():
    row = linearity.check(PASSING, np.array([1.0, -2.0]), np.array([1.0, -2.0]), TOL)
    assert row.worst_index == (1,) and row.got == -2.0 and row.want == -2.0 * linearity.SCALE
    assert row.margin > 1e6
