"""Registry of differentiable ops.

Every op is a pure numpy function ``forward(*inputs, **params)`` plus its
vector-Jacobian product ``vjp(*inputs, cotangent, **params)`` which returns
one gradient per input, with that input's shape and dtype.  The gradient
checker compares the VJP against finite differences of the forward.

Broadcasting convention: if an input was broadcast against something in the
forward (matmul batch axes, conv2d leading batch axes, a cotangent with extra
leading axes), its gradient is summed over the broadcast axes, as the chain
rule requires.  Pass inputs already broadcast to the full batch shape to get
per-batch-element gradients.
"""

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from . import conv, elementwise, linalg, reductions

__all__ = ["Op", "OPS", "get_op"]


@dataclass(frozen=True)
class Op:
    name: str                      # "sigmoid"
    inputs: tuple[str, ...]        # canonical input names in order
    forward: Callable              # forward(*inputs, **params) -> np.ndarray
    vjp: Callable                  # vjp(*inputs, cotangent, **params) -> tuple of grads
    params: Mapping[str, Any] = field(hash=False)  # name -> default value
    summary: str                   # one line for `gradcheck ops`
    domain: str = "real"           # "real" or "positive"

    def __post_init__(self):
        # Freeze the defaults so a shared registry entry cannot be mutated.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "inputs", tuple(self.inputs))

    def check_params(self, params: Mapping[str, Any]) -> dict:
        """Merge ``params`` with the defaults and validate them.

        Returns a new dict holding every accepted parameter (normalised:
        lists become tuples, padding strings are lower-cased).  Raises
        ValueError naming the offending key for an unknown key or bad value.
        """
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ValueError(
                f"{self.name}: params must be a mapping, got {type(params).__name__}")
        unknown = [k for k in params if k not in self.params]
        if unknown:
            accepted = ", ".join(repr(k) for k in self.params) or "none"
            raise ValueError(
                f"{self.name}: unknown param {unknown[0]!r} (accepted: {accepted})")
        merged = dict(self.params)
        merged.update(params)
        validators = _VALIDATORS.get(self.name, {})
        for key, check in validators.items():
            if key in merged:
                try:
                    merged[key] = check(merged[key], key)
                except ValueError as exc:
                    raise ValueError(f"{self.name}: {exc}") from None
        return merged


# ---------------------------------------------------------------------------
# parameter validators: (value, key) -> normalised value, ValueError naming key
# ---------------------------------------------------------------------------

def _padding_value(value, key):
    # "valid" / "same" (lower-cased), or an explicit int / (ph, pw) pair
    p = conv.normalize_padding(value, key)
    if isinstance(p, tuple) and not hasattr(value, "__len__"):
        return p[0]
    return p


def _stride_value(value, key):
    # keep the user's form: an int stays an int, a pair becomes a tuple
    sh, sw = conv.normalize_stride(value, key)
    return (sh, sw) if hasattr(value, "__len__") else sh


def _reduce_axis_value(value, key):
    return reductions.normalize_axis_param(value, key)


def _softmax_axis_value(value, key):
    return reductions.normalize_softmax_axis(value, key)


_VALIDATORS: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "softmax": {"axis": _softmax_axis_value},
    "sum": {"axis": _reduce_axis_value},
    "mean": {"axis": _reduce_axis_value},
    "conv2d": {"stride": _stride_value, "padding": _padding_value},
}


# ---------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------

_ALL = [
    Op("sigmoid", ("x",), elementwise.sigmoid, elementwise.sigmoid_vjp, {},
       "logistic function 1/(1+e^-x), elementwise"),
    Op("softmax", ("x",), reductions.softmax, reductions.softmax_vjp,
       {"axis": -1},
       "softmax e^x / sum(e^x) along axis (max-shifted, stable)"),
    Op("matmul", ("x", "y"), linalg.matmul, linalg.matmul_vjp, {},
       "matrix product x @ y, np.matmul semantics (batched, 1-D vectors)"),
    Op("conv2d", ("x", "w"), conv.conv2d, conv.conv2d_vjp,
       {"stride": 1, "padding": "valid"},
       "2-D cross-correlation, x NCHW, w OIHW; stride, padding valid/same/int"),
    Op("relu", ("x",), elementwise.relu, elementwise.relu_vjp, {},
       "rectified linear unit max(x, 0), elementwise (grad 0 at x <= 0)"),
    Op("tanh", ("x",), elementwise.tanh, elementwise.tanh_vjp, {},
       "hyperbolic tangent, elementwise"),
    Op("exp", ("x",), elementwise.exp, elementwise.exp_vjp, {},
       "exponential e^x, elementwise"),
    Op("log", ("x",), elementwise.log, elementwise.log_vjp, {},
       "natural logarithm ln(x), elementwise, needs x > 0",
       domain="positive"),
    Op("sum", ("x",), reductions.sum_, reductions.sum_vjp, {"axis": None},
       "sum over axis (None: all elements; int or list of ints)"),
    Op("mean", ("x",), reductions.mean, reductions.mean_vjp, {"axis": None},
       "arithmetic mean over axis (None: all elements; int or list of ints)"),
]

OPS: dict[str, Op] = {op.name: op for op in _ALL}


def get_op(name: str) -> Op:
    """Look up an op by name; KeyError (listing the known ops) if unknown."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(
            f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}") from None
