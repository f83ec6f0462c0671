"""conv2d: 2-D cross-correlation, NCHW input, OIHW weight, optional bias, with stride, padding,
dilation and groups (torch.nn.functional.conv2d's parameters).

    z[n, o, p, q] = b[o] + sum_{c, i, j} xp[n, g*Cg + c, p*sh + i*dh, q*sw + j*dw] * w[o, c, i, j]

where xp is x zero-padded (pad_top/bottom on H, pad_left/right on W), Cg = C / groups is the
number of channels per group and g = o // (O / groups) the group of output channel o. This is
what torch.nn.functional.conv2d and tf.nn.conv2d compute (no kernel flip). An unbatched x of
shape (C, H, W) gives z of shape (O, Ho, Wo), as in torch.

Implementation (im2col): the kh*kw kernel taps of every output pixel are gathered, per group,
into a "column" matrix cols[..., n, g, (p, q), (c, i, j)], so the convolution is a single
batched matmul with w reshaped to (G, O/G, Cg*kh*kw). Everything is vectorised; the only Python
loop is over the kh*kw kernel taps in the backward scatter.

Extra leading batch axes are supported: x of shape (*B1, N, C, H, W), w of shape
(*B2, O, Cg, kh, kw) and b of shape (*B3, O), broadcastable, give z of shape (*B, N, O, Ho, Wo).
The parameters and their geometry live in gradcheck/ops/conv_geometry.py.
"""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.conv_geometry import (
    Geometry,
    explicit_pads,
    geometry,
    normalize_groups,
    normalize_padding,
    normalize_stride,
    padding_value,
    pads,
    pair_value,
    positive_pair,
)
from gradcheck.ops.registry import Op, UnsupportedLowering, register

# The geometry helpers stay importable from here, where they were before conv_geometry.py.
__all__ = ["CONV2D", "conv2d", "conv2d_vjp", "explicit_pads", "normalize_padding", "normalize_stride", "pads"]


def _pad(x, geo: Geometry):
    pt, pb, pl, pr = geo.pads
    if pt == pb == pl == pr == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(pt, pb), (pl, pr)]
    return np.pad(x, widths)


def _im2col(xp, geo: Geometry):
    """(*B1, N, C, Hp, Wp) -> cols of shape (*B1, N, G, Ho*Wo, Cg*kh*kw).

    cols[..., n, g, p*Wo + q, (c*kh + i)*kw + j] = xp[..., n, g*Cg + c, p*sh + i*dh, q*sw + j*dw].
    """
    (kh, kw), (dh, dw), (sh, sw), (ho, wo) = geo.kernel, geo.dilation, geo.strides, geo.out
    # win[..., p, q, i, j] = xp[..., p*sh + i*dh, q*sw + j*dw], a strided view (what sliding_window_view
    # and slicing give, at a tenth of their cost: the differences call the forward at many points).
    if (ho - 1) * sh + (kh - 1) * dh >= xp.shape[-2] or (wo - 1) * sw + (kw - 1) * dw >= xp.shape[-1]:
        raise ValueError(f"conv2d: the windows run past the padded input {xp.shape[-2:]}")  # never, by geometry
    step_h, step_w = xp.strides[-2:]
    win = np.lib.stride_tricks.as_strided(
        xp, xp.shape[:-2] + (ho, wo, kh, kw), xp.strides[:-2] + (step_h * sh, step_w * sw, step_h * dh, step_w * dw),
        writeable=False)
    # win: (*B1, N, C, Ho, Wo, kh, kw) -> (*B1, N, G, Cg, Ho, Wo, kh, kw) -> (*B1, N, G, Ho, Wo, Cg, kh, kw)
    g, cg = geo.groups, xp.shape[-3] // geo.groups
    win = win.reshape(xp.shape[:-3] + (g, cg, ho, wo, kh, kw))
    nb = win.ndim - 5  # the axes before (Cg, Ho, Wo, kh, kw): *B1, N and G
    win = win.transpose(tuple(range(nb)) + tuple(nb + a for a in (1, 2, 0, 3, 4)))
    return win.reshape(xp.shape[:-3] + (g, ho * wo, cg * kh * kw))


def _grouped(w, geo: Geometry):
    """w (*B2, O, Cg, kh, kw) -> (*B2, 1, G, O/G, Cg*kh*kw); the 1 lines up with x's N axis."""
    o = w.shape[-4]
    return w.reshape(w.shape[:-4] + (1, geo.groups, o // geo.groups, -1))


def _with_n_axis(a, geo: Geometry):
    """An unbatched x (C, H, W) or cotangent (O, Ho, Wo) as a batch of one image."""
    return np.expand_dims(a, -4) if geo.unbatched else a


# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding="valid", dilation=1, groups=1):
    x, w = as_float(x), as_float(w)
    geo = geometry(x.shape, w.shape, stride, padding, dilation, groups)
    dtype = np.result_type(x.dtype, w.dtype, *([] if b is None else [as_float(b).dtype]))
    cols = _im2col(_pad(_with_n_axis(x, geo), geo), geo)        # (*B1, N, G, P, K)
    z = np.matmul(cols, np.swapaxes(_grouped(w, geo), -1, -2))  # (*B, N, G, P, O/G)
    z = np.swapaxes(z, -1, -2)                                   # (*B, N, G, O/G, P)
    z = z.reshape(z.shape[:-3] + (w.shape[-4],) + geo.out)       # (*B, N, O, Ho, Wo)
    if b is not None:
        z = z + as_float(b)[..., None, :, None, None]
    if geo.unbatched:
        z = z[..., 0, :, :, :]
    return np.ascontiguousarray(z, dtype=dtype)


# ---------------------------------------------------------------------------
# VJP
# ---------------------------------------------------------------------------

def conv2d_vjp(x, w, *bias_and_cotangent, stride=1, padding="valid", dilation=1, groups=1):
    # Called as vjp(x, w, cotangent) or vjp(x, w, b, cotangent): the bias is optional.
    # Per group, with cols as in the forward, z = cols @ W^T (W = w as (O/G, Cg*kh*kw)),
    # an ordinary matmul, so by the matmul rule:
    #   dW    = dz^T @ cols : dw[o, c, i, j] = sum_{n,p,q} dz[n,o,p,q] xp[n,g*Cg+c,p*sh+i*dh,q*sw+j*dw]
    #           (the correlation of the input with the cotangent), and
    #   dcols = dz @ W      : the gradient for every gathered input copy.
    # im2col copies each padded-input pixel into every window that covers
    # it, so its gradient is the sum over those copies: scatter-add dcols
    # back through each kernel tap (i*dh, j*dw) at stride (sh, sw) -- the
    # "full" transposed correlation -- then crop away the zero padding
    # (padding is a constant, it gets no gradient).
    # The bias is added to every output pixel of its channel: db[o] = sum_{n,p,q} dz[n,o,p,q].
    *bias, cotangent = bias_and_cotangent
    x, w = as_float(x), as_float(w)
    geo = geometry(x.shape, w.shape, stride, padding, dilation, groups)
    xp = _pad(_with_n_axis(x, geo), geo)
    dz = _with_n_axis(np.asarray(cotangent), geo)                # (*B, N, O, Ho, Wo)
    dx, dw = _input_grad(xp, w, dz, geo), _weight_grad(xp, w, dz, geo)
    grads = [finish_grad(dx, x), finish_grad(dw, w)]
    if bias:
        grads.append(finish_grad(np.sum(dz, axis=(-4, -2, -1)), as_float(bias[0])))
    return tuple(grads)


def _per_group(dz, geo: Geometry):
    """dz (*B, N, O, Ho, Wo) -> (*B, N, G, Ho*Wo, O/G), the layout of the forward's matmul."""
    shape = dz.shape[:-3] + (geo.groups, dz.shape[-3] // geo.groups, -1)
    return np.swapaxes(dz.reshape(shape), -1, -2)


def _weight_grad(xp, w, dz, geo: Geometry):
    cols = _im2col(xp, geo)                                      # (*B1, N, G, P, K)
    dzr = _per_group(dz, geo)                                    # (*B, N, G, P, O/G)
    # Contract over (n, p) in one matmul: move N beside P and merge them.
    cols_m = np.moveaxis(cols, -4, -3)                           # (*B1, G, N, P, K)
    cols_m = cols_m.reshape(cols_m.shape[:-3] + (-1, cols.shape[-1]))
    dzr_m = np.moveaxis(dzr, -4, -3)                             # (*B, G, N, P, O/G)
    dzr_m = dzr_m.reshape(dzr_m.shape[:-3] + (-1, dzr.shape[-1]))
    dwt = np.matmul(np.swapaxes(cols_m, -1, -2), dzr_m)         # (*B, G, K, O/G)
    return np.swapaxes(dwt, -1, -2).reshape(dwt.shape[:-3] + w.shape[-4:])


def _input_grad(xp, w, dz, geo: Geometry):
    (kh, kw), (dh, dw), (sh, sw), (ho, wo) = geo.kernel, geo.dilation, geo.strides, geo.out
    g, cg = geo.groups, w.shape[-3]
    dcols = np.matmul(_per_group(dz, geo), _grouped(w, geo))     # (*B, N, G, P, K)
    dcols = dcols.reshape(dcols.shape[:-2] + (ho, wo, cg, kh, kw))
    dcols = np.moveaxis(dcols, -3, -5)                           # (*B, N, G, Cg, Ho, Wo, kh, kw)
    lead = dcols.shape[:-5]                                      # (*B, N, G)
    dxp = np.zeros(lead + (cg,) + xp.shape[-2:], dtype=np.result_type(xp.dtype, w.dtype))
    h_span, w_span = (ho - 1) * sh + 1, (wo - 1) * sw + 1
    for i in range(kh):
        for j in range(kw):
            dxp[..., i * dh:i * dh + h_span:sh, j * dw:j * dw + w_span:sw] += dcols[..., i, j]
    dxp = dxp.reshape(lead[:-1] + (g * cg,) + xp.shape[-2:])
    pt, _, pl, _ = geo.pads
    height, width = xp.shape[-2] - sum(geo.pads[:2]), xp.shape[-1] - sum(geo.pads[2:])
    return dxp[..., pt:pt + height, pl:pl + width]


# ---------------------------------------------------------------------------
# framework lowerings
# ---------------------------------------------------------------------------
# Case files hold x as NCHW (or CHW, unbatched) and w as OIHW. PyTorch and JAX take those layouts
# directly. TensorFlow's CPU conv2d only runs NHWC with HWIO filters, so it transposes in,
# convolves, and transposes the output back to NCHW; the transposes are part of the
# differentiated graph, and their gradients are exact permutations. Every framework pads by the
# amounts the NumPy op computes (Geometry.pads): "same" is TF's SAME, the odd pixel after.

def _lowered_geometry(x, w, b, framework: str, params) -> Geometry:
    ranks = len(x.shape), len(w.shape), None if b is None else len(b.shape)
    if ranks[0] not in (3, 4) or ranks[1] != 4 or ranks[2] not in (None, 1):
        raise UnsupportedLowering(
            f"conv2d in {framework} is lowered for 3-D or 4-D x (CHW, NCHW), 4-D w (OIHW) and "
            f"1-D b, got x, w, b of ranks {ranks}")
    return geometry(tuple(x.shape), tuple(w.shape), **params)


def _torch_conv2d(torch, x, w, b=None, **params):
    geo = _lowered_geometry(x, w, b, "torch", params)
    pt, pb, pl, pr = geo.pads
    symmetric = (pt, pl)
    if pt != pb or pl != pr:  # torch pads both sides alike; SAME may put one more pixel after
        x, symmetric = torch.nn.functional.pad(x, (pl, pr, pt, pb)), (0, 0)
    return torch.nn.functional.conv2d(x, w, b, stride=geo.strides, padding=symmetric,
                                      dilation=geo.dilation, groups=geo.groups)


_NCHW_TO_NHWC, _NHWC_TO_NCHW, _OIHW_TO_HWIO = (0, 2, 3, 1), (0, 3, 1, 2), (2, 3, 1, 0)


def _tf_dilated(tf, w, dilation):
    """An HWIO kernel with d - 1 zeros between its taps along H and W: a dilated kernel as a plain
    one. (TF's CPU kernels have no dilated backward, so dilation is spelled out; exact.)"""
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        k = w.shape[axis]
        spaced = tf.pad(tf.expand_dims(w, axis + 1),
                        [[0, d - 1] if a == axis + 1 else [0, 0] for a in range(5)])
        merged = tf.reshape(spaced, [*w.shape[:axis], k * d, *w.shape[axis + 1:]])
        w = merged[(slice(None),) * axis + (slice(0, (k - 1) * d + 1),)]
    return w


def _tensorflow_conv2d(tf, x, w, b=None, **params):
    geo = _lowered_geometry(x, w, b, "tensorflow", params)
    pt, pb, pl, pr = geo.pads
    nhwc = tf.transpose(x[None] if geo.unbatched else x, _NCHW_TO_NHWC)
    hwio = _tf_dilated(tf, tf.transpose(w, _OIHW_TO_HWIO), geo.dilation)
    # TF's CPU kernels have no grouped backward either: each group is its own convolution.
    outputs = [tf.nn.conv2d(xg, wg, strides=[1, *geo.strides, 1], data_format="NHWC",
                            padding=[[0, 0], [pt, pb], [pl, pr], [0, 0]])
               for xg, wg in zip(tf.split(nhwc, geo.groups, axis=3), tf.split(hwio, geo.groups, axis=3))]
    z = tf.concat(outputs, axis=3) if geo.groups > 1 else outputs[0]
    if b is not None:
        z = z + b  # NHWC: the channel is the last axis
    z = tf.transpose(z, _NHWC_TO_NCHW)
    return z[0] if geo.unbatched else z


def _jax_conv2d(jax, x, w, b=None, **params):
    geo = _lowered_geometry(x, w, b, "jax", params)
    pt, pb, pl, pr = geo.pads
    z = jax.lax.conv_general_dilated(x[None] if geo.unbatched else x, w, window_strides=geo.strides,
                                     padding=[(pt, pb), (pl, pr)], rhs_dilation=geo.dilation,
                                     feature_group_count=geo.groups,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    if b is not None:
        z = z + b[None, :, None, None]
    return z[0] if geo.unbatched else z


CONV2D = register(Op(
    "conv2d", ("x", "w", "b"), conv2d, conv2d_vjp,
    {"stride": 1, "padding": "valid", "dilation": 1, "groups": 1},
    "2-D cross-correlation, x NCHW or CHW, w OIHW, optional bias b; stride, padding "
    "valid/same/int, dilation, groups",
    validators={"stride": pair_value(normalize_stride), "padding": padding_value,
                "dilation": pair_value(positive_pair),
                "groups": normalize_groups},
    torch=_torch_conv2d, tensorflow=_tensorflow_conv2d, jax=_jax_conv2d, optional_inputs=("b",)))
