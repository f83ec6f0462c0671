"""Built-in ops and expressions in each framework's own ops.

A framework method checks the framework's gradient, so the forward it
differentiates must be written in that framework: torch.sigmoid, not our
NumPy sigmoid. Each table maps an op name to `lower(module, *inputs, **params)`
where `module` is the imported framework (torch, tensorflow or jax) and the
params are the case's, already validated by gradcheck.ops.

Nothing here imports a framework: the tables hold plain functions that are
handed the module when they run, so `gradcheck ops` can read them for free.

conv2d. Case files hold x as NCHW and w as OIHW (gradcheck.ops.conv). PyTorch
and JAX take those layouts directly. TensorFlow's CPU conv2d only runs NHWC
with HWIO filters, so we transpose in, convolve, and transpose the output
back to NCHW; the transposes are part of the differentiated graph, and their
gradients are exact permutations. Padding "same" means TF's SAME everywhere:
the total padding (out - 1) * stride + k - size is split with the odd pixel
after (bottom/right). TF and JAX implement SAME natively; PyTorch's
padding="same" rejects strides, so we pad explicitly with those amounts.
"""

from __future__ import annotations

from typing import Any, Callable

from gradcheck import expr as expr_language
from gradcheck.backends import BackendSkip
from gradcheck.cases import Case
from gradcheck.ops.conv import _pads as conv_pads  # (before, after, out) of one spatial axis
from gradcheck.ops.conv import normalize_padding, normalize_stride
from gradcheck.problem import resolve_import


class UnsupportedLowering(BackendSkip):
    """The op's parameters or shapes are outside what this framework's lowering covers."""


def _conv_geometry(x_shape, w_shape, stride, padding, framework: str):
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise UnsupportedLowering(
            f"conv2d in {framework} is lowered for 4-D x (NCHW) and w (OIHW) only, got x of rank "
            f"{len(x_shape)} and w of rank {len(w_shape)}"
        )
    return normalize_stride(stride), normalize_padding(padding)


def _explicit_pads(x_shape, w_shape, strides, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)): the NumPy op's own padding rule, so "same" agrees exactly."""
    per_axis = padding if isinstance(padding, tuple) else (padding, padding)
    return tuple(
        conv_pads(mode, size, k, s)[:2]
        for mode, size, k, s in zip(per_axis, x_shape[2:], w_shape[2:], strides)
    )


# ---------------------------------------------------------------- PyTorch


def _torch_conv2d(torch, x, w, stride=1, padding="valid"):
    strides, padding = _conv_geometry(tuple(x.shape), tuple(w.shape), stride, padding, "torch")
    functional = torch.nn.functional
    if padding == "valid":
        return functional.conv2d(x, w, stride=strides)
    if isinstance(padding, tuple):
        return functional.conv2d(x, w, stride=strides, padding=padding)
    (top, bottom), (left, right) = _explicit_pads(tuple(x.shape), tuple(w.shape), strides, padding)
    return functional.conv2d(functional.pad(x, (left, right, top, bottom)), w, stride=strides)


TORCH: dict[str, Callable[..., Any]] = {
    "sigmoid": lambda torch, x: torch.sigmoid(x),
    "softmax": lambda torch, x, axis=-1: torch.softmax(x, dim=axis),
    "matmul": lambda torch, x, y: torch.matmul(x, y),
    "conv2d": _torch_conv2d,
    "relu": lambda torch, x: torch.relu(x),
    "tanh": lambda torch, x: torch.tanh(x),
    "exp": lambda torch, x: torch.exp(x),
    "log": lambda torch, x: torch.log(x),
    "sum": lambda torch, x, axis=None: torch.sum(x) if axis is None else torch.sum(x, dim=axis),
    "mean": lambda torch, x, axis=None: torch.mean(x) if axis is None else torch.mean(x, dim=axis),
}


# ---------------------------------------------------------------- TensorFlow

_NCHW_TO_NHWC, _NHWC_TO_NCHW, _OIHW_TO_HWIO = (0, 2, 3, 1), (0, 3, 1, 2), (2, 3, 1, 0)


def _tensorflow_conv2d(tf, x, w, stride=1, padding="valid"):
    x_shape, w_shape = tuple(x.shape), tuple(w.shape)
    strides, padding = _conv_geometry(x_shape, w_shape, stride, padding, "tensorflow")
    if isinstance(padding, tuple):
        (top, bottom), (left, right) = _explicit_pads(x_shape, w_shape, strides, padding)
        tf_padding = [[0, 0], [top, bottom], [left, right], [0, 0]]
    else:
        tf_padding = padding.upper()  # "VALID" | "SAME": TF's own semantics, which ours follow
    nhwc = tf.nn.conv2d(
        tf.transpose(x, _NCHW_TO_NHWC), tf.transpose(w, _OIHW_TO_HWIO),
        strides=[1, *strides, 1], padding=tf_padding, data_format="NHWC",
    )
    return tf.transpose(nhwc, _NHWC_TO_NCHW)


def _tensorflow_matmul(tf, x, y):
    # NumPy semantics for 1-D operands, shared with the expression language.
    return expr_language.tensorflow_library().functions["matmul"](x, y)


def _tf_axis(axis):
    return list(axis) if isinstance(axis, tuple) else axis


TENSORFLOW: dict[str, Callable[..., Any]] = {
    "sigmoid": lambda tf, x: tf.math.sigmoid(x),
    "softmax": lambda tf, x, axis=-1: tf.nn.softmax(x, axis=axis),
    "matmul": _tensorflow_matmul,
    "conv2d": _tensorflow_conv2d,
    "relu": lambda tf, x: tf.nn.relu(x),
    "tanh": lambda tf, x: tf.math.tanh(x),
    "exp": lambda tf, x: tf.math.exp(x),
    "log": lambda tf, x: tf.math.log(x),
    "sum": lambda tf, x, axis=None: tf.reduce_sum(x, axis=_tf_axis(axis)),
    "mean": lambda tf, x, axis=None: tf.reduce_mean(x, axis=_tf_axis(axis)),
}


# ---------------------------------------------------------------- JAX


def _jax_conv2d(jax, x, w, stride=1, padding="valid"):
    strides, padding = _conv_geometry(tuple(x.shape), tuple(w.shape), stride, padding, "jax")
    if isinstance(padding, tuple):
        jax_padding = [tuple(pair) for pair in _explicit_pads(tuple(x.shape), tuple(w.shape), strides, padding)]
    else:
        jax_padding = padding.upper()
    return jax.lax.conv_general_dilated(
        x, w, window_strides=strides, padding=jax_padding, dimension_numbers=("NCHW", "OIHW", "NCHW"),
    )


JAX: dict[str, Callable[..., Any]] = {
    "sigmoid": lambda jax, x: jax.nn.sigmoid(x),
    "softmax": lambda jax, x, axis=-1: jax.nn.softmax(x, axis=axis),
    "matmul": lambda jax, x, y: jax.numpy.matmul(x, y),
    "conv2d": _jax_conv2d,
    "relu": lambda jax, x: jax.nn.relu(x),
    "tanh": lambda jax, x: jax.numpy.tanh(x),
    "exp": lambda jax, x: jax.numpy.exp(x),
    "log": lambda jax, x: jax.numpy.log(x),
    "sum": lambda jax, x, axis=None: jax.numpy.sum(x, axis=axis),
    "mean": lambda jax, x, axis=None: jax.numpy.mean(x, axis=axis),
}


# ---------------------------------------------------------------- one case

OPS: dict[str, dict[str, Callable[..., Any]]] = {"torch": TORCH, "tensorflow": TENSORFLOW, "jax": JAX}

LIBRARIES: dict[str, Callable[[], expr_language.Library]] = {
    "torch": expr_language.torch_library,
    "tensorflow": expr_language.tensorflow_library,
    "jax": expr_language.jax_library,
}


def native_forward(case: Case, framework: str, module: Any) -> Callable[..., Any]:
    """The case's forward in `framework`: f(*tensors) -> tensor, params bound.

    A built-in op lowers through the table above, an expression is evaluated
    with the framework's expression library, and a function case uses the
    user's own framework function (its custom backward is what gets checked).
    """
    params = dict(case.params)
    if case.op is not None:
        lowered = OPS[framework][case.op]
        return lambda *inputs: lowered(module, *inputs, **params)
    if case.expr is not None:
        library, names, parsed = LIBRARIES[framework](), case.input_names, case.expr
        return lambda *inputs: parsed.evaluate(dict(zip(names, inputs)), library)
    function = resolve_import(case.framework_functions[framework])
    return lambda *inputs: function(*inputs, **params)
