"""Messages that say what happened: NaN and inf gradients by name and count, relative errors
never 0 beside a nonzero absolute error."""

from dataclasses import replace

import numpy as np

from gradcheck.compare.comparison import Status, compare
from gradcheck.engine.estimates import Reference
from gradcheck.tolerance import Tolerance

TOL = Tolerance(rtol=1e-7, atol=1e-10)
WHERE = {"case": "c", "file": "f.yaml", "line": 1, "method": "vjp", "input": "x"}


def test_nan_and_inf_gradients_are_named_and_counted():
    reference = Reference.exact(np.array([1.0, 2.0, 3.0, 4.0]))
    row = compare(np.array([np.nan, 2.0, np.inf, np.nan]), reference, TOL, **WHERE)
    assert row.status is Status.FAIL
    assert "the gradient has 2 NaN and 1 infinite element(s) of 4 (first at [0])" in row.message
    assert "the reference is finite" in row.message
    assert "times the allowance" not in row.message


def test_a_straight_through_gradient_at_a_kink_shows_its_relative_error():
    # A kink whose valid range [0, 3] holds the analytic 2.79 + 0.21: the row passes, and
    # its relative error is |a - r| / |r| like its absolute error, not the distance to the range (0).
    kink = replace(Reference.exact(np.array([0.0, 1.0])), lower=np.array([0.0, 1.0]), upper=np.array([3.0, 1.0]),
                   kinks=1)
    row = compare(np.array([2.79, 1.0]), kink, TOL, **WHERE)
    assert row.status is Status.PASS
    assert row.max_abs_err == 2.79
    assert row.max_rel_err > 0


def test_below_the_absolute_floor_the_relative_error_is_against_the_floor():
    row = compare(np.array([1e-9]), Reference.exact(np.array([0.0])), TOL, **WHERE)
    assert row.max_rel_err == 1e-9 / TOL.atol
