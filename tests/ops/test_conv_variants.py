"""conv1d and conv_transpose2d: hand values, the adjoint identity, torch's own forwards, known-bad VJPs."""

import numpy as np
import pytest

from gradcheck.compare.comparison import Status
from gradcheck.ops import get_op
from gradcheck.ops.conv import conv2d
from gradcheck.ops.conv_variants import (
    conv1d,
    conv1d_vjp,
    conv_transpose2d,
    conv_transpose2d_vjp,
)
from tests.ops.verdicts import vjp_statuses

RNG = np.random.default_rng(11)
X1, W1 = RNG.normal(size=(2, 3, 11)), RNG.normal(size=(4, 3, 4))
X2, W2 = RNG.normal(size=(2, 3, 4, 3)), RNG.normal(size=(3, 2, 3, 2))


def test_conv1d_by_hand():
    # cross-correlation, no kernel flip: z_p = x_p - x_{p+1} for the kernel [1, -1]
    x = np.array([[[1.0, 2.0, 4.0, 8.0]]])
    np.testing.assert_array_equal(conv1d(x, np.array([[[1.0, -1.0]]])), [[[-1.0, -2.0, -4.0]]])
    # "same" at stride 2: out = ceil(4 / 2) = 2, total padding (2 - 1) * 2 + 3 - 4 = 1, after the input
    np.testing.assert_array_equal(conv1d(x, np.ones((1, 1, 3)), stride=2, padding="same"), [[[7.0, 12.0]]])


def test_conv_transpose2d_by_hand_scatters_each_pixel_times_the_kernel():
    # stride 2 with a 2x2 kernel: each input pixel paints its own 2x2 block, blocks do not overlap
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    np.testing.assert_array_equal(conv_transpose2d(x, w, stride=2)[0, 0], np.kron(x[0, 0], w[0, 0]))
    # padding 1 crops one row and column from each side
    np.testing.assert_array_equal(conv_transpose2d(x, w, stride=2, padding=1)[0, 0],
                                  np.kron(x[0, 0], w[0, 0])[1:-1, 1:-1])


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((2, 3), (1, 0))])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(stride, padding):
    # <conv_transpose2d(x, w), y> = <x, conv2d(y, w)> for every y of the output's shape
    y = RNG.normal(size=conv_transpose2d(X2, W2, stride, padding).shape)
    lhs = np.vdot(conv_transpose2d(X2, W2, stride, padding), y)
    np.testing.assert_allclose(lhs, np.vdot(X2, conv2d(y, W2, stride=stride, padding=padding)), rtol=1e-12)


@pytest.mark.parametrize("stride, padding", [(1, "valid"), (2, "same"), (3, 1), (1, "same")])
def test_conv1d_equals_torch(stride, padding):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    x, w = torch.from_numpy(X1), torch.from_numpy(W1)
    if padding == "same":
        # "same" is TF's rule (odd pixel after): pad explicitly, as torch's own "same" refuses strides
        total = max((-(-11 // stride) - 1) * stride + 4 - 11, 0)
        want = functional.conv1d(functional.pad(x, (total // 2, total - total // 2)), w, stride=stride)
    else:
        want = functional.conv1d(x, w, stride=stride, padding=0 if padding == "valid" else padding)
    np.testing.assert_allclose(conv1d(X1, W1, stride, padding), want.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((2, 3), (1, 0))])
def test_conv_transpose2d_equals_torch(stride, padding):
    torch = pytest.importorskip("torch")
    want = torch.nn.functional.conv_transpose2d(torch.from_numpy(X2), torch.from_numpy(W2), stride=stride,
                                                padding=padding)
    np.testing.assert_allclose(conv_transpose2d(X2, W2, stride, padding), want.numpy(), rtol=1e-12, atol=1e-13)


def conv1d_vjp_flipped_kernel(x, w, cotangent, stride=1, padding="valid"):
    """The convolution-vs-correlation mix-up: dx taken with the kernel reversed."""
    dx, _ = conv1d_vjp(x, w[..., ::-1], cotangent, stride, padding)
    _, dw = conv1d_vjp(x, w, cotangent, stride, padding)
    return dx, dw


def conv_transpose2d_vjp_channels_swapped(x, w, cotangent, stride=1, padding=0):
    """dw with its two channel axes read in the wrong order (square here, so the shape still fits)."""
    dx, dw = conv_transpose2d_vjp(x, w, cotangent, stride, padding)
    return dx, dw.reshape(w.shape[1], w.shape[0], *w.shape[2:]).swapaxes(0, 1)


@pytest.mark.parametrize("name, inputs, bad, params, wrong", [
    ("conv1d", {"x": X1, "w": W1}, conv1d_vjp_flipped_kernel, {"stride": 2, "padding": "same"}, "x"),
    ("conv_transpose2d", {"x": X2[:, :2], "w": RNG.normal(size=(2, 2, 3, 3))},
     conv_transpose2d_vjp_channels_swapped, {"stride": 2, "padding": 1}, "w")])
def test_known_bad_vjps_fail(name, inputs, bad, params, wrong):
    assert set(vjp_statuses(name, inputs, **params).values()) == {Status.PASS}
    statuses = vjp_statuses(name, inputs, bad, **params)
    assert statuses[wrong] is Status.FAIL
    assert set(statuses.values()) == {Status.PASS, Status.FAIL}


def test_bad_shapes_and_params_are_named():
    with pytest.raises(ValueError, match="conv1d: channel mismatch, x has C=3 but w has C=2"):
        conv1d(X1, W1[:, :2])
    with pytest.raises(ValueError, match="conv1d: kernel size 4 larger than padded input size 3"):
        conv1d(X1[..., :3], W1)
    with pytest.raises(ValueError, match="'stride': expected a positive int"):
        get_op("conv1d").check_params({"stride": [1, 2]})
    with pytest.raises(ValueError, match="leaves an empty output"):
        conv_transpose2d(X2, W2, padding=3)
    with pytest.raises(ValueError, match="'padding': expected an int or \\[ph, pw\\]"):
        get_op("conv_transpose2d").check_params({"padding": "same"})
    assert get_op("conv_transpose2d").check_params({"stride": [2, 1]}) == {"stride": (2, 1), "padding": 0}
