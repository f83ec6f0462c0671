"""derivative_along at explore's looks (step scales 2^-16, 2^-24, 2^-32), where the VJP's rounding, not its
curvature, limits the differences: tanh-order2's alarm at x = 8.66 (and 10) beside elements of 1e6."""

import numpy as np
import pytest

from gradcheck.cases.problem import stable_seed
from gradcheck.engine.hessian import curve_noise, derivative_along, seeded_tangent
from gradcheck.tolerance import DEFAULT_TOLERANCES

TOL = DEFAULT_TOLERANCES["float64"]


def _point(*pairs):
    x = np.zeros(64)
    for index, value in pairs:
        x[index] = value
    return x


# the sweep's shrunk point: zeros, ones, 1e6, 1e6, 100 and 8.66 (its tangent there is 4328: the floor of
# scales(), a tenth of the mean 3.1e4, not 8.66's own size)
X = _point(*zip(range(51, 64), [1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -2.0, 1.0, 1.0, 1e6, 1e6, 100.0, 8.659643233600654]))
V = seeded_tangent(X, stable_seed("tanh-order2", "second order", "x"))


def jax_like_vjp(moved):
    y = np.tanh(moved["x"])
    return {"x": (1 + y) * (1 - y)}  # jax's tanh VJP with dz = 1: rounds to eps where its value is 1.2e-7


def exact(x, v):
    y = np.tanh(x)
    return -2 * y * (1 - y) * (1 + y) * v


def margins(found, want):
    return np.abs(found.value - want) / (TOL.atol + TOL.rtol * np.abs(want) + found.error)


def test_the_derivative_of_tanhs_vjp_beside_1e6_is_honest_at_every_look():
    want = exact(X, V)
    assert V[63] == pytest.approx(4327.614105411525, rel=1e-12) and want[63] == pytest.approx(-1.041520732861867e-3)
    for scale in (1.0, 2.0**-16, 2.0**-24, 2.0**-32):
        found = derivative_along(jax_like_vjp, {"x": X}, {"x": V}, scale)["x"]
        assert np.all(margins(found, want) < 1), scale  # within tolerance + its own error, everywhere
    # at the first look and the second (2^-16) the estimate at 8.66 is converged and right to 1.2e-8; before,
    # 2^-16 gave -1.0415357e-3 +- 4e-8 (not converged) and 2^-24 -1.02897e-3 +- 2.8e-10, 1.2% off (a
    # "real bug" 26000 times the allowance away)
    for scale in (1.0, 2.0**-16):
        found = derivative_along(jax_like_vjp, {"x": X}, {"x": V}, scale)["x"]
        assert found.value[63] == pytest.approx(-1.0415207e-3, rel=1e-7) and found.error[63] < 3e-10
    deep = derivative_along(jax_like_vjp, {"x": X}, {"x": V}, 2.0**-24)["x"]
    assert deep.error[63] > 1e-4 * abs(want[63])  # not converged there, and says so


def test_the_noise_of_a_rounded_vjp_is_its_rounding_and_a_smooth_curves_a_few_ulps():
    scale = 2.0**-24 * 0.022243884720465124  # the curve's t per unit of tau at the look 2^-24

    def curve(tau):
        return jax_like_vjp({"x": X + (float(tau) - 1.0) * scale * V})["x"]
    noise = curve_noise(curve)
    assert 1e-17 < noise[63] < 2.3e-16  # (1 + y)(1 - y) at y = 1 - 6e-8 moves in steps of 2.2e-16
    assert noise[63] > 1e5 * 4 * np.finfo(float).eps * abs(curve(1.0)[63])  # not the 4 ulps of its value, 1.2e-7
    assert np.all(noise[60:62] == 0) and noise[57] > 0  # 1e6: exactly 0 along the whole curve; -2: rounded
    smooth = curve_noise(lambda tau: np.array([np.sin(float(tau)), float(tau) ** 3]))
    assert np.all(smooth <= 4 * np.finfo(float).eps * np.array([np.sin(1.0), 1.0]))  # a few ulps: its own rounding


def test_torchs_vjp_at_x_10_flat_at_the_smallest_probe_still_shows_its_rounding():
    torch = pytest.importorskip("torch")
    x = _point((42, 10.0), (56, 1.0), (57, 1e6), (63, 1e6))
    v = seeded_tangent(x, stable_seed("tanh-order2", "second order", "x"))

    def vjp(moved):
        t = torch.tensor(moved["x"], requires_grad=True)
        (gradient,) = torch.autograd.grad(torch.tanh(t), t, torch.ones(64))
        return {"x": gradient.numpy()}
    want = exact(x, v)
    for scale in (2.0**-16, 2.0**-24):
        found = derivative_along(vjp, {"x": x}, {"x": v}, scale)["x"]
        assert margins(found, want)[42] < 1, scale
    # 2^-24: 7.411853e-5 +- 4.5e-8 where it is 7.411478e-5 (it was 7.395345e-5 +- 1.5e-12: 0.2% off, "converged")
    assert found.error[42] > 1e-8
