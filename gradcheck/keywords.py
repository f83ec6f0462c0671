"""`-k` expressions, as pytest reads them: `sigmoid and not jvp`, `matmul or conv2d`, `(a or b) and c`.

A word matches when it is a substring (ignoring case) of any of the names it is
tested against (a case's name and a method's name). A tiny recursive-descent
parser over a whitelist of tokens: nothing is ever evaluated as Python.

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | "(" expr ")" | WORD
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

Matcher = Callable[[Iterable[str]], bool]
_TOKEN = re.compile(r"\s*(\(|\)|[\w.:+\-\[\]/]+)")
_KEYWORDS = ("and", "or", "not")


class KeywordError(ValueError):
    """An expression that does not parse; the message says where."""


@dataclass(frozen=True)
class Keyword:
    """A parsed -k expression; `matches(names)` tests it against a row's names."""

    source: str
    matches: Matcher


def parse(expressions: Iterable[str]) -> Keyword | None:
    """Several -k expressions must all match (they combine with `and`); none: None."""
    expressions = [e for e in expressions if e.strip()]
    if not expressions:
        return None
    matchers = [_Parser(e).parse() for e in expressions]
    return Keyword(" and ".join(f"({e})" if len(expressions) > 1 else e for e in expressions),
                   lambda names: all(m(names) for m in matchers))


class _Parser:
    def __init__(self, source: str):
        self.source, self.tokens, position = source, [], 0
        while position < len(source):
            found = _TOKEN.match(source, position)
            if found is None:
                if source[position:].strip() == "":
                    break
                raise KeywordError(f"-k {source!r}: unexpected character {source[position:].lstrip()[0]!r} "
                                   f"at column {position + 1}")
            self.tokens.append(found.group(1))
            position = found.end()
        self.at = 0

    def parse(self) -> Matcher:
        matcher = self._or()
        if self.at < len(self.tokens):
            raise KeywordError(f"-k {self.source!r}: unexpected {self.tokens[self.at]!r}")
        return matcher

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise KeywordError(f"-k {self.source!r}: the expression ends too early")
        self.at += 1
        return token

    def _or(self) -> Matcher:
        parts = [self._and()]
        while self._peek() == "or":
            self.at += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda names: any(p(names) for p in parts)

    def _and(self) -> Matcher:
        parts = [self._not()]
        while self._peek() == "and":
            self.at += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else lambda names: all(p(names) for p in parts)

    def _not(self) -> Matcher:
        token = self._take()
        if token == "not":
            inner = self._not()
            return lambda names: not inner(names)
        if token == "(":
            inner = self._or()
            if self._take() != ")":
                raise KeywordError(f"-k {self.source!r}: a '(' is not closed")
            return inner
        if token in _KEYWORDS or token == ")":
            raise KeywordError(f"-k {self.source!r}: expected a name, got {token!r}")
        word = token.lower()
        return lambda names: any(word in name.lower() for name in names)
