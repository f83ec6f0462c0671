"""Hostile YAML is refused quickly and clearly, naming the file and line: alias bombs, deep nesting,
huge files and huge inline lists."""

import time
import tracemalloc

import pytest
from click.testing import CliRunner

from gradcheck.cases import CaseFileError, parse_cases
from gradcheck.cases.yamlfile import MAX_CHARS, MAX_DEPTH, MAX_NODES
from gradcheck.cli import main

LAUGHS = "\n".join(
    [f'a: &a [{", ".join(["lol"] * 9)}]']
    + [f"{b}: &{b} [{', '.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")]
) + "\n"


def refused(text, file="hostile.yaml"):
    with pytest.raises(CaseFileError) as caught:
        parse_cases(text, file)
    return caught.value


def test_billion_laughs_is_refused_in_under_a_second_and_200_mb():
    tracemalloc.start()
    started = time.perf_counter()
    error = refused(LAUGHS)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 200e6
    assert error.file == "hostile.yaml" and error.line == 6  # 9^6 values pass the limit on line 6
    assert "alias bomb" in error.message


def test_a_recursive_alias_is_refused():
    assert "recursive" in refused("x: &x [1, *x]\n").message


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])  # libyaml stops at 1,000 with its own message
def test_deep_nesting_is_refused_with_its_line(depth):
    error = refused("name: deep\nop: exp\ninputs:\n  x: " + "[" * depth + "]" * depth + "\n")
    assert error.line == 4 and "nest" in error.message
    if depth == MAX_DEPTH + 1:
        assert f"nested more than {MAX_DEPTH} deep" in error.message


def test_a_huge_inline_list_is_refused_quickly():
    text = "name: big\nop: exp\ninputs:\n  x: [" + ", ".join(["1.0"] * (MAX_NODES + 10)) + "]\n"
    started = time.perf_counter()
    error = refused(text)
    assert time.perf_counter() - started < 5.0
    assert error.line == 4 and "generator" in error.message


def test_a_huge_file_is_refused_before_parsing():
    error = refused("name: huge\nop: exp\n# " + "x" * MAX_CHARS + "\n")
    assert f"over the limit of {MAX_CHARS:,}" in error.message


def test_the_cli_exits_2_naming_the_file_and_line(tmp_path):
    (tmp_path / "bomb.yaml").write_text(LAUGHS)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "bomb.yaml")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'bomb.yaml'}:6: more than {MAX_NODES:,} values" in result.output


def test_ordinary_anchors_still_work():
    cases = parse_cases("cases:\n  - name: a\n    op: exp\n    inputs: &in {x: [1.0, 2.0]}\n"
                        "  - name: b\n    op: tanh\n    inputs: *in\n")
    assert [c.inputs[0].literal for c in cases] == [[1.0, 2.0], [1.0, 2.0]]
