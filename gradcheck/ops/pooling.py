"""2-D pooling over NCHW input: maxpool2d and avgpool2d (kernel, stride; no padding), as registry entries.

    z[n, c, p, q] = reduce_{i < kh, j < kw} x[n, c, p*sh + i, q*sw + j]

with reduce = max or mean, Ho = (H - kh) // sh + 1 (and likewise Wo): windows that would run past
the edge are dropped, as torch and TF "VALID" do. stride defaults to the kernel (windows that
tile x without overlap). Extra leading batch axes are allowed: x of shape (..., N, C, H, W).
"""

import numpy as np

from gradcheck.ops.arrays import as_float, finish_grad
from gradcheck.ops.conv import normalize_stride
from gradcheck.ops.registry import Op, UnsupportedLowering, register


def _kernel_value(value, key):
    """A positive int or [h, w], kept in the user's form (an int stays an int)."""
    pair = normalize_stride(value, key)
    return pair if hasattr(value, "__len__") else pair[0]


def _stride_value(value, key):
    """As the kernel, or None: windows that tile x, stride = kernel."""
    return None if value is None else _kernel_value(value, key)


def _geometry(name, x, kernel, stride):
    """((kh, kw), (sh, sw), (ho, wo)) for x; ValueError naming the op when a window does not fit."""
    if x.ndim < 4:
        raise ValueError(f"{name}: x must be (..., N, C, H, W), got shape {x.shape}")
    kh, kw = normalize_stride(kernel, "kernel")
    sh, sw = normalize_stride(kernel if stride is None else stride, "stride")
    height, width = x.shape[-2:]
    if kh > height or kw > width:
        raise ValueError(f"{name}: kernel {kh}x{kw} larger than the input's {height}x{width}")
    return (kh, kw), (sh, sw), ((height - kh) // sh + 1, (width - kw) // sw + 1)


def windows(x, kernel, strides, out):
    """A view of shape (..., N, C, Ho, Wo, kh, kw): windows[..., p, q, i, j] = x[..., p*sh + i, q*sw + j]."""
    (sh, sw), (ho, wo) = strides, out
    view = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(-2, -1))
    return view[..., ::sh, ::sw, :, :][..., :ho, :wo, :, :]


def scatter_windows(per_offset, size, kernel, strides, out):
    """The adjoint of `windows`: add g[..., p, q, i, j] back onto x[..., p*sh + i, q*sw + j], x of
    spatial `size` (H, W); g's leading axes are kept (finish_grad sums any x lacks).

    Overlapping windows (stride < kernel) share pixels, so each pixel collects the sum over every
    window that read it. One strided slice per kernel offset (i, j): within one offset, distinct
    windows land on distinct pixels, so plain += never drops a term.
    """
    (kh, kw), (sh, sw), (ho, wo) = kernel, strides, out
    grad = np.zeros(per_offset.shape[:-4] + tuple(size), dtype=per_offset.dtype)
    for i in range(kh):
        for j in range(kw):
            grad[..., i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw] += per_offset[..., i, j]
    return grad


# ---------------------------------------------------------------------------
# maxpool2d
# ---------------------------------------------------------------------------

def maxpool2d(x, kernel=2, stride=None):
    x = as_float(x)
    kernel, strides, out = _geometry("maxpool2d", x, kernel, stride)
    return np.ascontiguousarray(windows(x, kernel, strides, out).max(axis=(-2, -1)))


def maxpool2d_vjp(x, cotangent, kernel=2, stride=None):
    # Within one window, z = x_m with m the window's maximum, so dz/dx_m = 1 and every other
    # element of that window gets 0. Where several elements tie for the maximum, max is not
    # differentiable; any split of dz among them that sums to dz is a valid subgradient. Like
    # torch, route all of it to the first maximum in row-major order (argmax's first hit).
    x = as_float(x)
    kernel, strides, out = _geometry("maxpool2d", x, kernel, stride)
    view = windows(x, kernel, strides, out)
    first = np.argmax(view.reshape(view.shape[:-2] + (-1,)), axis=-1)    # (..., Ho, Wo)
    dz = np.asarray(cotangent, dtype=x.dtype)
    shape = np.broadcast_shapes(dz.shape, first.shape)   # a cotangent may carry extra leading axes
    picked = np.zeros(shape + (kernel[0] * kernel[1],), dtype=x.dtype)
    np.put_along_axis(picked, np.broadcast_to(first, shape)[..., None],
                      np.broadcast_to(dz, shape)[..., None], axis=-1)
    per_offset = picked.reshape(shape + kernel)
    return (finish_grad(scatter_windows(per_offset, x.shape[-2:], kernel, strides, out), x),)


# ---------------------------------------------------------------------------
# avgpool2d
# ---------------------------------------------------------------------------

def avgpool2d(x, kernel=2, stride=None):
    x = as_float(x)
    kernel, strides, out = _geometry("avgpool2d", x, kernel, stride)
    return np.ascontiguousarray(windows(x, kernel, strides, out).mean(axis=(-2, -1)))


def avgpool2d_vjp(x, cotangent, kernel=2, stride=None):
    # z is the mean of kh*kw window elements: each one's partial derivative is 1/(kh*kw).
    x = as_float(x)
    kernel, strides, out = _geometry("avgpool2d", x, kernel, stride)
    dz = np.asarray(cotangent, dtype=x.dtype) / (kernel[0] * kernel[1])
    per_offset = np.broadcast_to(dz[..., None, None], dz.shape + kernel)
    return (finish_grad(scatter_windows(per_offset, x.shape[-2:], kernel, strides, out), x),)


# ---------------------------------------------------------------------------
# framework lowerings
# ---------------------------------------------------------------------------
# torch and JAX pool NCHW directly. TensorFlow's CPU pooling only runs NHWC, so it transposes in and
# out (exact permutations, part of the differentiated graph).

_NCHW_TO_NHWC, _NHWC_TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def _lowered(x, kernel, stride, framework):
    if len(x.shape) != 4:
        raise UnsupportedLowering(f"pooling in {framework} is lowered for 4-D x (NCHW) only, "
                                  f"got rank {len(x.shape)}")
    kernel = normalize_stride(kernel, "kernel")
    return kernel, normalize_stride(kernel if stride is None else stride, "stride")


def _torch_pool(pool):
    """pool(torch.nn.functional) -> that functional's pooling op."""
    def lower(torch, x, kernel=2, stride=None):
        kernel, strides = _lowered(x, kernel, stride, "torch")
        return pool(torch.nn.functional)(x, kernel, strides)
    return lower


def _tensorflow_pool(pool):
    """pool(tf.nn) -> that module's NHWC pooling op."""
    def lower(tf, x, kernel=2, stride=None):
        kernel, strides = _lowered(x, kernel, stride, "tensorflow")
        pooled = pool(tf.nn)(tf.transpose(x, _NCHW_TO_NHWC), kernel, strides, "VALID")
        return tf.transpose(pooled, _NHWC_TO_NCHW)
    return lower


def _jax_reduce_window(jax, x, kernel, stride, init, combine):
    kernel, strides = _lowered(x, kernel, stride, "jax")
    # A NumPy scalar init: lax recognises (max, -inf) and (add, 0) as monoids only for a concrete
    # init, and only those reductions have derivative rules.
    return jax.lax.reduce_window(x, np.array(init, x.dtype), combine, (1, 1, *kernel),
                                 (1, 1, *strides), "VALID")


def _jax_maxpool2d(jax, x, kernel=2, stride=None):
    return _jax_reduce_window(jax, x, kernel, stride, -np.inf, jax.lax.max)


def _jax_avgpool2d(jax, x, kernel=2, stride=None):
    kh, kw = normalize_stride(kernel, "kernel")
    return _jax_reduce_window(jax, x, kernel, stride, 0.0, jax.lax.add) / (kh * kw)


_PARAMS = {"kernel": 2, "stride": None}
_VALIDATORS = {"kernel": _kernel_value, "stride": _stride_value}

MAXPOOL2D = register(Op(
    "maxpool2d", ("x",), maxpool2d, maxpool2d_vjp, _PARAMS,
    "2-D max pooling, x NCHW, no padding; ties to the first max",
    validators=_VALIDATORS,
    torch=_torch_pool(lambda functional: functional.max_pool2d),
    tensorflow=_tensorflow_pool(lambda nn: nn.max_pool2d), jax=_jax_maxpool2d))

AVGPOOL2D = register(Op(
    "avgpool2d", ("x",), avgpool2d, avgpool2d_vjp, _PARAMS,
    "2-D average pooling, x NCHW, no padding",
    validators=_VALIDATORS,
    torch=_torch_pool(lambda functional: functional.avg_pool2d),
    tensorflow=_tensorflow_pool(lambda nn: nn.avg_pool2d), jax=_jax_avgpool2d))
