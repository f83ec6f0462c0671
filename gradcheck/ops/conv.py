"""conv2d: 2-D cross-correlation, NCHW input, OIHW weight.

    z[n, o, p, q] = sum_{c, i, j} xp[n, c, p*sh + i, q*sw + j] * w[o, c, i, j]

where xp is x zero-padded (pad_top/bottom on H, pad_left/right on W).  This
is what torch.nn.functional.conv2d and tf.nn.conv2d compute (no kernel flip).

Implementation (im2col): the kh*kw kernel offsets of every output pixel are
gathered into a "column" matrix cols[..., n, (p, q), (c, i, j)] so the
convolution is a single batched matmul with w reshaped to (O, C*kh*kw).
Everything is vectorised; the only Python loop is over the kh*kw kernel
offsets in the backward scatter.

Extra leading batch axes are supported: x of shape (*B1, N, C, H, W) and w
of shape (*B2, O, C, kh, kw) with B1, B2 broadcastable give
z of shape (*B, N, O, Ho, Wo).
"""

import operator

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.registry import Op, UnsupportedLowering, register

# ---------------------------------------------------------------------------
# parameter handling
# ---------------------------------------------------------------------------

def _int(v):
    if isinstance(v, (bool, np.bool_)):
        raise TypeError("bool is not an int")
    return operator.index(v)


def _int_pair(v):
    """An int -> (v, v); a length-2 list/tuple of ints -> tuple; else TypeError."""
    try:
        i = _int(v)
        return (i, i)
    except TypeError:
        pass
    if isinstance(v, (list, tuple, np.ndarray)) and len(v) == 2:
        return (_int(v[0]), _int(v[1]))
    raise TypeError


def normalize_stride(stride, key="stride"):
    """Return (sh, sw), both positive ints; ValueError naming the key otherwise."""
    try:
        sh, sw = _int_pair(stride)
    except TypeError:
        raise ValueError(
            f"param {key!r}: expected a positive int or [sh, sw], got {stride!r}"
        ) from None
    if sh <= 0 or sw <= 0:
        raise ValueError(f"param {key!r}: must be positive, got {stride!r}")
    return sh, sw


def normalize_padding(padding, key="padding"):
    """Return "valid", "same" (case-insensitive input) or (ph, pw) >= 0."""
    if isinstance(padding, str):
        p = padding.lower()
        if p in ("valid", "same"):
            return p
        raise ValueError(
            f"param {key!r}: expected 'valid', 'same', an int or [ph, pw], "
            f"got {padding!r}")
    try:
        ph, pw = _int_pair(padding)
    except TypeError:
        raise ValueError(
            f"param {key!r}: expected 'valid', 'same', an int or [ph, pw], "
            f"got {padding!r}") from None
    if ph < 0 or pw < 0:
        raise ValueError(f"param {key!r}: must be non-negative, got {padding!r}")
    return ph, pw


def pads(padding, size, k, s):
    """(pad_before, pad_after, out_size) for one spatial dimension."""
    if padding == "valid":
        lo = hi = 0
    elif padding == "same":
        # TF "SAME": out = ceil(size / s); pad just enough for the last
        # window to fit, extra odd pixel goes after (bottom/right).
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        lo = total // 2
        hi = total - lo
    else:
        lo = hi = padding
    out = (size + lo + hi - k) // s + 1
    if size + lo + hi < k or out < 1:
        raise ValueError(
            f"conv2d: kernel size {k} larger than padded input size {size + lo + hi}")
    return lo, hi, out


def _geometry(x, w, stride, padding):
    if x.ndim < 4:
        raise ValueError(f"conv2d: x must be (..., N, C, H, W), got shape {x.shape}")
    if w.ndim < 4:
        raise ValueError(f"conv2d: w must be (..., O, C, kh, kw), got shape {w.shape}")
    if x.shape[-3] != w.shape[-3]:
        raise ValueError(
            f"conv2d: channel mismatch, x has C={x.shape[-3]} but w has "
            f"C={w.shape[-3]}")
    sh, sw = normalize_stride(stride)
    padding = normalize_padding(padding)
    if isinstance(padding, tuple):
        ph, pw = padding
    else:
        ph = pw = padding
    H, W = x.shape[-2:]
    kh, kw = w.shape[-2:]
    pt, pb, ho = pads(ph, H, kh, sh)
    pl, pr, wo = pads(pw, W, kw, sw)
    return (sh, sw), (pt, pb, pl, pr), (ho, wo)


def _pad(x, pt, pb, pl, pr):
    if pt == pb == pl == pr == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(pt, pb), (pl, pr)]
    return np.pad(x, widths)


def _im2col(xp, kh, kw, sh, sw, ho, wo):
    """(*B1, N, C, Hp, Wp) -> cols of shape (*B1, N, Ho*Wo, C*kh*kw).

    cols[..., n, p*Wo + q, (c*kh + i)*kw + j] = xp[..., n, c, p*sh + i, q*sw + j].
    """
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(-2, -1))
    win = win[..., ::sh, ::sw, :, :][..., :ho, :wo, :, :]
    # win: (*B1, N, C, Ho, Wo, kh, kw) -> (*B1, N, Ho, Wo, C, kh, kw)
    nb = xp.ndim - 4
    perm = tuple(range(nb)) + tuple(nb + a for a in (0, 2, 3, 1, 4, 5))
    win = win.transpose(perm)
    c = xp.shape[-3]
    return win.reshape(xp.shape[:-3] + (ho * wo, c * kh * kw))


# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------

def conv2d(x, w, stride=1, padding="valid"):
    x = as_float(x)
    w = as_float(w)
    dtype = np.result_type(x.dtype, w.dtype)
    (sh, sw), (pt, pb, pl, pr), (ho, wo) = _geometry(x, w, stride, padding)
    o, c, kh, kw = w.shape[-4:]
    cols = _im2col(_pad(x, pt, pb, pl, pr), kh, kw, sh, sw, ho, wo)
    # wt: (*B2, 1, C*kh*kw, O); the inserted 1 lines up with N so that the
    # matmul batch axes (*B1, N) and (*B2, 1) broadcast to (*B, N).
    wt = np.swapaxes(w.reshape(w.shape[:-4] + (1, o, c * kh * kw)), -1, -2)
    z = np.matmul(cols, wt)                         # (*B, N, Ho*Wo, O)
    z = np.swapaxes(z, -1, -2)                      # (*B, N, O, Ho*Wo)
    z = z.reshape(z.shape[:-1] + (ho, wo))
    return np.ascontiguousarray(z, dtype=dtype)


# ---------------------------------------------------------------------------
# VJP
# ---------------------------------------------------------------------------

def conv2d_vjp(x, w, cotangent, stride=1, padding="valid"):
    # With cols as in the forward, z = cols @ W^T (W = w as (O, C*kh*kw)),
    # i.e. an ordinary matmul, so by the matmul rule:
    #   dW    = dz^T @ cols : dw[o, c, i, j] = sum_{n,p,q} dz[n,o,p,q] xp[n,c,p*sh+i,q*sw+j]
    #           (the correlation of the input with the cotangent), and
    #   dcols = dz @ W      : the gradient for every gathered input copy.
    # im2col copies each padded-input pixel into every window that covers
    # it, so its gradient is the sum over those copies: scatter-add dcols
    # back through each kernel offset (i, j) at stride (sh, sw) -- the
    # "full" transposed correlation -- then crop away the zero padding
    # (padding is a constant, it gets no gradient).
    x = as_float(x)
    w = as_float(w)
    (sh, sw), (pt, pb, pl, pr), (ho, wo) = _geometry(x, w, stride, padding)
    o, c, kh, kw = w.shape[-4:]
    n = x.shape[-4]
    H, W = x.shape[-2:]
    dz = np.asarray(cotangent)
    work = np.result_type(x.dtype, w.dtype)

    # dz: (*B, N, O, Ho, Wo) -> (*B, N, Ho*Wo, O)
    dzr = np.swapaxes(dz.reshape(dz.shape[:-2] + (ho * wo,)), -1, -2)

    # --- dw ---------------------------------------------------------------
    xp = _pad(x, pt, pb, pl, pr)
    cols = _im2col(xp, kh, kw, sh, sw, ho, wo)      # (*B1, N, P, K)
    # Contract over (n, p) in one matmul by merging N and P.
    cols_m = cols.reshape(cols.shape[:-3] + (n * ho * wo, c * kh * kw))
    dzr_m = dzr.reshape(dzr.shape[:-3] + (n * ho * wo, o))
    dwt = np.matmul(np.swapaxes(cols_m, -1, -2), dzr_m)   # (*B, K, O)
    dw = np.swapaxes(dwt, -1, -2).reshape(dwt.shape[:-2] + (o, c, kh, kw))

    # --- dx ---------------------------------------------------------------
    wr = w.reshape(w.shape[:-4] + (1, o, c * kh * kw))    # (*B2, 1, O, K)
    dcols = np.matmul(dzr, wr)                            # (*B, N, P, K)
    dcols = dcols.reshape(dcols.shape[:-2] + (ho, wo, c, kh, kw))
    batch = dcols.shape[:-6]
    dxp = np.zeros(batch + (n, c) + xp.shape[-2:], dtype=work)
    h_span = (ho - 1) * sh + 1
    w_span = (wo - 1) * sw + 1
    for i in range(kh):
        for j in range(kw):
            # (*B, N, Ho, Wo, C) -> (*B, N, C, Ho, Wo)
            contrib = np.moveaxis(dcols[..., i, j], -1, -3)
            dxp[..., i:i + h_span:sh, j:j + w_span:sw] += contrib
    dx = dxp[..., pt:pt + H, pl:pl + W]

    return finish_grad(dx, x), finish_grad(dw, w)


# ---------------------------------------------------------------------------
# framework lowerings
# ---------------------------------------------------------------------------
# Case files hold x as NCHW and w as OIHW. PyTorch and JAX take those layouts
# directly. TensorFlow's CPU conv2d only runs NHWC with HWIO filters, so it
# transposes in, convolves, and transposes the output back to NCHW; the
# transposes are part of the differentiated graph, and their gradients are
# exact permutations. Padding "same" means TF's SAME everywhere: the total
# padding (out - 1) * stride + k - size is split with the odd pixel after
# (bottom/right). TF and JAX implement SAME natively; PyTorch's
# padding="same" rejects strides, so it pads explicitly with those amounts.

def _lowered_geometry(x_shape, w_shape, stride, padding, framework: str):
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise UnsupportedLowering(
            f"conv2d in {framework} is lowered for 4-D x (NCHW) and w (OIHW) only, got x of rank "
            f"{len(x_shape)} and w of rank {len(w_shape)}")
    return normalize_stride(stride), normalize_padding(padding)


def explicit_pads(x_shape, w_shape, strides, padding):
    """((top, bottom), (left, right)): the NumPy op's own padding rule, so "same" agrees exactly."""
    per_axis = padding if isinstance(padding, tuple) else (padding, padding)
    return tuple(pads(mode, size, k, s)[:2]
                 for mode, size, k, s in zip(per_axis, x_shape[2:], w_shape[2:], strides))


def _torch_conv2d(torch, x, w, stride=1, padding="valid"):
    strides, padding = _lowered_geometry(tuple(x.shape), tuple(w.shape), stride, padding, "torch")
    functional = torch.nn.functional
    if padding == "valid":
        return functional.conv2d(x, w, stride=strides)
    if isinstance(padding, tuple):
        return functional.conv2d(x, w, stride=strides, padding=padding)
    (top, bottom), (left, right) = explicit_pads(tuple(x.shape), tuple(w.shape), strides, padding)
    return functional.conv2d(functional.pad(x, (left, right, top, bottom)), w, stride=strides)


_NCHW_TO_NHWC, _NHWC_TO_NCHW, _OIHW_TO_HWIO = (0, 2, 3, 1), (0, 3, 1, 2), (2, 3, 1, 0)


def _tensorflow_conv2d(tf, x, w, stride=1, padding="valid"):
    x_shape, w_shape = tuple(x.shape), tuple(w.shape)
    strides, padding = _lowered_geometry(x_shape, w_shape, stride, padding, "tensorflow")
    if isinstance(padding, tuple):
        (top, bottom), (left, right) = explicit_pads(x_shape, w_shape, strides, padding)
        tf_padding = [[0, 0], [top, bottom], [left, right], [0, 0]]
    else:
        tf_padding = padding.upper()  # "VALID" | "SAME": TF's own semantics, which ours follow
    nhwc = tf.nn.conv2d(tf.transpose(x, _NCHW_TO_NHWC), tf.transpose(w, _OIHW_TO_HWIO),
                        strides=[1, *strides, 1], padding=tf_padding, data_format="NHWC")
    return tf.transpose(nhwc, _NHWC_TO_NCHW)


def _jax_conv2d(jax, x, w, stride=1, padding="valid"):
    strides, padding = _lowered_geometry(tuple(x.shape), tuple(w.shape), stride, padding, "jax")
    if isinstance(padding, tuple):
        jax_padding = [tuple(pair) for pair in explicit_pads(tuple(x.shape), tuple(w.shape), strides, padding)]
    else:
        jax_padding = padding.upper()
    return jax.lax.conv_general_dilated(x, w, window_strides=strides, padding=jax_padding,
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))


def _stride_value(value, key):
    # keep the user's form: an int stays an int, a pair becomes a tuple
    sh, sw = normalize_stride(value, key)
    return (sh, sw) if hasattr(value, "__len__") else sh


def _padding_value(value, key):
    # "valid" / "same" (lower-cased), or an explicit int / (ph, pw) pair
    p = normalize_padding(value, key)
    if isinstance(p, tuple) and not hasattr(value, "__len__"):
        return p[0]
    return p


CONV2D = register(Op(
    "conv2d", ("x", "w"), conv2d, conv2d_vjp, {"stride": 1, "padding": "valid"},
    "2-D cross-correlation, x NCHW, w OIHW; stride, padding valid/same/int",
    validators={"stride": _stride_value, "padding": _padding_value},
    torch=_torch_conv2d, tensorflow=_tensorflow_conv2d, jax=_jax_conv2d))
