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

from .elementwise import as_float, finish_grad


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


def _pads(padding, size, k, s):
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
    pt, pb, ho = _pads(ph, H, kh, sh)
    pl, pr, wo = _pads(pw, W, kw, sw)
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
