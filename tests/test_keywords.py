"""-k expressions: pytest's grammar over case and method names, parsed, never evaluated."""

import pytest

from gradcheck.keywords import KeywordError, parse

ROWS = [("sigmoid-seed", "vjp"), ("sigmoid-seed", "torch-jvp"), ("matmul-seed", "jax"), ("conv2d-valid", "numeric")]


def selected(*expressions):
    keyword = parse(expressions)
    return [row for row in ROWS if keyword.matches(row)]


def test_and_not_or_and_parentheses():
    assert selected("sigmoid and not jvp") == [("sigmoid-seed", "vjp")]
    assert selected("matmul or conv2d") == ROWS[2:]
    assert selected("not (sigmoid or matmul)") == [("conv2d-valid", "numeric")]
    assert selected("sigmoid or matmul and jax") == ROWS[:3]  # and binds tighter than or
    assert selected("jvp") == [ROWS[1]] and selected("seed") == ROWS[:3]  # a substring of either name


def test_repeated_expressions_must_all_match():
    keyword = parse(["seed", "not jvp"])
    assert keyword.source == "(seed) and (not jvp)"
    assert [row for row in ROWS if keyword.matches(row)] == [("sigmoid-seed", "vjp"), ("matmul-seed", "jax")]
    assert parse([]) is None and parse(["  "]) is None


@pytest.mark.parametrize(("expression", "message"), [
    ("", None), ("and", "expected a name, got 'and'"), ("a or", "ends too early"), ("(a", "ends too early"),
    ("a )", "unexpected ')'"), ("a b", "unexpected 'b'"), ("a; b", "unexpected character ';' at column 2"),
    ("__import__('os').system('x')", "unexpected character \"'\""),
])
def test_malformed_expressions_are_refused_with_the_reason(expression, message):
    if message is None:
        assert parse([expression]) is None
        return
    with pytest.raises(KeywordError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse([expression])
