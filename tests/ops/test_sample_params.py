"""The inputs and parameters PyTorch's own samples use, with closed-form answers: empty and 0-d
inputs, sum/mean keepdims and axis conventions, softmax dtype, conv2d bias, groups, dilation and
unbatched input. Each runs through every installed method too: a lowering that disagreed with the
NumPy op's convention (torch's dim=[], TF's refusal of axis -1 on a scalar) would error or fail.
"""

import warnings

import numpy as np
import pytest

import gradcheck
from gradcheck.cases import parse_cases
from gradcheck.compare.comparison import Status
from gradcheck.methods import Mode
from gradcheck.ops import Op, get_op
from gradcheck.ops.conv_geometry import (
    explicit_pads,
    geometry,
    normalize_stride,
    positive_pair,
)
from gradcheck.reports.table import render_text
from gradcheck.run.runner import RunOptions, run_case
from tests.ops.shipped import installed_methods


def run_all(text: str):
    """Rows of every installed method on the one case in `text`, in float64, every element."""
    (case,) = parse_cases(text)
    return run_case(case, RunOptions(methods=installed_methods(), mode=Mode.FULL))


def assert_all_pass(rows):
    assert {row.method for row in rows} >= set(installed_methods()), render_text(rows)
    assert all(row.status is Status.PASS for row in rows), render_text(rows)


# ---------------------------------------------------------------- empty inputs

@pytest.mark.parametrize("case", [
    "op: sigmoid\ninputs: {x: [[]]}",
    "op: softmax\nparams: {axis: -1}\ninputs: {x: {shape: [5, 0, 0]}}",
    "op: sum\nparams: {axis: 0}\ninputs: {x: {shape: [0, 3]}}",      # output: three zeros
    "op: matmul\ninputs: {x: {shape: [5, 0]}, y: {shape: [0, 4]}}",    # output: a 5 x 4 zero matrix
])
def test_empty_inputs_pass_every_method_with_no_elements(case):
    rows = run_all(f"name: empty\n{case}\n")
    assert_all_pass(rows)
    assert all(row.message == "no elements" for row in rows if row.method not in ("numeric",)
               and not row.method.endswith("-jvp")), render_text(rows)


def test_softmax_along_a_zero_length_axis_is_empty_and_quiet():
    sm = get_op("softmax")
    x = np.zeros((2, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sm.forward(x).shape == (2, 0)
        assert sm.vjp(x, np.zeros((2, 0)))[0].shape == (2, 0)


# ---------------------------------------------------------------- sum and mean

@pytest.mark.parametrize("name, scale", [("sum", 1.0), ("mean", 1 / 3)])
def test_keepdims_keeps_the_reduced_axis(name, scale):
    op = get_op(name)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(op.forward(x, axis=1, keepdims=True), np.array([[3.0], [12.0]]) * scale)
    (dx,) = op.vjp(x, np.array([[1.0], [2.0]]), axis=1, keepdims=True)
    np.testing.assert_allclose(dx, np.array([[1.0] * 3, [2.0] * 3]) * scale)


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("axis", [0, -1, []])
def test_a_scalar_reduced_over_its_own_axis_is_itself(name, axis):
    # torch accepts dim=0 or -1 on a 0-d tensor: one element, so sum and mean are the identity
    op = get_op(name)
    assert op.forward(np.array(2.5), axis=axis) == 2.5
    assert op.vjp(np.array(2.5), np.array(-4.0), axis=axis)[0] == -4.0
    with pytest.raises(np.exceptions.AxisError):
        op.forward(np.array(2.5), axis=1)
    assert_all_pass(run_all(f"name: s\nop: {name}\nparams: {{axis: {axis}, keepdims: true}}\ninputs: {{x: 2.5}}\n"))


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_axis_empty_reduces_nothing_in_every_backend(name):
    # NumPy's meaning; torch's dim=[] would reduce every axis and give a scalar (an error row here)
    op = get_op(name)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(op.forward(x, axis=[]), x)
    assert_all_pass(run_all(f"name: s\nop: {name}\nparams: {{axis: []}}\ninputs: {{x: {{shape: [2, 3]}}}}\n"))


def test_keepdims_in_every_backend():
    assert_all_pass(run_all("name: s\nop: mean\nparams: {axis: [0, -1], keepdims: true}\n"
                            "inputs: {x: {shape: [3, 2, 4]}}\n"))


# ---------------------------------------------------------------- softmax

def test_softmax_closed_form_and_scalar():
    sm = get_op("softmax")
    np.testing.assert_allclose(sm.forward(np.array([0.0, np.log(3.0)])), [0.25, 0.75], rtol=1e-15)
    # one element: softmax is 1 and constant, so its gradient is 0
    assert sm.forward(np.array(7.0), axis=0) == 1.0 and sm.vjp(np.array(7.0), np.array(3.0), axis=-1)[0] == 0.0


def test_softmax_dtype_casts_first():
    sm = get_op("softmax")
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    z = sm.forward(x, dtype="float64")
    assert z.dtype == np.float64
    np.testing.assert_allclose(z, np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum(), rtol=1e-15)
    assert sm.vjp(x, np.ones(3), dtype="float64")[0].dtype == np.float32  # back in the input's dtype
    assert_all_pass(run_all("name: s\nop: softmax\nparams: {axis: 0, dtype: float64}\ninputs: {x: {shape: [4, 3]}}\n"))


# ---------------------------------------------------------------- conv2d

def loop_conv2d(x, w, b, stride, pads, dilation, groups):
    """The definition, one output element at a time: z[n,o,p,q] = b[o] + sum w[o,c,i,j] * x[...]."""
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.pad(x, [(0, 0), (0, 0), pads[:2], pads[2:]])
    n, _, hp, wp = xp.shape
    o, cg, kh, kw = w.shape
    ho, wo = (hp - (kh - 1) * dh - 1) // sh + 1, (wp - (kw - 1) * dw - 1) // sw + 1
    z = np.zeros((n, o, ho, wo))
    for index in np.ndindex(z.shape):
        nn, oo, p, q = index
        g = oo // (o // groups)
        patch = xp[nn, g * cg:(g + 1) * cg, p * sh:p * sh + (kh - 1) * dh + 1:dh, q * sw:q * sw + (kw - 1) * dw + 1:dw]
        z[index] = b[oo] + np.sum(patch * w[oo])
    return z


CONV_SAMPLES = [  # x shape, w shape, params, the pads they imply (top, bottom, left, right)
    ((2, 4, 8, 8), (2, 2, 3, 3), {"stride": [3, 2], "padding": [2, 1], "groups": 2, "dilation": [4, 4]}, (2, 2, 1, 1)),
    ((1, 4, 5, 5), (1, 4, 2, 3), {"stride": 1, "padding": "same", "dilation": 3}, (1, 2, 3, 3)),
    ((2, 4, 6, 5), (6, 2, 3, 2), {"groups": 2, "stride": 2}, (0, 0, 0, 0)),
]


@pytest.mark.parametrize("x_shape, w_shape, params, pads", CONV_SAMPLES)
def test_conv2d_with_bias_groups_and_dilation_is_the_definition(x_shape, w_shape, params, pads):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    op = get_op("conv2d")
    checked = op.check_params(params)
    want = loop_conv2d(x, w, b, normalize_stride(checked["stride"]), pads,
                       positive_pair(checked["dilation"], "dilation"), checked["groups"])
    np.testing.assert_allclose(op.forward(x, w, b, **checked), want, rtol=1e-13, atol=1e-13)
    # unbatched (C, H, W): the batched answer's first image
    np.testing.assert_allclose(op.forward(x[0], w, b, **checked), want[0], rtol=1e-13, atol=1e-13)


@pytest.mark.slow  # the shipped conv2d-unbatched-grouped-dilated-bias case runs every method unmarked
@pytest.mark.parametrize("x_shape, w_shape, params, pads", CONV_SAMPLES)
@pytest.mark.parametrize("unbatched", [False, True])
def test_conv2d_every_method_with_bias_groups_dilation(x_shape, w_shape, params, pads, unbatched):
    x_shape = x_shape[1:] if unbatched else x_shape
    text = (f"name: c\nop: conv2d\nparams: {params}\ninputs:\n  x: {{shape: {list(x_shape)}}}\n"
            f"  w: {{shape: {list(w_shape)}}}\n  b: {{shape: [{w_shape[0]}]}}\n").replace("'", "")
    assert_all_pass(run_all(text))


def test_a_bias_gradient_that_forgets_the_pixels_fails():
    # db[o] must sum dz over the batch AND every output pixel; summing over the batch only is wrong
    op = get_op("conv2d")

    def bad_vjp(x, w, b, dz):
        dx, dw, _ = op.vjp(x, w, b, dz)
        return dx, dw, dz.sum(axis=0)[:, 0, 0]

    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((2, 2, 5, 5)), "w": rng.standard_normal((3, 2, 3, 3)),
              "b": rng.standard_normal(3)}
    result = gradcheck.check(op.forward, inputs, vjp=bad_vjp, methods=["numeric", "vjp"])
    statuses = {row.input: row.status for row in result.comparisons if row.method == "vjp"}
    assert statuses == {"x": Status.PASS, "w": Status.PASS, "b": Status.FAIL}, str(result)


def test_softmax_dtype_float64_skips_jax_outside_64_bit_mode():
    pytest.importorskip("jax")
    (case,) = parse_cases("name: s\nop: softmax\nparams: {dtype: float64}\ninputs: {x: {shape: [3]}}\n")
    rows = run_case(case, RunOptions(methods=("numeric", "vjp", "jax"), dtype="float32", mode=Mode.FULL))
    jax_rows = [row for row in rows if row.method == "jax"]
    assert [row.status for row in jax_rows] == [Status.SKIP] and "64-bit mode" in jax_rows[0].message
    assert all(row.status is Status.PASS for row in rows if row.method != "jax"), render_text(rows)


def test_explicit_pads_is_the_geometry_of_an_undilated_kernel():
    # TF SAME, stride 2: H = 9 -> ceil(9/2) = 5 rows need 4*2 + 3 - 9 = 2 pixels (1, 1);
    # W = 8 -> 4 columns need 3*2 + 3 - 8 = 1 pixel, the odd one after (0, 1)
    assert explicit_pads((2, 3, 9, 8), (4, 3, 3, 3), (2, 2), "same") == ((1, 1), (0, 1))
    assert geometry((2, 3, 9, 8), (4, 3, 3, 3), stride=2, padding="same").pads == (1, 1, 0, 1)


def test_optional_inputs_must_end_the_inputs():
    conv = get_op("conv2d")
    with pytest.raises(ValueError, match="must end the inputs"):
        Op("bad", ("x", "b", "w"), conv.forward, conv.vjp, {}, "a bias in the middle", optional_inputs=("b",))
    assert conv.signature == "x, w, b?" and conv.required_inputs == ("x", "w")
    conv.check_input_count(2)
    conv.check_input_count(3)
    with pytest.raises(ValueError, match="takes 2 to 3 input"):
        conv.check_input_count(4)
