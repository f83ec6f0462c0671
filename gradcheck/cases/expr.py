"""A tiny, safe expression language for case files, evaluated and differentiated through the op registry.

`parse` validates the source (expr_parser.py: a whitelist over Python's AST,
nothing is ever eval'd). A function call is a registry op: NumPy evaluates it
with the op's forward, each framework with the op's own lowering (so framework
autodiff sees only framework operations), and `vjp` pulls a cotangent back
through the op's hand-written VJP. The operators `@`, `**` and `/` are the ops
matmul, power and divide; `+`, `-`, `*` and unary minus are the frameworks'
own arithmetic, with the chain rule's sums over broadcast axes.

Constant subexpressions (plain Python floats) are computed with NumPy and stay
Python floats, so they combine with tensors of any dtype (a float32 tensor
times exp(2) stays float32).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from gradcheck.cases.expr_parser import FUNCTIONS, ExprError, parse_tree
from gradcheck.ops import OPS
from gradcheck.ops.arrays import unbroadcast

__all__ = ["FUNCTIONS", "Expr", "ExprError", "Library", "library", "parse", "vjp"]

OPERATOR_OPS = {"@": "matmul", "**": "power", "/": "divide"}


@dataclass(frozen=True)
class Library:
    """How one framework evaluates the language: its module (None for NumPy), and how values are
    recognised as its tensors and lifted into them."""

    name: str
    module: Any
    lift: Callable[[Any], Any]
    is_tensor: Callable[[Any], bool]

    def apply(self, name: str, args: list, params: Mapping[str, Any]) -> Any:
        """The registry op `name` on `args`: NumPy's forward, or this framework's lowering."""
        op = OPS[name]
        if all(isinstance(a, float) for a in args):  # a constant subexpression: fold it with NumPy
            return float(op.forward(*args, **params))
        if self.module is None:
            return op.forward(*args, **params)
        # A float next to a tensor stays a Python scalar where the op allows it (x ** 2.0);
        # elsewhere (matmul) it is lifted into a tensor.
        lifted = [a if self.is_tensor(a) or (isinstance(a, float) and len(args) > 1 and name != "matmul")
                  else self.lift(a) for a in args]
        return op.lowering(self.name)(self.module, *lifted, **params)


def library(framework: str) -> Library:
    """The library of `framework` ("numpy", "torch", "tensorflow", "jax"), importing it."""
    if framework == "numpy":
        return Library("numpy", None, np.asarray, lambda x: isinstance(x, np.ndarray))
    module = importlib.import_module(framework)
    if framework == "torch":
        return Library(framework, module, module.as_tensor, module.is_tensor)
    if framework == "tensorflow":
        return Library(framework, module, module.convert_to_tensor, module.is_tensor)
    return Library(framework, module, module.numpy.asarray, lambda x: isinstance(x, module.Array))


@dataclass(frozen=True)
class Expr:
    source: str
    names: tuple[str, ...]                 # input names used, in order of first appearance
    _tree: tuple = field(repr=False)       # immutable nested tuples, see expr_parser

    def evaluate(self, env: Mapping[str, Any], lib: Library) -> Any:
        """Evaluate with ``lib``; literals are Python floats, inputs are taken from ``env`` as is."""
        return _eval(self._tree, env, lib)


def parse(source: str, allowed_names=None) -> Expr:
    """Parse and validate; raises ExprError naming the offending token."""
    names, tree = parse_tree(source, allowed_names)
    return Expr(source, names, tree)


def _eval(node: tuple, env: Mapping[str, Any], lib: Library) -> Any:
    tag = node[0]
    if tag == "num":
        return node[1]
    if tag == "name":
        try:
            return env[node[1]]
        except KeyError:
            raise ExprError(f"no value given for input '{node[1]}'", node[1]) from None
    if tag == "neg":
        return -_eval(node[1], env, lib)
    if tag == "call":
        return lib.apply(node[1], [_eval(arg, env, lib) for arg in node[2]], dict(node[3]))
    op, a, b = node[1], _eval(node[2], env, lib), _eval(node[3], env, lib)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/" and type(a) is float and type(b) is float and b == 0.0:  # IEEE, not ZeroDivisionError
        return math.nan if a == 0.0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)
    return lib.apply(OPERATOR_OPS[op], [a, b], {})


# ----------------------------------------------------------------------------- NumPy VJP
def _has_inputs(node: tuple) -> bool:
    tag = node[0]
    if tag == "num":
        return False
    if tag == "name":
        return True
    if tag == "call":
        return any(_has_inputs(arg) for arg in node[2])
    return any(_has_inputs(child) for child in node[1:] if isinstance(child, tuple))


def _pull_op(name: str, params: Mapping[str, Any], values: list, pulls: list, nodes: list):
    """The registry op's value and a pullback through its hand-written VJP."""
    op = OPS[name]
    with np.errstate(all="ignore"):
        y = op.forward(*values, **params)

    def pull(g, grads):
        with np.errstate(all="ignore"):
            parts = op.vjp(*values, g, **params)
        for part, pull_arg, node in zip(parts, pulls, nodes):
            if _has_inputs(node):
                pull_arg(part, grads)
    return y, pull


def _vjp_node(node: tuple, env: Mapping[str, np.ndarray]):
    """Forward value of ``node`` and a pullback ``pull(g, grads)`` accumulating J^T g into grads."""
    tag = node[0]
    if tag == "num":
        return np.float64(node[1]), lambda g, grads: None
    if tag == "name":
        name = node[1]
        if name not in env:
            raise ExprError(f"no value given for input '{name}'", name)

        def pull_name(g, grads):
            grads[name] = grads[name] + g if name in grads else g
        return np.asarray(env[name]), pull_name
    if tag == "neg":
        x, px = _vjp_node(node[1], env)
        return -x, lambda g, grads: px(-g, grads)
    if tag == "call":
        pairs = [_vjp_node(arg, env) for arg in node[2]]
        return _pull_op(node[1], dict(node[3]), [v for v, _ in pairs], [p for _, p in pairs], list(node[2]))
    op, (a, pa), (b, pb) = node[1], _vjp_node(node[2], env), _vjp_node(node[3], env)
    if op in OPERATOR_OPS:
        return _pull_op(OPERATOR_OPS[op], {}, [a, b], [pa, pb], [node[2], node[3]])
    sa, sb = np.shape(a), np.shape(b)
    rules = {  # op: (value, dL/da, dL/db) as functions of g
        "+": (lambda: a + b, lambda g: g, lambda g: g),
        "-": (lambda: a - b, lambda g: g, lambda g: -g),
        "*": (lambda: a * b, lambda g: g * b, lambda g: g * a),
    }
    value, da, db = rules[op]

    def pull_bin(g, grads):
        pa(unbroadcast(da(g), sa), grads)
        pb(unbroadcast(db(g), sb), grads)
    return value(), pull_bin


def vjp(expr: Expr, env: Mapping[str, np.ndarray], cotangent: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Reverse-mode derivative of the expression in NumPy: returns (output value, {input name:
    gradient}) where gradient = J^T cotangent, shaped like that input."""
    out, pull = _vjp_node(expr._tree, env)
    out = np.asarray(out)
    grads: dict[str, np.ndarray] = {}
    pull(np.broadcast_to(np.asarray(cotangent), out.shape), grads)
    result = {}
    for name in expr.names:
        x = np.asarray(env[name])
        dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.float64
        g = grads.get(name, np.zeros(x.shape))
        result[name] = np.array(np.broadcast_to(g, x.shape), dtype=dtype)
    return out, result
