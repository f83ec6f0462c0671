"""conv1d and conv_transpose2d, as registry entries built on conv2d's forward and VJP.

conv1d is conv2d on a height-1 image: x (N, C, L) -> (N, C, 1, L), w (O, C, k) -> (O, C, 1, k).

conv_transpose2d is, by definition, the adjoint of conv2d in its input. Write A_w for the linear
map y -> conv2d(y, w) (stride s, padding p) from (N, C_out, Hy, Wy) to (N, C_in, H, W); then
conv_transpose2d(x, w) = A_w^T x, which is conv2d's input-VJP with cotangent x. Its size is
Hy = (H - 1) s - 2p + kh, the smallest Hy that A_w maps to H (torch's output_padding=0).
The weight w has torch's layout (C_in, C_out, kh, kw), which is conv2d's OIHW for A_w.
"""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.conv import (
    conv2d,
    conv2d_vjp,
    normalize_padding,
    normalize_stride,
    pads,
)
from gradcheck.ops.registry import Op, UnsupportedLowering, register

# ---------------------------------------------------------------------------
# parameters (validators raise ValueError, whatever was wrong: check_params reports it as the
# case file's error, naming the key)
# ---------------------------------------------------------------------------

def _stride_1d(value, key):
    if isinstance(value, (list, tuple)):
        raise ValueError(f"param {key!r}: expected a positive int, got {value!r}")  # noqa: TRY004
    return normalize_stride(value, key)[0]


def _padding_1d(value, key):
    if isinstance(value, (list, tuple)):
        raise ValueError(f"param {key!r}: expected 'valid', 'same' or an int, got {value!r}")  # noqa: TRY004
    padding = normalize_padding(value, key)
    return padding if isinstance(padding, str) else padding[0]


def _pair(normalize):
    """A validator keeping the user's form: an int stays an int, a pair becomes a tuple."""
    def validate(value, key):
        pair = normalize(value, key)
        return pair if isinstance(value, (list, tuple)) else pair[0]
    return validate


def _explicit_padding(value, key):
    if isinstance(value, str):
        raise ValueError(f"param {key!r}: expected an int or [ph, pw], got {value!r}")  # noqa: TRY004
    return normalize_padding(value, key)


# ---------------------------------------------------------------------------
# conv1d
# ---------------------------------------------------------------------------

def _conv1d_geometry(x, w, stride, padding):
    """conv2d's stride and padding for the height-1 image; ValueError naming conv1d on bad shapes."""
    if x.ndim < 3 or w.ndim < 3:
        raise ValueError(f"conv1d: x must be (..., N, C, L) and w (..., O, C, k), got shapes {x.shape} "
                         f"and {w.shape}")
    if x.shape[-2] != w.shape[-2]:
        raise ValueError(f"conv1d: channel mismatch, x has C={x.shape[-2]} but w has C={w.shape[-2]}")
    stride, padding = _stride_1d(stride, "stride"), _padding_1d(padding, "padding")
    added = 0 if padding in ("valid", "same") else 2 * padding
    if padding != "same" and x.shape[-1] + added < w.shape[-1]:
        raise ValueError(f"conv1d: kernel size {w.shape[-1]} larger than padded input size "
                         f"{x.shape[-1] + added}")
    return {"stride": (1, stride), "padding": padding if isinstance(padding, str) else (0, padding)}


def conv1d(x, w, stride=1, padding="valid"):
    x, w = as_float(x), as_float(w)
    geometry = _conv1d_geometry(x, w, stride, padding)
    return conv2d(x[..., None, :], w[..., None, :], **geometry)[..., 0, :]


def conv1d_vjp(x, w, cotangent, stride=1, padding="valid"):
    # conv1d = squeeze . conv2d . unsqueeze, and inserting or dropping a size-1 axis is a reshape
    # (its VJP reshapes back): conv2d's gradients with the height axis dropped.
    x, w = as_float(x), as_float(w)
    geometry = _conv1d_geometry(x, w, stride, padding)
    dz = np.asarray(cotangent)[..., None, :]
    dx, dw = conv2d_vjp(x[..., None, :], w[..., None, :], dz, **geometry)
    return finish_grad(dx[..., 0, :], x), finish_grad(dw[..., 0, :], w)


# TF's CPU conv1d runs NWC input with (k, C, O) filters: transpose in and out (exact permutations).
_NCL_TO_NLC, _OIL_TO_LIO = (0, 2, 1), (2, 1, 0)


def _rank_3(x, w, framework):
    if len(x.shape) != 3 or len(w.shape) != 3:
        raise UnsupportedLowering(f"conv1d in {framework} is lowered for 3-D x (NCL) and w (OIL) only")


def _length_pads(x, w, stride, padding):
    """(before, after) along L: the NumPy op's own rule, so "same" agrees exactly."""
    return pads(padding, int(x.shape[-1]), int(w.shape[-1]), stride)[:2]


def _torch_conv1d(torch, x, w, stride=1, padding="valid"):
    _rank_3(x, w, "torch")
    before, after = _length_pads(x, w, stride, padding)
    return torch.nn.functional.conv1d(torch.nn.functional.pad(x, (before, after)), w, stride=stride)


def _tensorflow_conv1d(tf, x, w, stride=1, padding="valid"):
    _rank_3(x, w, "tensorflow")
    before, after = _length_pads(x, w, stride, padding)
    nlc = tf.pad(tf.transpose(x, _NCL_TO_NLC), [[0, 0], [before, after], [0, 0]])
    out = tf.nn.conv1d(nlc, tf.transpose(w, _OIL_TO_LIO), stride=stride, padding="VALID")
    return tf.transpose(out, _NCL_TO_NLC)


def _jax_conv1d(jax, x, w, stride=1, padding="valid"):
    _rank_3(x, w, "jax")
    before, after = _length_pads(x, w, stride, padding)
    return jax.lax.conv_general_dilated(x, w, window_strides=(stride,), padding=[(before, after)],
                                        dimension_numbers=("NCH", "OIH", "NCH"))


CONV1D = register(Op(
    "conv1d", ("x", "w"), conv1d, conv1d_vjp, {"stride": 1, "padding": "valid"},
    "1-D cross-correlation, x NCL, w OIL; padding valid/same/int",
    validators={"stride": _stride_1d, "padding": _padding_1d},
    torch=_torch_conv1d, tensorflow=_tensorflow_conv1d, jax=_jax_conv1d))


# ---------------------------------------------------------------------------
# conv_transpose2d
# ---------------------------------------------------------------------------

def _transpose_geometry(x, w, stride, padding):
    """(strides, paddings, output shape); ValueError naming conv_transpose2d on bad shapes."""
    if x.ndim < 4 or w.ndim != 4:
        raise ValueError(f"conv_transpose2d: x must be (..., N, C_in, H, W) and w (C_in, C_out, kh, kw), "
                         f"got shapes {x.shape} and {w.shape}")
    if x.shape[-3] != w.shape[0]:
        raise ValueError(f"conv_transpose2d: channel mismatch, x has C_in={x.shape[-3]} but w has "
                         f"C_in={w.shape[0]}")
    strides, paddings = normalize_stride(stride), _explicit_padding(padding, "padding")
    size = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[-2:], strides, paddings, w.shape[-2:]))
    if min(size) < 1:
        raise ValueError(f"conv_transpose2d: padding {paddings} leaves an empty output {size}")
    return strides, paddings, x.shape[:-3] + (w.shape[1], *size)


def conv_transpose2d(x, w, stride=1, padding=0):
    x, w = as_float(x), as_float(w)
    strides, paddings, shape = _transpose_geometry(x, w, stride, padding)
    # A_w^T x: conv2d's input-VJP at any point of the right shape (it does not depend on the
    # point, A_w being linear). The weight gradient conv2d_vjp also returns is not needed.
    zeros = np.zeros(shape, dtype=np.result_type(x.dtype, w.dtype))
    return conv2d_vjp(zeros, w, x, stride=strides, padding=paddings)[0]


def conv_transpose2d_vjp(x, w, cotangent, stride=1, padding=0):
    # y = A_w^T x is bilinear in (x, w), and <dy, A_w^T x> = <A_w dy, x> = <conv2d(dy, w), x>:
    #   dx = conv2d(dy, w)                          (A_w applied to the cotangent), and
    #   dw = the weight-VJP of conv2d at input dy with cotangent x.
    x, w = as_float(x), as_float(w)
    strides, paddings, _ = _transpose_geometry(x, w, stride, padding)
    dy = np.asarray(cotangent, dtype=np.result_type(x.dtype, w.dtype))
    dx = conv2d(dy, w, stride=strides, padding=paddings)
    _, dw = conv2d_vjp(dy, w, x, stride=strides, padding=paddings)
    return finish_grad(dx, x), finish_grad(dw, w)


# TF and JAX compute the uncropped transposed convolution, of size (H - 1) s + kh, and crop the
# padding p from each side: that is what padding means for a transposed convolution (it removes
# output rows), and cropping is exact.
_NCHW_TO_NHWC, _NHWC_TO_NCHW, _IOHW_TO_HWOI = (0, 2, 3, 1), (0, 3, 1, 2), (2, 3, 1, 0)


def _lowered_transpose(x, w, stride, padding, framework):
    if len(x.shape) != 4:
        raise UnsupportedLowering(f"conv_transpose2d in {framework} is lowered for 4-D x (NCHW) only")
    strides, paddings = normalize_stride(stride), _explicit_padding(padding, "padding")
    full = tuple((n - 1) * s + k for n, s, k in zip(tuple(x.shape)[2:], strides, tuple(w.shape)[2:]))
    crop = tuple(slice(p, f - p) for p, f in zip(paddings, full))
    return strides, full, crop


def _tensorflow_conv_transpose2d(tf, x, w, stride=1, padding=0):
    strides, full, (rows, cols) = _lowered_transpose(x, w, stride, padding, "tensorflow")
    nhwc = tf.nn.conv2d_transpose(tf.transpose(x, _NCHW_TO_NHWC), tf.transpose(w, _IOHW_TO_HWOI),
                                  [x.shape[0], *full, w.shape[1]], [1, *strides, 1], "VALID")
    return tf.transpose(nhwc[:, rows, cols, :], _NHWC_TO_NCHW)


def _jax_conv_transpose2d(jax, x, w, stride=1, padding=0):
    strides, _, (rows, cols) = _lowered_transpose(x, w, stride, padding, "jax")
    # transpose_kernel=True reads w as the kernel of the forward conv2d (OIHW: O = C_in), flips it
    # and swaps its channel axes: the gradient of that conv2d, torch's definition. Padding k - 1 on
    # both sides of the dilated input gives the uncropped output.
    kh, kw = w.shape[2:]
    full = jax.lax.conv_transpose(x, w, strides, [(kh - 1, kh - 1), (kw - 1, kw - 1)],
                                  dimension_numbers=("NCHW", "OIHW", "NCHW"), transpose_kernel=True)
    return full[:, :, rows, cols]


def _torch_conv_transpose2d(torch, x, w, stride=1, padding=0):
    if len(x.shape) != 4:
        raise UnsupportedLowering("conv_transpose2d in torch is lowered for 4-D x (NCHW) only")
    return torch.nn.functional.conv_transpose2d(
        x, w, stride=normalize_stride(stride), padding=_explicit_padding(padding, "padding"))


CONV_TRANSPOSE2D = register(Op(
    "conv_transpose2d", ("x", "w"), conv_transpose2d, conv_transpose2d_vjp, {"stride": 1, "padding": 0},
    "transposed conv2d, x NCHW, w (C_in, C_out, kh, kw)",
    validators={"stride": _pair(normalize_stride), "padding": _pair(_explicit_padding)},
    torch=_torch_conv_transpose2d, tensorflow=_tensorflow_conv_transpose2d, jax=_jax_conv_transpose2d))
