"""attention: closed forms, torch's fused scaled_dot_product_attention, and a VJP without softmax's Jacobian."""

import numpy as np
import pytest

from gradcheck.compare.comparison import Status
from gradcheck.ops import get_op
from gradcheck.ops.attention import attention, causal_mask
from gradcheck.ops.reductions import softmax
from tests.ops.verdicts import vjp_statuses

RNG = np.random.default_rng(5)
QKV = {"q": RNG.normal(size=(2, 4, 3)), "k": RNG.normal(size=(2, 5, 3)), "v": RNG.normal(size=(2, 5, 2))}


def test_equal_keys_average_the_values():
    # every score in a row is equal, so the softmax weights are uniform over the allowed keys:
    # each query gets the mean of all values, or with causal=True the mean of values 0..i
    q, k, v = RNG.normal(size=(4, 3)), np.tile(RNG.normal(size=3), (4, 1)), RNG.normal(size=(4, 2))
    np.testing.assert_allclose(attention(q, k, v), np.tile(v.mean(axis=0), (4, 1)), rtol=1e-14)
    running_means = np.cumsum(v, axis=0) / np.arange(1, 5)[:, None]
    np.testing.assert_allclose(attention(q, k, v, causal=True), running_means, rtol=1e-14)


def test_causal_mask_is_lower_triangular_from_the_top_left():
    np.testing.assert_array_equal(causal_mask(2, 3), [[True, False, False], [True, True, False]])


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shapes", [((2, 4, 3), (2, 5, 3), (2, 5, 2)), ((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 5))])
def test_forward_equals_torchs_fused_kernel(shapes, causal):
    torch = pytest.importorskip("torch")
    q, k, v = (RNG.normal(size=shape) for shape in shapes)
    want = torch.nn.functional.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v)),
                                                             is_causal=causal)
    np.testing.assert_allclose(attention(q, k, v, causal=causal), want.numpy(), rtol=1e-12, atol=1e-14)


def without_softmax_jacobian(q, k, v, cotangent, causal=False):
    """Backpropagates through P = softmax(S) as if dS = dP: right for v, wrong for q and k."""
    d = q.shape[-1]
    weights = softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(d), axis=-1)
    dscores = cotangent @ np.swapaxes(v, -1, -2) / np.sqrt(d)
    return dscores @ k, np.swapaxes(dscores, -1, -2) @ q, np.swapaxes(weights, -1, -2) @ cotangent


def test_vjp_missing_the_softmax_jacobian_fails_for_q_and_k_only():
    assert set(vjp_statuses("attention", QKV).values()) == {Status.PASS}
    statuses = vjp_statuses("attention", QKV, without_softmax_jacobian)
    assert statuses == {"q": Status.FAIL, "k": Status.FAIL, "v": Status.PASS}


def test_bad_shapes_and_params_are_named():
    with pytest.raises(ValueError, match="must share d"):
        attention(QKV["q"], QKV["k"][..., :2], QKV["v"])
    with pytest.raises(ValueError, match="must share S"):
        attention(QKV["q"], QKV["k"], QKV["v"][:, :4])
    with pytest.raises(ValueError, match="'causal': expected true or false"):
        get_op("attention").check_params({"causal": "yes"})
