"""maxpool2d and avgpool2d: hand values, torch's own forwards and backward at ties, and known-bad VJPs."""

import numpy as np
import pytest

from gradcheck.compare.comparison import Status
from gradcheck.ops import get_op
from gradcheck.ops.pooling import (
    avgpool2d,
    avgpool2d_vjp,
    maxpool2d,
    maxpool2d_vjp,
    windows,
)
from tests.ops.verdicts import vjp_statuses

# Top-left window: 2.5 twice (a tie); bottom-right window: 1.5 twice.
TIES = np.array([[[[0.5, 2.5, -1.0, 0.25],
                   [2.5, -0.75, 3.0, 1.0],
                   [-2.0, 0.125, 1.5, -0.5],
                   [1.0, -1.5, 0.75, 1.5]]]])
RNG = np.random.default_rng(7)
X = RNG.normal(size=(2, 2, 7, 6))


def test_maxpool_by_hand_routes_a_tie_to_its_first_maximum():
    np.testing.assert_array_equal(maxpool2d(TIES, kernel=2), [[[[2.5, 3.0], [1.0, 1.5]]]])
    (dx,) = maxpool2d_vjp(TIES, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), kernel=2)
    want = np.zeros((4, 4))
    want[0, 1], want[1, 2], want[3, 0], want[2, 2] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(dx[0, 0], want)


def test_avgpool_by_hand_and_its_overlapping_vjp():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    # 2x2 windows at stride 1: the mean of x[p:p+2, q:q+2] = x[p, q] + (4 + 1) / 2.
    np.testing.assert_allclose(avgpool2d(x, kernel=2, stride=1)[0, 0], x[0, 0, :2, :3] + 2.5)
    (dx,) = avgpool2d_vjp(x, np.ones((1, 1, 2, 3)), kernel=2, stride=1)
    # each pixel gets 1/4 for every window that covers it: 1, 2 or 4 windows
    np.testing.assert_allclose(dx[0, 0], np.array([[1, 2, 2, 1], [2, 4, 4, 2], [1, 2, 2, 1]]) / 4)


def test_windows_reads_each_window_at_its_stride():
    view = windows(X, (3, 2), (2, 1), (3, 5))
    np.testing.assert_array_equal(view[1, 0, 2, 4], X[1, 0, 4:7, 4:6])


@pytest.mark.parametrize("params", [{"kernel": 2}, {"kernel": 3, "stride": [2, 1]}, {"kernel": [2, 3], "stride": 1}])
def test_forwards_equal_torchs(params):
    torch = pytest.importorskip("torch")
    functional, x = torch.nn.functional, torch.from_numpy(X)
    kernel, stride = params["kernel"], params.get("stride", params["kernel"])
    np.testing.assert_array_equal(maxpool2d(X, **params), functional.max_pool2d(x, kernel, stride).numpy())
    np.testing.assert_allclose(avgpool2d(X, **params), functional.avg_pool2d(x, kernel, stride).numpy(),
                               rtol=1e-14)


def test_tie_gradient_equals_torchs():
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(TIES).requires_grad_()
    dz = RNG.normal(size=(1, 1, 2, 2))
    (want,) = torch.autograd.grad(torch.nn.functional.max_pool2d(x, 2), x, torch.from_numpy(dz))
    np.testing.assert_array_equal(maxpool2d_vjp(TIES, dz, kernel=2)[0], want.numpy())


def every_tied_maximum_gets_the_cotangent(x, cotangent, kernel=2, stride=None):
    """Wrong at ties: each tied maximum gets all of dz, so a tie's gradient sums to 2 dz."""
    (sh, sw), z = (kernel, kernel), maxpool2d(x, kernel)
    up = np.repeat(np.repeat(z, sh, axis=-2), sw, axis=-1)
    return (np.where(x == up, np.repeat(np.repeat(cotangent, sh, axis=-2), sw, axis=-1), 0.0),)


def test_vjp_copying_the_cotangent_to_every_tie_fails():
    (dx,) = every_tied_maximum_gets_the_cotangent(TIES, np.ones((1, 1, 2, 2)))
    assert dx.sum() == 6.0  # two ties counted twice: the bug is there to be found
    assert vjp_statuses("maxpool2d", {"x": TIES}, kernel=2)["x"] is Status.PASS
    assert vjp_statuses("maxpool2d", {"x": TIES}, every_tied_maximum_gets_the_cotangent, kernel=2)["x"] \
        is Status.FAIL


def overlaps_overwritten(x, cotangent, kernel=2, stride=None):
    """Wrong where windows overlap: assignment keeps only the last window's share of each pixel."""
    dx = np.zeros_like(x)
    for i in range(kernel):
        for j in range(kernel):
            dx[..., i:i + cotangent.shape[-2], j:j + cotangent.shape[-1]] = cotangent / kernel**2
    return (dx,)


def test_avgpool_vjp_dropping_overlaps_fails():
    inputs, params = {"x": X}, {"kernel": 2, "stride": 1}
    assert vjp_statuses("avgpool2d", inputs, **params)["x"] is Status.PASS
    assert vjp_statuses("avgpool2d", inputs, overlaps_overwritten, **params)["x"] is Status.FAIL


@pytest.mark.parametrize("name", ["maxpool2d", "avgpool2d"])
def test_bad_windows_are_named(name):
    op = get_op(name)
    with pytest.raises(ValueError, match="kernel 5x5 larger than the input's 4x4"):
        op.forward(np.ones((1, 1, 4, 4)), kernel=5)
    with pytest.raises(ValueError, match="'stride'"):
        op.check_params({"stride": 0})
    with pytest.raises(ValueError, match="'kernel'"):
        op.check_params({"kernel": [2, "a"]})
    assert op.check_params({"kernel": [2, 3]}) == {"kernel": (2, 3), "stride": None}
