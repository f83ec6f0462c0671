"""gradcheck.check on known-good and known-bad hand-written VJPs.

Like ChainRulesTestUtils, we install deliberately wrong rules and assert the
checker fails on them; a checker that passes everything would pass the rest
of this file's good cases too, so the bad ones are what give it teeth.
"""

import numpy as np
import pytest

import gradcheck
from gradcheck.compare.comparison import Status
from tests.fixtures import bad_vjps as f

RNG = np.random.default_rng(42)
X = RNG.normal(size=(4, 5))


def rows(result, method="vjp"):
    return {c.input: c for c in result.comparisons if c.method == method}


def test_correct_vjp_passes_and_str_is_the_table():
    result = gradcheck.check(f.sigmoid, {"x": [3.0, 4.0, 5.0]}, vjp=f.sigmoid_vjp, cotangent=[1.0, 2.0, 3.0],
                             expect={"x": [0.0451767, 0.0353254, 0.0199442]})
    assert result.passed, result
    text = str(result)
    assert "max abs err" in text and "sigmoid" in text and "PASS" in text and "expect" in text
    assert rows(result)["x"].max_rel_err < 1e-10


@pytest.mark.parametrize(
    "function, vjp, inputs",
    [
        (f.sigmoid, f.sigmoid_vjp_wrong_sign, {"x": X}),
        (f.sigmoid, f.sigmoid_vjp_forgot_cotangent, {"x": X}),
        (f.matmul, f.matmul_vjp_missing_transpose, {"x": RNG.normal(size=(3, 3)), "y": RNG.normal(size=(3, 3))}),
        (f.softmax, f.softmax_vjp_no_weighted_term, {"x": X}),
        (f.conv2d, f.conv2d_vjp_unflipped_kernel,
         {"x": RNG.normal(size=(1, 2, 6, 6)), "w": RNG.normal(size=(3, 2, 3, 3))}),
        (f.sigmoid, f.sigmoid_vjp_scaled, {"x": X}),
        (f.sigmoid, f.one_element_off, {"x": X}),
    ],
    ids=["wrong-sign", "forgot-cotangent", "missing-transpose", "softmax-no-weighted-term",
         "flipped-conv-kernel", "scaled-1e-6", "one-element-1e-4"],
)
def test_known_bad_vjps_fail(function, vjp, inputs):
    result = gradcheck.check(function, inputs, vjp=vjp)
    assert not result.passed, result
    failed = [c for c in result.failures if c.method == "vjp"]
    assert failed and all(c.status is Status.FAIL for c in failed)
    worst = failed[0]
    assert worst.margin > 1 and worst.worst_index is not None
    assert f"worst at {list(worst.worst_index)}" in worst.message
    assert f"got {worst.got:.10g}" in worst.message


def test_one_element_off_is_named():
    result = gradcheck.check(f.sigmoid, {"x": X}, vjp=f.one_element_off)
    (row,) = [c for c in result.comparisons if c.method == "vjp"]
    assert row.worst_index == (1, 2)  # flat index 7 in a 4x5 array
    assert "1 of 20 elements out of tolerance" in row.message


def test_the_correct_twins_pass():
    for function, vjp, inputs in [
        (f.sigmoid, f.sigmoid_vjp, {"x": X}),
        (f.matmul, lambda x, y, dz: (dz @ y.T, x.T @ dz), {"x": X, "y": RNG.normal(size=(5, 2))}),
    ]:
        result = gradcheck.check(function, inputs, vjp=vjp)
        assert result.passed, result


def test_kinks_accept_subgradients_and_reject_others():
    x = np.array([-1.0, 0.0, 0.0, 2.0])
    half = gradcheck.check(f.relu, {"x": x}, vjp=f.relu_vjp_at_zero_half)
    assert half.passed, half
    (row,) = [c for c in half.comparisons if c.method == "vjp"]
    assert row.kinks == 2
    double = gradcheck.check(f.relu, {"x": x}, vjp=f.relu_vjp_at_zero_double)
    assert not double.passed
    (bad,) = [c for c in double.comparisons if c.method == "vjp"]
    assert bad.worst_index in ((1,), (2,)) and "kink: valid range" in bad.message


def test_vjp_returning_none_for_a_wrt_input_is_an_error_but_fine_outside_wrt():
    inputs = {"x": RNG.normal(size=(2, 3)), "y": RNG.normal(size=(3, 2))}
    result = gradcheck.check(f.matmul, inputs, vjp=f.vjp_returns_none)
    by_input = rows(result)
    assert by_input["x"].status is Status.PASS
    assert by_input["y"].status is Status.ERROR and "returned None" in by_input["y"].message
    assert gradcheck.check(f.matmul, inputs, vjp=f.vjp_returns_none, wrt=["x"]).passed


def test_float32_vjp_is_judged_by_the_float32_tolerance():
    result = gradcheck.check(f.sigmoid, {"x": X}, vjp=f.sigmoid_vjp, dtype="float32")
    assert result.passed, result
    (row,) = [c for c in result.comparisons if c.method == "vjp"]
    assert row.tolerance.rtol == 2e-4
    # float32 rounding is visible: the error is far above float64's.
    assert row.max_rel_err > 1e-9


def test_expect_mismatch_fails():
    result = gradcheck.check(lambda w1, w2: 3 * w1**2 + 2 * w1 * w2, {"w1": 5.0, "w2": 3.0},
                             expect={"w1": 36.0, "w2": 11.0})
    expect = rows(result, "expect")
    assert expect["w1"].status is Status.PASS and expect["w2"].status is Status.FAIL


def test_bad_arguments_raise_clearly():
    with pytest.raises(ValueError, match="dtype"):
        gradcheck.check(f.sigmoid, {"x": X}, dtype="float8")
    with pytest.raises(ValueError, match="not inputs"):
        gradcheck.check(f.sigmoid, {"x": X}, wrt=["y"])


def test_a_framework_function_alone_with_integer_targets_and_two_outputs():
    torch = pytest.importorskip("torch")

    def loss(logits, target):  # d/dlogits of mean cross-entropy: (softmax - onehot) / N
        return torch.nn.functional.cross_entropy(logits, target)

    logits, target = np.random.default_rng(0).normal(size=(4, 3)), np.array([0, 2, 1, 1])
    result = gradcheck.check(torch=loss, inputs={"logits": logits, "target": target})
    assert result.passed, result
    assert {c.input for c in result.comparisons} == {"logits"}  # the int64 target is passed through

    class Doubled(torch.autograd.Function):  # (sin x, 2 cos x) whose backward drops the second output
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.sin(x), 2 * torch.cos(x)

        @staticmethod
        def backward(ctx, g_sin, g_cos):
            (x,) = ctx.saved_tensors
            return g_sin * torch.cos(x)

    wrong = gradcheck.check(torch=Doubled.apply, inputs={"x": np.linspace(0.1, 1.0, 4)})
    assert [c.path.rsplit(" › [", 1)[0] for c in wrong.failures] == ["apply › torch › x › out[1]"]
    left_out = gradcheck.check(torch=Doubled.apply, inputs={"x": np.linspace(0.1, 1.0, 4)},
                               cotangent=(np.ones(4), None))
    assert left_out.passed, left_out
    with pytest.raises(ValueError, match="integer or boolean inputs"):
        gradcheck.check(torch=loss, inputs={"logits": logits, "target": target}, wrt=["target"])
    with pytest.raises(ValueError, match="needs a forward"):
        gradcheck.check(inputs={"x": logits})
