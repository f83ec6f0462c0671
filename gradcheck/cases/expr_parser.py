"""The expression language's parser: source text -> a validated tree of plain tuples.

Grammar (a strict subset of Python expression syntax, parsed with :mod:`ast` and then
validated node by node; nothing is ever passed to eval/exec/compile)::

    expr  := expr ('+' | '-' | '*' | '/' | '**' | '@') expr   (Python precedence)
           | ('-' | '+') expr | '(' expr ')'
           | NUMBER                      -- always converted to float at parse time
           | NAME                        -- an input name
           | FUNC '(' expr {',' expr} [',' 'axis' '=' INTS] ')'
    FUNC  := a registry op marked for expressions (``gradcheck ops`` lists them), called with
             as many positional arguments as the op has inputs, plus ``axis=`` where it takes one

Everything else (attributes, subscripts, lambdas, comprehensions, strings, comparisons,
boolean ops, other keyword or starred arguments, calls of other names, f-strings, walrus,
conditional expressions, ...) raises :class:`ExprError` naming the offending token.
Sources longer than 10,000 characters or with parentheses nested deeper than 100 are
rejected before :func:`ast.parse` is called.

The tree is made of plain tuples::

    ("num", float) | ("name", str) | ("neg", node) | ("bin", op, left, right)
    | ("call", func, (arg, ...), ((keyword, value), ...))
"""
from __future__ import annotations

import ast
import math
from typing import Iterable

from gradcheck.ops import OPS

# The language's functions are the registry's ops marked for expressions: one entry, one rule.
FUNCTIONS: tuple[str, ...] = tuple(name for name, op in OPS.items() if op.in_expr)
ARITY: dict[str, int] = {name: len(OPS[name].inputs) for name in FUNCTIONS}
KEYWORDS: dict[str, tuple[str, ...]] = {name: tuple(k for k in ("axis",) if k in OPS[name].params)
                                        for name in FUNCTIONS}
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
                return self.fail(f"function '{node.id}' must be called with {ARITY[node.id]} "
                                 f"{_arguments(ARITY[node.id])}",
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
        known = func.id in FUNCTIONS
        if not known:
            self.fail(f"call to '{func.id}' is not allowed (functions: {', '.join(FUNCTIONS)})",
                      func.id, start)
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.fail("starred argument '*' is not allowed", "*", self.span(a)[0])
        params, bad_keyword = {}, False
        for kw in node.keywords:
            if known and kw.arg in KEYWORDS.get(func.id, ()):
                value = self.literal(kw.value)
                if value is not None:
                    params[kw.arg] = value
                continue
            bad_keyword = True
            tok = f"{kw.arg}=" if kw.arg else "**"
            allowed = KEYWORDS.get(func.id, ())
            hint = f" ({func.id} takes {', '.join(k + '=' for k in allowed)})" if known and allowed else ""
            self.fail(f"keyword argument '{tok}' is not allowed{hint}", kw.arg or "**", self.span(kw)[0])
        arity = ARITY.get(func.id, 1)
        if known and len(node.args) != arity and not bad_keyword:
            self.fail(f"{func.id}() takes exactly {arity} positional {_arguments(arity)} "
                      f"({len(node.args)} given)", func.id, start)
        if known and params and not bad_keyword:
            self.check_params(func.id, params, node)
        args = [self.conv(a.value if isinstance(a, ast.Starred) else a) for a in node.args]
        if known and len(args) == arity and all(a is not None for a in args):
            return ("call", func.id, tuple(args), tuple(sorted(params.items())))
        return None

    def check_params(self, name: str, params: dict, node: ast.Call) -> None:
        """The op's own validators, so that max(x, axis=[0, 0]) is refused when the file is loaded."""
        try:
            OPS[name].check_params(params)
        except ValueError as exc:
            keyword = next(kw for kw in node.keywords if kw.arg in params)
            self.fail(str(exc), self.seg(keyword.value), self.span(keyword.value)[0])

    def literal(self, node: ast.AST):
        """A keyword's value: an integer, or a list or tuple of integers (axis=0, axis=[0, 1], axis=-1)."""
        def integer(n):
            if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
                inner = integer(n.operand)
                return None if inner is None else -inner
            if isinstance(n, ast.Constant) and type(n.value) is int:
                return n.value
            return None
        if isinstance(node, (ast.List, ast.Tuple)):
            values = [integer(e) for e in node.elts]
            if all(v is not None for v in values):
                return tuple(values)
        else:
            value = integer(node)
            if value is not None:
                return value
        self.fail(f"keyword value '{self.seg(node)}' must be an integer or a list of integers",
                  self.seg(node), self.span(node)[0])
        return None


def _arguments(count: int) -> str:
    return "argument" if count == 1 else "arguments"


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


def parse_tree(source: str, allowed_names: Iterable[str] | None = None) -> tuple[tuple[str, ...], tuple]:
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
    return tuple(p.names), root
