"""mse_loss: a hand value, torch's own forward, and a VJP that forgets the mean's 1/n."""

import numpy as np
import pytest

from gradcheck.compare.comparison import Status
from gradcheck.ops.losses import mse_loss, mse_loss_vjp
from tests.ops.verdicts import vjp_statuses

RNG = np.random.default_rng(3)
INPUTS = {"x": RNG.normal(size=(3, 4)), "target": RNG.normal(size=(3, 4))}


def test_by_hand():
    # ((1 - 0)^2 + (2 - 2)^2 + (4 - 1)^2) / 3 = 10 / 3; dL/dx = 2 (x - t) / 3 = -dL/dt
    x, t = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    np.testing.assert_allclose(mse_loss(x, t), 10 / 3, rtol=1e-15)
    dx, dt = mse_loss_vjp(x, t, np.array(3.0))
    np.testing.assert_allclose(dx, [2.0, 0.0, 6.0], rtol=1e-15)
    np.testing.assert_allclose(dt, [-2.0, 0.0, -6.0], rtol=1e-15)


def test_forward_equals_torchs():
    torch = pytest.importorskip("torch")
    want = torch.nn.functional.mse_loss(*(torch.from_numpy(a) for a in INPUTS.values()))
    np.testing.assert_allclose(mse_loss(*INPUTS.values()), want.item(), rtol=1e-14)


def summed_not_averaged(x, target, cotangent):
    """The gradient of sum((x - t)^2): n times too large."""
    return cotangent * 2 * (x - target), -cotangent * 2 * (x - target)


def test_vjp_forgetting_the_mean_fails():
    assert set(vjp_statuses("mse_loss", INPUTS).values()) == {Status.PASS}
    assert set(vjp_statuses("mse_loss", INPUTS, summed_not_averaged).values()) == {Status.FAIL}


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"mse_loss: x \(3, 4\) and target \(4,\) must have the same shape"):
        mse_loss(INPUTS["x"], INPUTS["target"][0])
