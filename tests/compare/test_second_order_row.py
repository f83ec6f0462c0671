"""The second-order row: failed when it departs from either reference, and says what kind of wrong."""

import numpy as np
import pytest

from gradcheck.compare.comparison import Status, compare
from gradcheck.compare.second_order import second_order_row
from gradcheck.engine.estimates import Reference
from gradcheck.tolerance import Tolerance

TOL = Tolerance(rtol=1e-7, atol=1e-10)
WHERE = {"case": "c", "file": "f.yaml", "line": 1, "method": "torch", "input": "x", "order": 2}
TRUTH = np.array([0.5, -0.25, 0.125])


def _row(got, own=TRUTH, engine=TRUTH, first=Status.PASS):
    got = np.asarray(got, dtype=float)
    first_row = compare(TRUTH, Reference.exact(TRUTH), TOL, **{**WHERE, "order": 1})
    first_row = first_row.with_status(first, first_row.message)
    return second_order_row(got, compare(got, Reference.exact(own), TOL, **WHERE),
                            compare(got, Reference.exact(engine), TOL, **WHERE), first_row)


def test_agreeing_with_both_references_passes_with_the_engines_numbers():
    row = _row(TRUTH, engine=TRUTH * (1 + 2e-9))  # exactly its own VJP's derivative, 2e-9 off the engine's
    assert row.status is Status.PASS and row.order == 2 and row.label == "torch (2nd)"
    assert row.max_abs_err == pytest.approx(1e-9, rel=1e-6)


def test_a_zero_second_order_is_a_backward_that_is_not_differentiable():
    row = _row(np.zeros(3))
    assert row.status is Status.FAIL
    assert row.message.startswith("the first order passes and the second fails: the backward is not differentiable")
    assert row.got == 0.0 and row.want == 0.5


def test_a_partial_second_order_misses_a_term():
    row = _row(TRUTH * 0.5)
    assert row.status is Status.FAIL and "misses a term" in row.message


def test_agreeing_with_its_own_vjp_but_not_the_hessian_blames_the_vjp():
    wrong = TRUTH * 2
    row = _row(wrong, own=wrong)
    assert row.status is Status.FAIL
    assert "agrees with that of its own VJP but not with the Hessian-vector product" in row.message
    assert "against the Hessian-vector product" in row.message


def test_a_failing_first_order_is_named_first():
    row = _row(TRUTH * 2, own=TRUTH * 2, first=Status.FAIL)
    assert row.message.startswith("the first order fails too")
