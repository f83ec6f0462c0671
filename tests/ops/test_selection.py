"""Tests for gradcheck.ops.selection: maximum, minimum, max and min against closed forms, and
known-bad VJPs at ties that gradcheck must report as failed."""

import numpy as np
import pytest

import gradcheck
from gradcheck.compare.comparison import Status
from gradcheck.ops import get_op

MAX, MIN, MAXIMUM, MINIMUM = (get_op(name) for name in ("max", "min", "maximum", "minimum"))

# Three rows with 2, 3 and 2 tied maxima.
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [0.5, 4.0, 1.0, 4.0]])


def vjp_rows(result):
    return {c.input: c for c in result.comparisons if c.method == "vjp"}


# ---------------------------------------------------------------- closed forms


def test_max_splits_the_cotangent_among_ties():
    (dx,) = MAX.vjp(np.array([[1.0, 3.0, 3.0]]), np.array([1.0]), axis=1)
    np.testing.assert_array_equal(dx, [[0.0, 0.5, 0.5]])
    np.testing.assert_array_equal(MAX.forward(TIES, axis=1), [3.0, 2.0, 4.0])
    (dx,) = MAX.vjp(TIES, np.array([6.0, 6.0, 6.0]), axis=1)
    np.testing.assert_array_equal(dx, [[0, 3, 3, 0], [2, 2, 2, 0], [0, 3, 0, 3]])


def test_min_over_several_axes_and_all():
    x = np.array([[[0.5, -1.0], [2.0, -1.0]], [[-1.0, 0.0], [2.0, 3.0]]])
    np.testing.assert_array_equal(MIN.forward(x, axis=[0, 2]), [-1.0, -1.0])
    (dx,) = MIN.vjp(x, np.array([4.0, 2.0]), axis=[0, 2])
    # axis-1 slice 0 holds -1 twice (2 each of 4), slice 1 holds -1 once (all of 2)
    np.testing.assert_array_equal(dx, [[[0, 2], [0, 2]], [[2, 0], [0, 0]]])
    assert MIN.forward(x) == -1.0
    (dx,) = MIN.vjp(x, np.array(3.0))
    np.testing.assert_array_equal(dx[x == -1.0], [1.0, 1.0, 1.0])
    assert np.sum(dx) == 3.0


def test_maximum_and_minimum_split_half_at_equal_elements():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    np.testing.assert_array_equal(MAXIMUM.forward(x, y), [1.0, 5.0, 3.0])
    np.testing.assert_array_equal(MINIMUM.forward(x, y), [1.0, 2.0, 0.0])
    dx, dy = MAXIMUM.vjp(x, y, np.array([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(dx, [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(dy, [1.0, 2.0, 0.0])
    dx, dy = MINIMUM.vjp(x, y, np.array([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(dx, [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(dy, [1.0, 0.0, 2.0])


def test_maximum_sums_a_broadcast_input_over_its_copies():
    x = np.array([[1.0, -1.0], [3.0, 0.0]])
    y = np.array([0.0, 0.0])  # compared with both rows of x
    dx, dy = MAXIMUM.vjp(x, y, np.ones((2, 2)))
    np.testing.assert_array_equal(dx, [[1.0, 0.0], [1.0, 0.5]])
    np.testing.assert_array_equal(dy, [0.0, 1.5])  # column 0: lost twice; column 1: won, then tied


def test_float32_stays_float32():
    x = TIES.astype(np.float32)
    assert MAX.forward(x, axis=0).dtype == np.float32
    assert MAX.vjp(x, np.ones(4), axis=0)[0].dtype == np.float32
    dx, dy = MAXIMUM.vjp(x, x[0].astype(np.float32), np.ones((3, 4)))
    assert dx.dtype == dy.dtype == np.float32


# ---------------------------------------------------------------- through gradcheck


def test_the_registry_vjps_pass_at_ties():
    result = gradcheck.check(MAX.forward, {"x": TIES}, vjp=MAX.vjp, params={"axis": 1})
    assert result.passed, result
    assert vjp_rows(result)["x"].kinks == 7
    pair = gradcheck.check(MAXIMUM.forward, {"x": TIES[0], "y": [1.0, 3.0, 0.0, 0.0]}, vjp=MAXIMUM.vjp)
    assert pair.passed, pair
    assert vjp_rows(pair)["x"].kinks == 3  # x == y at elements 0, 1 and 3


def copy_to_every_tie(x, cotangent, axis=None):
    """Known bad: every tied maximum gets the whole cotangent, so a tie of k passes k times dz."""
    chosen = x == np.max(x, axis=axis, keepdims=True)
    return (np.expand_dims(cotangent, axis) * chosen,)


def test_a_max_vjp_copying_the_cotangent_to_every_tie_fails():
    result = gradcheck.check(MAX.forward, {"x": TIES}, vjp=copy_to_every_tie, params={"axis": 1})
    assert not result.passed
    row = vjp_rows(result)["x"]
    assert row.status is Status.FAIL
    assert "tied elements" in row.message and "split its cotangent, not copy it" in row.message
    # Each element alone is inside its one-sided range [0, dz]: only the tie check can see it.
    assert gradcheck.check(MAX.forward, {"x": [[1.0, 3.0, 2.0]]}, vjp=copy_to_every_tie,
                           params={"axis": 1}).passed


def test_a_maximum_vjp_selecting_the_loser_fails():
    def loser(x, y, cotangent):
        return cotangent * (x < y), cotangent * (x > y)

    result = gradcheck.check(MAXIMUM.forward, {"x": [1.0, 2.0, 3.0], "y": [0.0, 5.0, 1.0]}, vjp=loser)
    rows = vjp_rows(result)
    assert rows["x"].status is Status.FAIL and rows["y"].status is Status.FAIL


@pytest.mark.parametrize("op", [MAX, MIN])
def test_max_and_min_reject_a_bad_axis(op):
    with pytest.raises(ValueError, match="'axis'"):
        op.check_params({"axis": [1, 1]})
    with pytest.raises(ValueError, match="'axis'"):
        op.check_params({"axis": "rows"})
