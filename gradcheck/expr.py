"""A tiny, safe expression language for case files, with NumPy reverse-mode derivatives.

Grammar (a strict subset of Python expression syntax, parsed with :mod:`ast` and then
validated node by node; nothing is ever passed to eval/exec/compile)::

    expr  := expr ('+' | '-' | '*' | '/' | '**' | '@') expr   (Python precedence)
           | ('-' | '+') expr | '(' expr ')'
           | NUMBER                      -- always converted to float at parse time
           | NAME                        -- an input name
           | FUNC '(' expr ')'           -- exactly one positional argument
    FUNC  := exp log sin cos tan tanh sqrt abs sigmoid relu sum mean

Everything else (attributes, subscripts, lambdas, comprehensions, strings, comparisons,
boolean ops, keyword or starred arguments, calls of other names, f-strings, walrus,
conditional expressions, ...) raises :class:`ExprError` naming the offending token.
Sources longer than 10,000 characters or with parentheses nested deeper than 100 are
rejected before :func:`ast.parse` is called.

The parsed tree is made of plain tuples::

    ("num", float) | ("name", str) | ("neg", node) | ("bin", op, left, right) | ("call", func, arg)

:meth:`Expr.evaluate` runs the tree with a :class:`Library` (NumPy, PyTorch, TensorFlow or
JAX), so framework autodiff sees only framework operations. :func:`vjp` differentiates the
tree in NumPy with hand-written rules (see ``_FUNC_RULES`` and ``_vjp_node``).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

__all__ = ["ExprError", "FUNCTIONS", "Expr", "parse", "Library", "numpy_library", "torch_library",
           "tensorflow_library", "jax_library", "vjp"]

FUNCTIONS: tuple[str, ...] = ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "abs",
                              "sigmoid", "relu", "sum", "mean")
MAX_LENGTH = 10_000
MAX_PAREN_DEPTH = 100
MAX_TREE_DEPTH = 300   # checked on the AST (iteratively) so the recursive walkers stay shallow

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_KINDS = {  # friendly names for rejected node types
    "List": "list display", "Tuple": "tuple", "Set": "set display", "Dict": "dict display",
    "ListComp": "list comprehension", "SetComp": "set comprehension", "DictComp": "dict comprehension",
    "GeneratorExp": "generator expression", "JoinedStr": "f-string", "FormattedValue": "f-string",
    "Starred": "starred expression", "Await": "await", "Yield": "yield", "YieldFrom": "yield",
    "Slice": "slice", "NamedExpr": "assignment expression", "IfExp": "conditional expression",
    "Compare": "comparison", "BoolOp": "boolean operator", "BinOp": "operator", "UnaryOp": "operator",
}


class ExprError(ValueError):
    """Invalid expression. .token is the offending source text (e.g. "__import__", ".", "lambda"),
    .col its 0-based column or None."""

    def __init__(self, message: str, token: str | None = None, col: int | None = None):
        super().__init__(message)
        self.token = token
        self.col = col


@dataclass(frozen=True)
class Library:
    """How one framework evaluates the language: a mapping of the 12 function names plus
    'matmul' and 'pow' to callables."""
    name: str
    functions: Mapping[str, Callable]


@dataclass(frozen=True)
class Expr:
    source: str
    names: tuple[str, ...]                 # input names used, in order of first appearance
    _tree: tuple = field(repr=False)       # immutable nested tuples, see module docstring

    def evaluate(self, env: Mapping[str, Any], lib: Library) -> Any:
        """Evaluate with ``lib``; literals are Python floats, inputs are taken from ``env`` as is."""
        return _eval(self._tree, env, lib.functions)


# ----------------------------------------------------------------------------- parsing
class _Parser:
    def __init__(self, text: str, allowed: frozenset[str] | None):
        self.text, self.allowed = text, allowed
        self.line = text.encode("utf-8")
        self.errors: list[ExprError] = []
        self.names: dict[str, None] = {}

    def col(self, byte_col: int) -> int:  # ast columns are UTF-8 byte offsets
        return len(self.line[:byte_col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.col(node.col_offset), self.col(node.end_col_offset)

    def seg(self, node: ast.AST, limit: int = 40) -> str:
        s = self.text[slice(*self.span(node))]
        return s if len(s) <= limit else s[:limit - 3] + "..."

    def between(self, a: ast.AST, b: ast.AST) -> tuple[str, int]:
        """The operator text between two sibling nodes, with its column (skipping parens)."""
        lo, hi = self.span(a)[1], self.span(b)[0]
        raw = self.text[lo:hi]
        stripped = raw.strip(" \t()")
        return stripped, lo + raw.index(stripped) if stripped else lo

    def fail(self, message: str, token: str | None, col: int | None) -> None:
        self.errors.append(ExprError(message, token, col))

    def reject(self, node: ast.AST) -> None:
        kind = _KINDS.get(type(node).__name__, type(node).__name__)
        start = self.span(node)[0]
        if isinstance(node, ast.Lambda):
            return self.fail("lambda is not allowed", "lambda", start)
        pair = {ast.IfExp: ("body", "test"), ast.NamedExpr: ("target", "value")}.get(type(node))
        if isinstance(node, ast.Compare):
            tok, col = self.between(node.left, node.comparators[0])
        elif isinstance(node, ast.BoolOp):
            tok, col = self.between(node.values[0], node.values[1])
        elif isinstance(node, ast.BinOp):
            tok, col = self.between(node.left, node.right)
        elif pair:
            tok, col = self.between(getattr(node, pair[0]), getattr(node, pair[1]))
            tok = tok.split()[0] if tok else tok
        elif isinstance(node, ast.UnaryOp):
            tok, col = self.text[start:self.span(node.operand)[0]].strip(" \t("), start
        else:
            tok, col = self.seg(node), start
        self.fail(f"{kind} '{tok}' is not allowed", tok, col)

    def conv(self, node: ast.AST) -> tuple | None:
        """Validate ``node`` and return its tuple tree (None when an error was recorded)."""
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.conv(node.left), self.conv(node.right)
            return ("bin", _BINOPS[type(node.op)], left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self.conv(node.operand)
            return ("neg", inner) if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Constant):
            v, start = node.value, self.span(node)[0]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                try:
                    return ("num", float(v))
                except OverflowError:  # integer literal beyond float range
                    return ("num", math.inf)
            kind = {str: "string literal", bytes: "bytes literal", complex: "complex literal"}.get(
                type(v), "constant")
            return self.fail(f"{kind} {self.seg(node)} is not allowed", self.seg(node), start)
        if isinstance(node, ast.Name):
            start = self.span(node)[0]
            if node.id in FUNCTIONS:
                return self.fail(f"function '{node.id}' must be called with one argument",
                                 node.id, start)
            if self.allowed is not None and node.id not in self.allowed:
                inputs = ", ".join(sorted(self.allowed)) or "none"
                return self.fail(f"name '{node.id}' is not an input (inputs: {inputs})", node.id, start)
            self.names.setdefault(node.id, None)
            return ("name", node.id)
        if isinstance(node, ast.Attribute):
            lo, hi = self.span(node.value)[1], self.span(node)[1]
            dot = lo + self.text[lo:hi].index(".")
            self.conv(node.value)  # report errors further left first
            return self.fail(f"attribute access '.{node.attr}' is not allowed", ".", dot)
        if isinstance(node, ast.Subscript):
            lo = self.span(node.value)[1]
            br = lo + self.text[lo:].index("[")
            self.conv(node.value)
            sub = self.text[br:self.span(node)[1]]
            return self.fail(f"subscript '{sub}' is not allowed", "[", br)
        if isinstance(node, ast.Call):
            return self.call(node)
        return self.reject(node)

    def call(self, node: ast.Call) -> tuple | None:
        func = node.func
        if not isinstance(func, ast.Name):
            n = len(self.errors)
            self.conv(func)
            if len(self.errors) == n:  # callee itself was fine, e.g. "(x + 1)(2)"
                self.fail(f"call of '{self.seg(func)}' is not allowed (only functions: "
                          f"{', '.join(FUNCTIONS)})", self.seg(func), self.span(func)[0])
            return None
        start = self.span(func)[0]
        if func.id not in FUNCTIONS:
            self.fail(f"call to '{func.id}' is not allowed (functions: {', '.join(FUNCTIONS)})",
                      func.id, start)
        for kw in node.keywords:
            tok = f"{kw.arg}=" if kw.arg else "**"
            self.fail(f"keyword argument '{tok}' is not allowed", kw.arg or "**",
                      self.span(kw)[0])
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.fail("starred argument '*' is not allowed", "*", self.span(a)[0])
        if func.id in FUNCTIONS and len(node.args) != 1 and not node.keywords:
            self.fail(f"{func.id}() takes exactly one argument ({len(node.args)} given)",
                      func.id, start)
        args = [self.conv(a.value if isinstance(a, ast.Starred) else a) for a in node.args]
        for kw in node.keywords:
            self.conv(kw.value)
        if func.id in FUNCTIONS and len(args) == 1:
            return ("call", func.id, args[0])
        return None


def _check_nesting(text: str) -> None:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_PAREN_DEPTH:
                raise ExprError(f"expression is nested too deeply (more than {MAX_PAREN_DEPTH} "
                                f"levels of parentheses)", ch, i)
        elif ch in ")]}":
            depth -= 1


def _tree_depth(root: ast.AST) -> int:
    best, stack = 0, [(root, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(node))
    return best


def parse(source: str, allowed_names: Iterable[str] | None = None) -> Expr:
    """Parse and validate. Raises ExprError with a message naming the offending token, e.g.
    "attribute access '.system' is not allowed", "name 'os' is not an input (inputs: x, y)",
    "call to '__import__' is not allowed (functions: exp, log, ...)", "lambda is not allowed".
    If allowed_names is None any identifier that is not a function name is accepted as an input name."""
    if not isinstance(source, str):
        raise ExprError(f"expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExprError(f"expression is too long ({len(source)} characters; limit {MAX_LENGTH})")
    if "#" in source:
        raise ExprError("comments ('#') are not allowed", "#", source.index("#"))
    # Newlines (e.g. from folded YAML) become spaces so columns stay absolute; leading
    # whitespace is kept but parsed around so Python does not see an indent.
    text = source.translate({ord("\n"): " ", ord("\r"): " ", ord("\t"): " ", ord("\f"): " "})
    _check_nesting(text)
    lead = len(text) - len(text.lstrip(" "))
    if not text.strip():
        raise ExprError("expression is empty")
    try:
        tree = ast.parse(text[lead:], mode="eval")
    except SyntaxError as e:
        col = lead + (e.offset - 1 if e.offset else 0)
        tok = text[col] if col < len(text) else None
        raise ExprError(f"invalid syntax at column {col}: {e.msg}", tok, col) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError("expression is nested too deeply or too complex") from None
    if _tree_depth(tree) > MAX_TREE_DEPTH:
        raise ExprError(f"expression is nested too deeply (more than {MAX_TREE_DEPTH} levels)")
    p = _Parser(text[lead:], None if allowed_names is None else frozenset(allowed_names))
    root = p.conv(tree.body)
    if p.errors:
        err = min(p.errors, key=lambda e: e.col if e.col is not None else -1)
        err.col = None if err.col is None else err.col + lead
        raise err
    return Expr(source, tuple(p.names), root)


# ----------------------------------------------------------------------------- evaluation
def _eval(node: tuple, env: Mapping[str, Any], fn: Mapping[str, Callable]) -> Any:
    tag = node[0]
    if tag == "num":
        return node[1]
    if tag == "name":
        try:
            return env[node[1]]
        except KeyError:
            raise ExprError(f"no value given for input '{node[1]}'", node[1]) from None
    if tag == "neg":
        return -_eval(node[1], env, fn)
    if tag == "call":
        return fn[node[1]](_eval(node[2], env, fn))
    op, a, b = node[1], _eval(node[2], env, fn), _eval(node[3], env, fn)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if type(a) is float and type(b) is float and b == 0.0:  # IEEE, not ZeroDivisionError
            return math.nan if a == 0.0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    return fn["pow" if op == "**" else "matmul"](a, b)


def _np_sigmoid(x):
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def numpy_library() -> Library:
    return Library("numpy", {
        "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
        "sqrt": np.sqrt, "abs": np.abs, "sigmoid": _np_sigmoid, "relu": lambda x: np.maximum(x, 0),
        "sum": lambda x: np.sum(x), "mean": lambda x: np.mean(x),
        "matmul": np.matmul, "pow": np.power})


def _lifted(lift: Callable, is_tensor: Callable, table: Mapping[str, Callable]) -> dict[str, Callable]:
    """Wrap framework functions for the framework libraries. Constant subexpressions (plain
    Python floats) are computed with NumPy and stay Python floats, so they combine with tensors
    of any dtype (a float32 tensor times exp(2) stays float32); other non-tensors are lifted."""
    npf = numpy_library().functions

    def wrap(name, f):
        def g(x):
            if isinstance(x, (float, int)):
                return float(npf[name](x))
            return f(x if is_tensor(x) else lift(x))
        return g
    out = {k: wrap(k, f) for k, f in table.items() if k != "matmul"}

    def matmul(a, b, _mm=table["matmul"]):
        return _mm(a if is_tensor(a) else lift(a), b if is_tensor(b) else lift(b))

    def pow_(a, b):
        if isinstance(a, (float, int)) and isinstance(b, (float, int)):
            return float(np.power(float(a), b))
        return (a if is_tensor(a) or is_tensor(b) else lift(a)) ** b
    out["pow"], out["matmul"] = pow_, matmul
    return out


def torch_library() -> Library:
    import torch
    t = {"exp": torch.exp, "log": torch.log, "sin": torch.sin, "cos": torch.cos, "tan": torch.tan,
         "tanh": torch.tanh, "sqrt": torch.sqrt, "abs": torch.abs, "sigmoid": torch.sigmoid,
         "relu": torch.relu, "sum": torch.sum, "mean": torch.mean, "matmul": torch.matmul}
    return Library("torch", _lifted(torch.as_tensor, torch.is_tensor, t))


def tensorflow_library() -> Library:
    import tensorflow as tf

    def matmul(a, b):  # numpy semantics for 1-D operands (tf.linalg.matmul needs rank >= 2)
        va, vb = a.shape.rank == 1, b.shape.rank == 1
        out = tf.linalg.matmul(a[tf.newaxis, :] if va else a, b[:, tf.newaxis] if vb else b)
        if va and vb:
            return tf.reshape(out, [])
        return tf.squeeze(out, axis=-2) if va else tf.squeeze(out, axis=-1) if vb else out
    t = {"exp": tf.math.exp, "log": tf.math.log, "sin": tf.math.sin, "cos": tf.math.cos,
         "tan": tf.math.tan, "tanh": tf.math.tanh, "sqrt": tf.math.sqrt, "abs": tf.math.abs,
         "sigmoid": tf.math.sigmoid, "relu": tf.nn.relu, "sum": tf.reduce_sum,
         "mean": tf.reduce_mean, "matmul": matmul}
    return Library("tensorflow", _lifted(tf.convert_to_tensor, tf.is_tensor, t))


def jax_library() -> Library:
    import jax
    import jax.numpy as jnp
    t = {"exp": jnp.exp, "log": jnp.log, "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan,
         "tanh": jnp.tanh, "sqrt": jnp.sqrt, "abs": jnp.abs, "sigmoid": jax.nn.sigmoid,
         "relu": jax.nn.relu, "sum": jnp.sum, "mean": jnp.mean, "matmul": jnp.matmul}
    return Library("jax", _lifted(jnp.asarray, lambda x: isinstance(x, jax.Array), t))


# ----------------------------------------------------------------------------- NumPy VJP
def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the dimensions that broadcasting added or stretched to reach ``shape``."""
    g = np.asarray(g)
    if g.ndim > len(shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


# d out / d x for each function, as g -> J^T g given input x and output y.
_FUNC_RULES: dict[str, Callable] = {
    "exp": lambda g, x, y: g * y,
    "log": lambda g, x, y: g / x,
    "sin": lambda g, x, y: g * np.cos(x),
    "cos": lambda g, x, y: -g * np.sin(x),
    "tan": lambda g, x, y: g / np.cos(x) ** 2,
    "tanh": lambda g, x, y: g * (1.0 - y * y),
    "sqrt": lambda g, x, y: g / (2.0 * y),
    "abs": lambda g, x, y: g * np.sign(x),
    "sigmoid": lambda g, x, y: g * y * (1.0 - y),
    "relu": lambda g, x, y: g * (x > 0),
    "sum": lambda g, x, y: np.broadcast_to(g, np.shape(x)),
    "mean": lambda g, x, y: np.broadcast_to(g / max(np.size(x), 1), np.shape(x)),
}


def _has_inputs(node: tuple) -> bool:
    tag = node[0]
    return tag == "name" or (tag != "num" and any(_has_inputs(c) for c in node[1:] if isinstance(c, tuple)))


def _vjp_node(node: tuple, env: Mapping[str, np.ndarray], fn: Mapping[str, Callable]):
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
        x, px = _vjp_node(node[1], env, fn)
        return -x, lambda g, grads: px(-g, grads)
    if tag == "call":
        x, px = _vjp_node(node[2], env, fn)
        y, rule = fn[node[1]](x), _FUNC_RULES[node[1]]
        return y, lambda g, grads: px(rule(g, x, y), grads)
    op, (a, pa), (b, pb) = node[1], _vjp_node(node[2], env, fn), _vjp_node(node[3], env, fn)
    sa, sb = np.shape(a), np.shape(b)
    if op == "@":
        return np.matmul(a, b), lambda g, grads: _matmul_pull(g, a, b, pa, pb, grads)
    if op == "**":
        y = fn["pow"](a, b)
        need_a, need_b = _has_inputs(node[2]), _has_inputs(node[3])

        def pull_pow(g, grads):
            if need_a:  # d/dx x**y = y * x**(y-1)   (exponent 1 where y == 0 avoids 0*inf)
                pa(_unbroadcast(g * b * np.power(a, np.where(b == 0, 1.0, b - 1.0)), sa), grads)
            if need_b:  # d/dy x**y = x**y * log(x), taken as 0 where x == 0 (as JAX does)
                pb(_unbroadcast(g * y * np.log(np.where(a == 0, 1.0, a)), sb), grads)
        return y, pull_pow
    rules = {  # op: (value, dL/da, dL/db) as functions of g
        "+": (lambda: a + b, lambda g: g, lambda g: g),
        "-": (lambda: a - b, lambda g: g, lambda g: -g),
        "*": (lambda: a * b, lambda g: g * b, lambda g: g * a),
        "/": (lambda: a / b, lambda g: g / b, lambda g: -g * a / (b * b)),
    }
    value, da, db = rules[op]

    def pull_bin(g, grads):
        pa(_unbroadcast(da(g), sa), grads)
        pb(_unbroadcast(db(g), sb), grads)
    return value(), pull_bin


def _matmul_pull(g, a, b, pa, pb, grads):
    # Promote 1-D operands to matrices as np.matmul does: a (n,) -> (1, n), b (n,) -> (n, 1);
    # then dA = G B^T and dB = A^T G, summed over broadcast batch dims, and demoted again.
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b
    G = np.asarray(g)
    if b.ndim == 1:
        G = G[..., None]
    if a.ndim == 1:
        G = G[..., None, :]
    dA = _unbroadcast(G @ np.swapaxes(B, -1, -2), A.shape).reshape(a.shape)
    dB = _unbroadcast(np.swapaxes(A, -1, -2) @ G, B.shape).reshape(b.shape)
    pa(dA, grads)
    pb(dB, grads)


def vjp(expr: Expr, env: Mapping[str, np.ndarray], cotangent: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Reverse-mode derivative of the expression in NumPy: returns (output value, {input name:
    gradient}) where gradient = J^T cotangent, shaped like that input."""
    fn = numpy_library().functions
    out, pull = _vjp_node(expr._tree, env, fn)
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
