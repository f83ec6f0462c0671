"""The shape ops (gradcheck/ops/shape.py): values, VJPs as the inverse moves, parameter errors at
load time (file, line, key) and at run time (against the input's shape), and wrong VJPs that fail."""

import numpy as np
import pytest

import gradcheck
from gradcheck.cases import CaseFileError, parse_cases
from gradcheck.compare.comparison import Status
from gradcheck.ops import get_op
from gradcheck.ops.shape import permutation, resolve_shape
from gradcheck.run.runner import RunOptions, run_case

A = np.arange(24.0).reshape(2, 3, 4)


def test_transpose_moves_each_element_once():
    op = get_op("transpose")
    z = op.forward(A, axes=(2, 0, 1))
    assert z.shape == (4, 2, 3) and z[3, 1, 2] == A[1, 2, 3]
    np.testing.assert_array_equal(op.forward(A), A.T)  # None reverses the axes
    np.testing.assert_array_equal(op.forward(A, axes=(-1, 0, 1)), z)
    # The VJP of a permutation is its inverse: pulling z itself back returns A.
    (back,) = op.vjp(A, z, axes=(2, 0, 1))
    np.testing.assert_array_equal(back, A)
    assert back.flags.c_contiguous


def test_permutation_checks_against_the_rank():
    assert permutation(None, 3) == (2, 1, 0) and permutation((-1, 0, 1), 3) == (2, 0, 1)
    assert permutation(None, 0) == ()
    for axes in [(0, 1), (0, 1, 3), (0, 0, 1)]:
        with pytest.raises(ValueError, match="param 'axes'.*not a permutation of the 3 axes"):
            permutation(axes, 3)


def test_reshape_infers_one_size():
    op = get_op("reshape")
    assert op.forward(A, shape=(4, -1)).shape == (4, 6)
    assert op.forward(A).shape == (24,)  # the default [-1] flattens
    np.testing.assert_array_equal(op.forward(A, shape=(6, 4))[1], [4.0, 5.0, 6.0, 7.0])  # row-major
    (back,) = op.vjp(A, np.arange(24.0).reshape(4, 6), shape=(4, -1))
    np.testing.assert_array_equal(back, A)


def test_resolve_shape():
    assert resolve_shape((2, -1, 3), (4, 3, 2)) == (2, 4, 3)
    assert resolve_shape((), (1, 1)) == ()
    for shape in [(5, -1), (7,), (0, -1)]:
        with pytest.raises(ValueError, match=r"param 'shape': cannot reshape an input of shape \[2, 3, 4\] "
                                             r"\(24 elements\)"):
            resolve_shape(shape, (2, 3, 4))


def test_concat_and_its_split():
    op = get_op("concat")
    x, y = np.ones((2, 3)), np.zeros((2, 5))
    z = op.forward(x, y, axis=-1)
    assert z.shape == (2, 8) and z[:, :3].sum() == 6 and z[:, 3:].sum() == 0
    dz = np.arange(16.0).reshape(2, 8)
    dx, dy = op.vjp(x, y, dz, axis=-1)
    np.testing.assert_array_equal(dx, dz[:, :3])
    np.testing.assert_array_equal(dy, dz[:, 3:])
    assert op.forward(x, x).shape == (4, 3)  # axis 0 by default


@pytest.mark.parametrize("text,key", [
    ("op: transpose\nparams: {axes: 1}\ninputs: {x: [1.0]}", "axes"),
    ("op: transpose\nparams: {axes: [0, 0]}\ninputs: {x: [1.0]}", "axes"),
    ("op: reshape\nparams: {shape: [-1, -1]}\ninputs: {x: [1.0]}", "shape"),
    ("op: reshape\nparams: {shape: [2, -3]}\ninputs: {x: [1.0]}", "shape"),
    ("op: reshape\nparams: {shape: 'flat'}\ninputs: {x: [1.0]}", "shape"),
    ("op: concat\nparams: {axis: [0]}\ninputs: {x: [1.0], y: [2.0]}", "axis"),
])
def test_bad_params_name_file_line_and_key(text, key):
    with pytest.raises(CaseFileError) as caught:
        parse_cases(f"name: a\n{text}\n", "cases/x.yaml")
    assert caught.value.line == 3 and f"param {key!r}" in caught.value.message


def test_params_that_do_not_fit_the_input_are_that_case_s_error():
    (case,) = parse_cases("name: a\nop: transpose\nparams: {axes: [1, 0]}\n"
                          "inputs: {x: {shape: [2, 3, 4], dist: normal}}\n", "cases/x.yaml")
    rows = run_case(case, RunOptions(methods=("numeric", "vjp")))
    assert rows and all(row.status is Status.ERROR for row in rows)
    assert "not a permutation of the 3 axes" in rows[0].message


# ---------------------------------------------------------------- wrong VJPs must fail

def transpose_vjp_same_permutation(x, dz, axes=(2, 0, 1)):
    # Applies p again instead of its inverse: right only when p is its own inverse (a swap).
    return (np.transpose(dz, axes).reshape(x.shape),)


def concat_vjp_swapped(x, y, dz, axis=0):
    # Hands x the last rows and y the first: shapes still fit when x and y have equal shapes.
    n = y.shape[axis]
    return dz[n:], dz[:n]


def test_wrong_shape_vjps_fail():
    x = np.random.default_rng(3).normal(size=(2, 3, 4))
    op = get_op("transpose")
    params = {"axes": [2, 0, 1]}
    assert gradcheck.check(op.forward, {"x": x}, vjp=op.vjp, params=params, methods=["vjp"]).passed
    assert not gradcheck.check(op.forward, {"x": x}, vjp=transpose_vjp_same_permutation,
                               params=params, methods=["vjp"]).passed
    op = get_op("concat")
    inputs = {"x": x[0], "y": x[1]}
    assert gradcheck.check(op.forward, inputs, vjp=op.vjp, methods=["vjp"]).passed
    wrong = gradcheck.check(op.forward, inputs, vjp=concat_vjp_swapped, methods=["vjp"])
    assert {(c.method, c.status) for c in wrong.comparisons if c.method == "vjp"} == {("vjp", Status.FAIL)}
