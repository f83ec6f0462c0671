"""layer_norm and batch_norm: closed forms, torch's own forwards, and VJPs that forget the statistics."""

import numpy as np
import pytest

from gradcheck.compare.comparison import Status
from gradcheck.ops import get_op
from gradcheck.ops.normalization import (
    batch_norm,
    batch_norm_vjp,
    layer_norm,
    layer_norm_vjp,
)
from tests.ops.verdicts import vjp_statuses

RNG = np.random.default_rng(8)
ROWS = {"x": RNG.normal(size=(3, 5)), "weight": RNG.normal(size=5), "bias": RNG.normal(size=5)}
NCHW = {"x": RNG.normal(size=(3, 2, 2, 3)), "weight": RNG.normal(size=2), "bias": RNG.normal(size=2)}


def test_layer_norm_of_one_to_four_by_hand():
    # mean 2.5, biased variance 1.25: y = 2 (x - 2.5) / sqrt(1.25 + 1e-5) + 1
    y = layer_norm(np.array([[1.0, 2.0, 3.0, 4.0]]), np.full(4, 2.0), np.ones(4))
    np.testing.assert_allclose(y[0], 2 * (np.arange(1, 5) - 2.5) / np.sqrt(1.25 + 1e-5) + 1, rtol=1e-14)


def test_batch_norm_standardises_each_channel_over_batch_and_space():
    y = batch_norm(NCHW["x"], np.ones(2), np.zeros(2), eps=1e-12)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-14)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1.0, rtol=1e-10)


@pytest.mark.parametrize("vjp, inputs, axes, bias_axes", [
    (layer_norm_vjp, ROWS, -1, 0), (batch_norm_vjp, NCHW, (0, 2, 3), (0, 2, 3))])
def test_gradient_is_blind_to_a_shift_of_each_group(vjp, inputs, axes, bias_axes):
    # y does not change when one group (a row; a channel) is shifted as a whole, so the gradient
    # is orthogonal to that shift: it sums to zero over the group, whatever the cotangent.
    dz = RNG.normal(size=inputs["x"].shape)
    dx, _, dbias = vjp(*inputs.values(), dz)
    np.testing.assert_allclose(dx.sum(axis=axes), 0.0, atol=1e-13)
    # bias is added to every element it lines up with: its gradient is the cotangent summed there.
    np.testing.assert_allclose(dbias, dz.sum(axis=bias_axes), rtol=1e-14)


def test_forwards_equal_torchs():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    x, w, b = (torch.from_numpy(a) for a in ROWS.values())
    np.testing.assert_allclose(layer_norm(*ROWS.values()), functional.layer_norm(x, (5,), w, b).numpy(),
                               rtol=1e-13, atol=1e-14)
    x, w, b = (torch.from_numpy(a) for a in NCHW.values())
    np.testing.assert_allclose(batch_norm(*NCHW.values(), eps=1e-3),
                               functional.batch_norm(x, None, None, w, b, training=True, eps=1e-3).numpy(),
                               rtol=1e-13, atol=1e-14)


def statistics_as_constants(axes_of):
    """The classic wrong backward: dx = dy * weight / sigma, as if mu and var did not depend on x."""
    def vjp(x, weight, bias, cotangent, eps=1e-5):
        axes = axes_of(x)
        sigma = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
        lined_up = weight.reshape((1, -1) + (1,) * (x.ndim - 2)) if axes != -1 else weight
        return cotangent * lined_up / sigma, None, None
    return vjp


@pytest.mark.parametrize("name, inputs, axes_of", [
    ("layer_norm", ROWS, lambda x: -1), ("batch_norm", NCHW, lambda x: (0, *range(2, x.ndim)))])
def test_vjp_without_the_statistics_gradient_fails(name, inputs, axes_of):
    assert vjp_statuses(name, inputs)["x"] is Status.PASS
    assert vjp_statuses(name, inputs, statistics_as_constants(axes_of))["x"] is Status.FAIL


@pytest.mark.parametrize("name", ["layer_norm", "batch_norm"])
def test_bad_shapes_and_eps_are_named(name):
    with pytest.raises(ValueError, match="weight must have shape"):
        get_op(name).forward(np.ones((2, 3)), np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="'eps'"):
        get_op(name).check_params({"eps": -1.0})
