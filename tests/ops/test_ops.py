"""Tests for gradcheck.ops: hand-computed values, finite differences,
batching, dtypes and parameter validation."""

import itertools
import warnings

import numpy as np
import pytest

from gradcheck.cases.problem import materialize
from gradcheck.ops import OPS, Op, get_op
from tests.ops.shipped import op_cases

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def fd_vjp(op, inputs, dz, params, eps=1e-6):
    """Central finite-difference VJP: d/dx_k sum(forward(...) * dz)."""
    inputs = [np.array(a, dtype=np.float64) for a in inputs]
    grads = []
    for idx, a in enumerate(inputs):
        g = np.zeros_like(a)
        flat = a.reshape(-1)
        gflat = g.reshape(-1)
        for k in range(flat.size):
            orig = flat[k]
            flat[k] = orig + eps
            fp = np.sum(op.forward(*inputs, **params) * dz)
            flat[k] = orig - eps
            fm = np.sum(op.forward(*inputs, **params) * dz)
            flat[k] = orig
            gflat[k] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


def check_against_fd(op, inputs, params, rng, rtol=1e-6, atol=1e-8):
    out = op.forward(*inputs, **params)
    dz = rng.standard_normal(out.shape)
    got = op.vjp(*inputs, dz, **params)
    assert isinstance(got, tuple) and len(got) == len(inputs)  # one per input given
    want = fd_vjp(op, inputs, dz, params)
    assert len(want) == len(inputs)
    for name, a, g, w in zip(op.inputs, inputs, got, want):
        assert g.shape == np.shape(a), name
        assert g.dtype == np.float64, name
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)


def naive_conv2d(x, w, stride, pads):
    """Direct-definition cross-correlation (loops), for cross-checking."""
    sh, sw = stride
    pt, pb, pl, pr = pads
    xp = np.pad(x, [(0, 0), (0, 0), (pt, pb), (pl, pr)])
    n, c, hp, wp = xp.shape
    o, _, kh, kw = w.shape
    ho = (hp - kh) // sh + 1
    wo = (wp - kw) // sw + 1
    z = np.zeros((n, o, ho, wo))
    for p in range(ho):
        for q in range(wo):
            patch = xp[:, :, p * sh:p * sh + kh, q * sw:q * sw + kw]
            z[:, :, p, q] = np.einsum("ncij,ocij->no", patch, w)
    return z


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def away_from_zero(rng, shape):
    """Random values with |x| in [0.2, 1.2]: keeps relu's kink away from FD."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 1.2, size=shape)


# ---------------------------------------------------------------------------
# registry / interface
# ---------------------------------------------------------------------------

def test_registry_contents():
    assert set(OPS) >= {"sigmoid", "softmax", "matmul", "conv2d", "relu",
                        "tanh", "exp", "log", "sum", "mean"}
    for name, op in OPS.items():
        assert isinstance(op, Op)
        assert op.name == name
        assert get_op(name) is op
        assert op.summary and "\n" not in op.summary
        assert op.domain in ("real", "positive")
    assert get_op("log").domain == "positive"
    assert get_op("matmul").inputs == ("x", "y")
    assert get_op("conv2d").inputs == ("x", "w", "b")
    assert get_op("conv2d").required_inputs == ("x", "w")
    assert dict(get_op("conv2d").params) == {"stride": 1, "padding": "valid", "dilation": 1, "groups": 1}
    assert dict(get_op("softmax").params) == {"axis": -1, "dtype": None}
    assert dict(get_op("sum").params) == {"axis": None, "keepdims": False}


def test_get_op_unknown():
    with pytest.raises(KeyError):
        get_op("nope")


# ---------------------------------------------------------------------------
# hand-computed values
# ---------------------------------------------------------------------------

def test_sigmoid_values():
    op = get_op("sigmoid")
    x = np.array([3.0, 4.0, 5.0])
    dz = np.array([1.0, 2.0, 3.0])
    (dx,) = op.vjp(x, dz)
    # dz * s * (1 - s) to 10 significant figures
    np.testing.assert_allclose(dx, [0.04517665973, 0.03532541243, 0.01994417001],
                               rtol=1e-6)
    # the same values rounded to 7 decimals (0.0199442 is 1.5e-6 relative
    # away from 0.01994417, so compare those to half a unit in the last place)
    np.testing.assert_allclose(dx, [0.0451767, 0.0353254, 0.0199442], atol=5e-8)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(op.forward(x), s, rtol=1e-15)


def test_sigmoid_stable_for_large_inputs():
    op = get_op("sigmoid")
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = op.forward(x)
        (dx,) = op.vjp(x, np.ones_like(x))
        s32 = op.forward(x.astype(np.float32))
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.exp(50)), 0.5,
                                   1 / (1 + np.exp(-50)), 1.0], rtol=1e-12)
    assert s[0] == 0.0 and s[-1] == 1.0
    np.testing.assert_array_equal(dx[[0, -1]], [0.0, 0.0])
    assert np.all(np.isfinite(s32))


def test_softmax_values(rng):
    op = get_op("softmax")
    x = np.array([3.0, 4.0, 5.0])
    dz = np.array([1.0, 2.0, 3.0])
    s = op.forward(x)
    e = np.exp([3.0, 4.0, 5.0])
    np.testing.assert_allclose(s, e / e.sum(), rtol=1e-14)
    (dx,) = op.vjp(x, dz)
    closed = s * (dz - np.sum(dz * s))
    np.testing.assert_allclose(dx, closed, rtol=1e-12)
    # independent central finite difference of L(x) = sum(softmax(x) * dz)
    eps = 1e-6
    fd = np.empty(3)
    for k in range(3):
        xp = x.copy()
        xm = x.copy()
        xp[k] += eps
        xm[k] -= eps
        fp = np.sum(np.exp(xp) / np.exp(xp).sum() * dz)
        fm = np.sum(np.exp(xm) / np.exp(xm).sum() * dz)
        fd[k] = (fp - fm) / (2 * eps)
    np.testing.assert_allclose(dx, fd, rtol=1e-6)
    # gradient of softmax is orthogonal to constant shifts
    assert abs(dx.sum()) < 1e-14


def test_softmax_stable_for_large_inputs():
    op = get_op("softmax")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = op.forward(np.array([1000.0, 1000.0, -1000.0]))
    np.testing.assert_allclose(s, [0.5, 0.5, 0.0])


def test_matmul_values():
    op = get_op("matmul")
    x = np.array([[3.0, 4.0], [5.0, 6.0]])
    y = np.array([[4.0, 5.0], [6.0, 7.0]])
    dz = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(op.forward(x, y), [[36.0, 43.0], [56.0, 67.0]])
    dx, dy = op.vjp(x, y, dz)
    np.testing.assert_array_equal(dx, [[14.0, 20.0], [32.0, 46.0]])
    np.testing.assert_array_equal(dy, [[18.0, 26.0], [22.0, 32.0]])


RAMP = np.array([[3, 4, 5, 6], [4, 5, 6, 7], [5, 6, 7, 8], [6, 7, 8, 9]],
                dtype=np.float64).reshape(1, 1, 4, 4)
W22 = np.array([[1, 2], [3, 4]], dtype=np.float64).reshape(1, 1, 2, 2)


def test_conv2d_valid_values():
    op = get_op("conv2d")
    z = op.forward(RAMP, W22)
    # z[p, q] = x[p,q] + 2 x[p,q+1] + 3 x[p+1,q] + 4 x[p+1,q+1]; the ramp has
    # x[p,q] = 3+p+q, so z = 10*(3+p+q) + 2 + 3 + 4*2 = 43 + 10 (p + q).
    want = np.array([[43, 53, 63], [53, 63, 73], [63, 73, 83]], dtype=np.float64)
    np.testing.assert_array_equal(z, want.reshape(1, 1, 3, 3))
    dz = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3]],
                  dtype=np.float64).reshape(1, 1, 3, 3)
    dx, dw = op.vjp(RAMP, W22, dz)
    np.testing.assert_array_equal(dw, [[[[96.0, 114.0], [114.0, 132.0]]]])
    # dx[a, b] = sum_{i,j} dz[a-i, b-j] w[i, j] (full transposed correlation)
    want_dx = np.array([[1, 3, 3, 2],
                        [5, 13, 13, 8],
                        [9, 23, 23, 14],
                        [9, 21, 21, 12]], dtype=np.float64)
    np.testing.assert_array_equal(dx, want_dx.reshape(1, 1, 4, 4))


def test_conv2d_same_and_stride_values():
    op = get_op("conv2d")
    # SAME, stride 1, 2x2 kernel: total pad 1 per dim -> 0 before, 1 after.
    z = op.forward(RAMP, W22, padding="same")
    assert z.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(z[0, 0, :3, :3], op.forward(RAMP, W22)[0, 0])
    # last column: x[p,3]*1 + x[p+1,3]*3 ; bottom-right: x[3,3]*1 = 9
    np.testing.assert_array_equal(z[0, 0, :, 3], [6 + 21, 7 + 24, 8 + 27, 9])
    # VALID, stride 2: picks z_valid[::2, ::2]
    z2 = op.forward(RAMP, W22, stride=2)
    np.testing.assert_array_equal(z2, [[[[43.0, 63.0], [63.0, 83.0]]]])
    # SAME with stride 2 on 4x4 by 2x2: Ho = 2, total pad 0
    np.testing.assert_array_equal(op.forward(RAMP, W22, stride=2, padding="same"), z2)


# ---------------------------------------------------------------------------
# VJP vs finite differences, every op / parameter combination that matters
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sigmoid", "relu", "tanh", "exp", "log"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_elementwise_fd(name, shape, rng):
    op = get_op(name)
    if op.domain == "positive":
        x = rng.uniform(0.3, 2.0, size=shape)
    else:
        x = away_from_zero(rng, shape)
    check_against_fd(op, [np.asarray(x)], {}, rng)


def test_elementwise_0d_returns_arrays():
    for name in ["sigmoid", "relu", "tanh", "exp", "log", "sum", "mean"]:
        op = get_op(name)
        x = np.array(0.7)
        z = op.forward(x)
        assert isinstance(z, np.ndarray) and z.shape == ()
        (dx,) = op.vjp(x, np.array(1.5))
        assert isinstance(dx, np.ndarray) and dx.shape == ()


def test_relu_kink_convention():
    (dx,) = get_op("relu").vjp(np.array([-1.0, 0.0, 2.0]), np.array([5.0, 5.0, 5.0]))
    np.testing.assert_array_equal(dx, [0.0, 0.0, 5.0])


@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
def test_softmax_fd(axis, rng):
    op = get_op("softmax")
    x = rng.standard_normal((3, 4, 2))
    check_against_fd(op, [x], {"axis": axis}, rng)


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, [0, 2], (1,), (-1, 0), []])
def test_reduction_fd(name, axis, rng):
    op = get_op(name)
    x = rng.standard_normal((2, 3, 4))
    check_against_fd(op, [x], {"axis": axis}, rng)


def test_reduction_values():
    x = np.arange(6.0).reshape(2, 3)
    s, m = get_op("sum"), get_op("mean")
    np.testing.assert_array_equal(s.forward(x, axis=0), [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(m.forward(x, axis=[1]), [1.0, 4.0])
    (dx,) = m.vjp(x, np.array([3.0, 6.0]), axis=1)
    np.testing.assert_array_equal(dx, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    (dx,) = s.vjp(x, np.array(2.0))
    np.testing.assert_array_equal(dx, np.full((2, 3), 2.0))
    (dx,) = m.vjp(x, np.array(6.0), axis=None)
    np.testing.assert_array_equal(dx, np.ones((2, 3)))


@pytest.mark.parametrize("xs,ys", [
    ((3, 4), (4, 2)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),    # broadcast batch dims
    ((1, 3, 4), (2, 4, 2)),
    ((4,), (4, 3)),               # 1-D @ 2-D
    ((3, 4), (4,)),               # 2-D @ 1-D
    ((4,), (4,)),                 # 1-D @ 1-D -> scalar
    ((2, 3, 4), (4,)),            # batched @ 1-D
    ((4,), (2, 4, 3)),            # 1-D @ batched
])
def test_matmul_fd(xs, ys, rng):
    op = get_op("matmul")
    x = rng.standard_normal(xs)
    y = rng.standard_normal(ys)
    assert op.forward(x, y).shape == np.matmul(x, y).shape
    check_against_fd(op, [x, y], {}, rng)


CONV_CASES = list(itertools.product(
    [1, 2, [2, 1]],                       # stride
    ["valid", "same", 1, [2, 0]],         # padding
    [(3, 3), (2, 2), (2, 3)],             # kernel (odd, even, mixed)
))


@pytest.mark.parametrize("stride,padding,kernel", CONV_CASES)
def test_conv2d_fd_and_naive(stride, padding, kernel, rng):
    op = get_op("conv2d")
    n, c, o, h, w_ = 2, 3, 4, 5, 6           # non-square input
    x = rng.standard_normal((n, c, h, w_))
    w = rng.standard_normal((o, c) + kernel)
    params = op.check_params({"stride": stride, "padding": padding})
    z = op.forward(x, w, **params)
    # cross-check the forward with the direct definition
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    kh, kw = kernel
    if padding == "valid":
        pads = (0, 0, 0, 0)
    elif padding == "same":
        pads = []
        for size, k, s in ((h, kh, sh), (w_, kw, sw)):
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        assert z.shape[-2:] == (-(-h // sh), -(-w_ // sw))
    else:
        ph, pw = (padding, padding) if isinstance(padding, int) else padding
        pads = (ph, ph, pw, pw)
    np.testing.assert_allclose(z, naive_conv2d(x, w, (sh, sw), pads),
                               rtol=1e-12, atol=1e-12)
    check_against_fd(op, [x, w], params, rng)


# ---------------------------------------------------------------------------
# leading batch dimensions (used by the batched finite-difference engine)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, {"stride": 2, "padding": "same"},
                                    {"stride": [1, 2], "padding": 1}])
def test_conv2d_batched_forward(params, rng):
    op = get_op("conv2d")
    xb = rng.standard_normal((5, 2, 3, 5, 6))
    wb = rng.standard_normal((5, 4, 3, 3, 2))
    x, w = xb[0], wb[0]
    z = op.forward(xb, w, **params)
    np.testing.assert_allclose(z, np.stack([op.forward(xb[b], w, **params)
                                            for b in range(5)]), rtol=1e-12)
    z = op.forward(x, wb, **params)
    np.testing.assert_allclose(z, np.stack([op.forward(x, wb[b], **params)
                                            for b in range(5)]), rtol=1e-12)
    z = op.forward(xb, wb, **params)
    np.testing.assert_allclose(z, np.stack([op.forward(xb[b], wb[b], **params)
                                            for b in range(5)]), rtol=1e-12)
    # two batch dims broadcasting against each other: (5,1) with (3,)
    z = op.forward(xb[:, None], wb[:3], **params)
    assert z.shape[:2] == (5, 3)
    np.testing.assert_allclose(z[4, 2], op.forward(xb[4], wb[2], **params),
                               rtol=1e-12)


@pytest.mark.parametrize("params", [{}, {"stride": 2, "padding": "same"},
                                    {"stride": [1, 2], "padding": 1}])
def test_conv2d_batched_vjp(params, rng):
    op = get_op("conv2d")
    xb = rng.standard_normal((5, 2, 3, 5, 6))
    wb = rng.standard_normal((5, 4, 3, 3, 2))
    x, w = xb[0], wb[0]
    dzb = rng.standard_normal(op.forward(xb, wb, **params).shape)
    singles = [op.vjp(xb[b], wb[b], dzb[b], **params) for b in range(5)]

    # both batched: per-element gradients, stacked
    dx, dw = op.vjp(xb, wb, dzb, **params)
    np.testing.assert_allclose(dx, np.stack([s[0] for s in singles]), rtol=1e-12)
    np.testing.assert_allclose(dw, np.stack([s[1] for s in singles]), rtol=1e-12)

    # batch on x only: dx stacks; w was broadcast, so dw is the sum
    singles = [op.vjp(xb[b], w, dzb[b], **params) for b in range(5)]
    dx, dw = op.vjp(xb, w, dzb, **params)
    assert dx.shape == xb.shape and dw.shape == w.shape
    np.testing.assert_allclose(dx, np.stack([s[0] for s in singles]), rtol=1e-12)
    np.testing.assert_allclose(dw, np.sum([s[1] for s in singles], axis=0),
                               rtol=1e-12)

    # batch on w only: dw stacks; dx is the sum
    singles = [op.vjp(x, wb[b], dzb[b], **params) for b in range(5)]
    dx, dw = op.vjp(x, wb, dzb, **params)
    assert dx.shape == x.shape and dw.shape == wb.shape
    np.testing.assert_allclose(dw, np.stack([s[1] for s in singles]), rtol=1e-12)
    np.testing.assert_allclose(dx, np.sum([s[0] for s in singles], axis=0),
                               rtol=1e-12)


def test_other_ops_batched(rng):
    xb = rng.standard_normal((5, 3, 4))
    for name in ["sigmoid", "relu", "tanh", "exp"]:
        op = get_op(name)
        np.testing.assert_allclose(op.forward(xb),
                                   np.stack([op.forward(a) for a in xb]))
    sm = get_op("softmax")
    np.testing.assert_allclose(sm.forward(xb, axis=-2),
                               np.stack([sm.forward(a, axis=-2) for a in xb]))
    dzb = rng.standard_normal(xb.shape)
    np.testing.assert_allclose(sm.vjp(xb, dzb)[0],
                               np.stack([sm.vjp(a, d)[0] for a, d in zip(xb, dzb)]))
    mm = get_op("matmul")
    y = rng.standard_normal((4, 2))
    np.testing.assert_allclose(mm.forward(xb, y), np.stack([a @ y for a in xb]))


# ---------------------------------------------------------------------------
# dtype preservation
# ---------------------------------------------------------------------------

def _float32_case(name, rng):
    """The inputs and params of the op's first shipped case, in float32."""
    problem = materialize(op_cases(name)[0])
    return [a.astype(np.float32) for a in problem.inputs.values()], dict(problem.case.params)


@pytest.mark.parametrize("name", sorted(OPS))
def test_float32_preserved(name, rng):
    op = get_op(name)
    inputs, params = _float32_case(name, rng)
    z = op.forward(*inputs, **params)
    assert z.dtype == np.float32
    # even a float64 cotangent must give float32 gradients
    grads = op.vjp(*inputs, np.ones(z.shape, dtype=np.float64), **params)
    for a, g in zip(inputs, grads):
        assert g.dtype == np.float32 and g.shape == a.shape
    # and float32 results agree with float64 ones
    z64 = op.forward(*[a.astype(np.float64) for a in inputs], **params)
    np.testing.assert_allclose(z, z64, rtol=1e-4, atol=1e-5)
    assert get_op(name).forward(*[a.astype(np.float64) for a in inputs],
                                **params).dtype == np.float64


# ---------------------------------------------------------------------------
# parameter validation
# ---------------------------------------------------------------------------

def test_check_params_defaults_and_normalisation():
    conv = get_op("conv2d")
    defaults = {"stride": 1, "padding": "valid", "dilation": 1, "groups": 1}
    assert conv.check_params({}) == defaults
    assert conv.check_params({"stride": [2, 1], "padding": "SAME", "dilation": [1, 3], "groups": 2}) == \
        {"stride": (2, 1), "padding": "same", "dilation": (1, 3), "groups": 2}
    assert conv.check_params({"padding": 2}) == {**defaults, "padding": 2}
    assert conv.check_params({"padding": [1, 0]})["padding"] == (1, 0)
    assert get_op("sum").check_params({"axis": [0, 1]}) == {"axis": (0, 1), "keepdims": False}
    assert get_op("mean").check_params({"keepdims": True}) == {"axis": None, "keepdims": True}
    assert get_op("softmax").check_params({"axis": 0}) == {"axis": 0, "dtype": None}
    assert get_op("sigmoid").check_params({}) == {}
    # the registry defaults are not mutated by merging
    assert dict(conv.params) == defaults


@pytest.mark.parametrize("name,params,key", [
    ("sigmoid", {"axis": 0}, "axis"),
    ("matmul", {"transpose": True}, "transpose"),
    ("conv2d", {"strides": 2}, "strides"),
    ("conv2d", {"stride": 0}, "stride"),
    ("conv2d", {"stride": -1}, "stride"),
    ("conv2d", {"stride": [1, 0]}, "stride"),
    ("conv2d", {"stride": [1, 2, 3]}, "stride"),
    ("conv2d", {"stride": 1.5}, "stride"),
    ("conv2d", {"stride": "2"}, "stride"),
    ("conv2d", {"padding": "full"}, "padding"),
    ("conv2d", {"padding": -1}, "padding"),
    ("conv2d", {"padding": [1, -1]}, "padding"),
    ("conv2d", {"padding": 1.0}, "padding"),
    ("conv2d", {"dilation": 0}, "dilation"),
    ("conv2d", {"dilation": [1, 2, 3]}, "dilation"),
    ("conv2d", {"groups": 0}, "groups"),
    ("conv2d", {"groups": 1.5}, "groups"),
    ("softmax", {"dtype": "int64"}, "dtype"),
    ("sum", {"keepdims": 1}, "keepdims"),
    ("mean", {"keepdim": True}, "keepdim"),
    ("softmax", {"axis": None}, "axis"),
    ("softmax", {"axis": "last"}, "axis"),
    ("softmax", {"axis": 1.0}, "axis"),
    ("sum", {"axis": "0"}, "axis"),
    ("sum", {"axis": [0, 0]}, "axis"),
    ("mean", {"axis": 1.5}, "axis"),
    ("mean", {"axis": [0, "a"]}, "axis"),
    ("mean", {"axes": 0}, "axes"),
])
def test_check_params_rejects(name, params, key):
    with pytest.raises(ValueError, match=repr(key)):
        get_op(name).check_params(params)


def test_conv2d_rejects_bad_shapes():
    op = get_op("conv2d")
    with pytest.raises(ValueError):
        op.forward(np.zeros((1, 2, 4, 4)), np.zeros((1, 3, 2, 2)))   # C mismatch
    with pytest.raises(ValueError):
        op.forward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)))   # kernel too big
