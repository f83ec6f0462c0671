"""The engine's H V where its directional forward F = J_f V cannot be had at the step along V (an overflow):
no reference, not a "converged" one (the sweep's alarm: expr-order2 at x = (0, 0, -1e6), y = 0)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gradcheck.cases import load_file, parse_cases
from gradcheck.cases.problem import materialize_outputs
from gradcheck.compare.comparison import Status
from gradcheck.explore.search import is_bug, problems_at, shared_forwards
from gradcheck.run.runner import RunOptions, run_case

REPO = Path(__file__).resolve().parents[2]
FAILED = "the directional forward F = J_f V did not converge"


def _second(case, point):
    base = shared_forwards(materialize_outputs(case))
    rows = run_case(replace(base[0].case, expect={}), RunOptions(methods=("torch",)), problems_at(base, point))
    return {r.input: r for r in rows if r.order == 2}


def _expr_order2_without_engine(x):
    """expr-order2's torch order-2 rows at x (y = 0): each passes against its own VJP, with no H V reference."""
    pytest.importorskip("torch")
    case = next(c for c in load_file(REPO / "cases/second_order.yaml") if c.name == "expr-order2")
    rows = _second(case, {"x": np.array(x), "y": np.zeros(3)})
    assert set(rows) == {"x", "y"}
    for row in rows.values():
        assert row.status is Status.PASS and not is_bug(row) and FAILED in row.message
    return rows


def test_expr_order2_beside_minus_1e6_has_no_engine_reference_and_passes_against_its_own_vjp():
    # x = (0, 0, -1e6) sets the tangent's scale (v_x = 4.5e4, 4.7e4, -1.4e6), and the step along V moves
    # x[1] by ~2000: exp overflows, F by central differences is 0 at the point with an infinite truncation.
    # It was taken as it was: H V at x[1] "-9.106e153 +- 3.8e142" against got 46511.68 = e^0 v_x[1], a
    # "real bug" 1e7 times the allowance away, and at y[2] 0 +- 0 against 2 tanh(-1e6) v_y[2] = 0.00233.
    rows = _expr_order2_without_engine([0.0, 0.0, -1e6])
    assert rows["x"].got == pytest.approx(46511.68374839122, rel=1e-12)
    assert rows["x"].want == pytest.approx(46511.68374839122, rel=1e-4)  # the derivative of its own VJP
    assert rows["y"].got == pytest.approx(-0.0020677642105, rel=1e-9)


def test_expr_order2_beside_minus_562341_has_no_engine_reference_either():
    # the sweep's next shrunk point: the step along V moves x[1] by 200, F's relative truncation is 64 (finite),
    # and H V at y[2] came out 0 +- 0 where got = 2 tanh(x[2]) v_y[2] = 0.00233: a "real bug" 2.3e7 times over
    rows = _expr_order2_without_engine([0.0, 0.0, -562341.3251903491])
    assert all("relative truncation 64" in row.message for row in rows.values())


def test_a_detached_backward_beside_minus_1e6_still_fails_against_its_own_vjp():
    pytest.importorskip("torch")
    for name, status in (("exp", Status.PASS), ("detached_exp", Status.FAIL)):
        case = parse_cases(f"name: c\ntorch: tests.fixtures.second_order_torch:{name}\norder: 2\n"
                           "inputs: {x: {shape: [3], dist: normal}}\n")[0]
        row = _second(case, {"x": np.array([0.0, 0.0, -1e6])})["x"]
        assert row.status is status and FAILED in row.message
    # exp(0) v dz = -29403.5 where the detached backward's derivative is 0: 382 times the allowance
    assert row.got == 0 and row.want == pytest.approx(-29403.51243, rel=1e-6) and row.margin > 100
    assert "not differentiable along the tangent" in row.message
