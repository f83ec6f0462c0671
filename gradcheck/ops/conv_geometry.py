"""conv2d's parameters and geometry: stride, padding, dilation and groups, checked and resolved
into the pads and output size of each spatial axis.

Shared by the NumPy op and its framework lowerings (gradcheck/ops/conv.py), so every framework
pads exactly as the NumPy op does.

With dilation d a kernel of size k spans (k - 1) * d + 1 input pixels: its taps sit d apart.
With g groups the C input channels and O output channels split into g equal blocks, and output
block b sees only input block b: w has shape (O, C / g, kh, kw).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import numpy as np

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


def positive_pair(value, key):
    """Return (h, w), both positive ints; ValueError naming the key otherwise."""
    try:
        h, w = _int_pair(value)
    except TypeError:
        raise ValueError(
            f"param {key!r}: expected a positive int or [h, w], got {value!r}"
        ) from None
    if h <= 0 or w <= 0:
        raise ValueError(f"param {key!r}: must be positive, got {value!r}")
    return h, w


def normalize_stride(stride, key="stride"):
    """Return (sh, sw), both positive ints; ValueError naming the key otherwise."""
    return positive_pair(stride, key)


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


def normalize_groups(groups, key="groups"):
    try:
        value = _int(groups)
    except TypeError:
        value = 0
    if value <= 0:
        raise ValueError(f"param {key!r}: expected a positive int, got {groups!r}")
    return value


def pair_value(normalize):
    """A validator keeping the user's form: an int stays an int, a pair becomes a tuple."""
    def validate(value, key):
        pair = normalize(value, key)
        return pair if hasattr(value, "__len__") else pair[0]
    return validate


def padding_value(value, key):
    # "valid" / "same" (lower-cased), or an explicit int / (ph, pw) pair
    p = normalize_padding(value, key)
    if isinstance(p, tuple) and not hasattr(value, "__len__"):
        return p[0]
    return p


# ---------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------

def pads(padding, size, k, s):
    """(pad_before, pad_after, out_size) for one spatial dimension; k is the (dilated) kernel span."""
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


def explicit_pads(x_shape, w_shape, strides, padding):
    """((top, bottom), (left, right)) of an undilated kernel: the NumPy op's own padding rule, for
    a conv-like op's lowerings (conv2d's own read Geometry.pads)."""
    per_axis = padding if isinstance(padding, tuple) else (padding, padding)
    return tuple(pads(mode, size, k, s)[:2]
                 for mode, size, k, s in zip(per_axis, x_shape[2:], w_shape[2:], strides))


@dataclass(frozen=True)
class Geometry:
    """Everything conv2d needs to know about its shapes, resolved once."""

    unbatched: bool                     # x is (C, H, W): torch's unbatched form
    groups: int
    kernel: tuple[int, int]             # (kh, kw)
    strides: tuple[int, int]            # (sh, sw)
    dilation: tuple[int, int]           # (dh, dw)
    pads: tuple[int, int, int, int]     # (top, bottom, left, right)
    out: tuple[int, int]                # (Ho, Wo)


def geometry(x_shape, w_shape, stride=1, padding="valid", dilation=1, groups=1) -> Geometry:
    """Check x (..., [N,] C, H, W) against w (..., O, C / groups, kh, kw) and resolve the pads.

    x of rank 3 is one unbatched image; extra leading axes beyond N (rank > 4) are batch axes.
    Resolved once per shapes and parameters: the differences call the forward at many points.
    """
    try:
        return _known_geometry(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups)
    except TypeError:  # an unhashable parameter (a list read from YAML): resolved each call
        return _resolve(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups)


@functools.lru_cache(maxsize=64, typed=True)
def _known_geometry(x_shape, w_shape, stride, padding, dilation, groups) -> Geometry:
    return _resolve(x_shape, w_shape, stride, padding, dilation, groups)


def _resolve(x_shape, w_shape, stride, padding, dilation, groups) -> Geometry:
    if len(x_shape) < 3:
        raise ValueError(f"conv2d: x must be (C, H, W) or (..., N, C, H, W), got shape {x_shape}")
    if len(w_shape) < 4:
        raise ValueError(f"conv2d: w must be (..., O, C/groups, kh, kw), got shape {w_shape}")
    groups = normalize_groups(groups)
    channels, out_channels = x_shape[-3], w_shape[-4]
    if channels != w_shape[-3] * groups:
        raise ValueError(
            f"conv2d: channel mismatch, x has C={channels} but w has C/groups={w_shape[-3]} "
            f"with groups={groups}")
    if out_channels % groups:
        raise ValueError(f"conv2d: w's O={out_channels} is not divisible by groups={groups}")
    strides, dilation = normalize_stride(stride), positive_pair(dilation, "dilation")
    padding = normalize_padding(padding)
    per_axis = padding if isinstance(padding, tuple) else (padding, padding)
    kernel = tuple(w_shape[-2:])
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    (pt, pb, ho), (pl, pr, wo) = (pads(mode, size, span, s) for mode, size, span, s
                                  in zip(per_axis, x_shape[-2:], spans, strides))
    return Geometry(unbatched=len(x_shape) == 3, groups=groups, kernel=kernel, strides=strides,
                    dilation=dilation, pads=(pt, pb, pl, pr), out=(ho, wo))
