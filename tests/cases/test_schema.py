"""The case loader: what files mean, and the errors that name file, line and key."""

from pathlib import Path

import numpy as np
import pytest

from gradcheck.cases import CaseFileError, load_cases, parse_cases
from gradcheck.cases.problem import CaseError, materialize
from gradcheck.tolerance import ToleranceOverride

REPO = Path(__file__).resolve().parents[2]


def error_of(text: str) -> CaseFileError:
    with pytest.raises(CaseFileError) as caught:
        parse_cases(text, "cases/x.yaml")
    return caught.value


def test_one_case_or_a_list():
    single = parse_cases("name: a\nop: sigmoid\ninputs: {x: [1.0, 2.0]}\n")
    assert [c.name for c in single] == ["a"]
    many = parse_cases(
        "cases:\n  - name: a\n    op: exp\n    inputs: {x: 1.0}\n"
        "  - name: b\n    expr: 'x*y'\n    inputs: {x: 1.0, y: 2.0}\n"
    )
    assert [c.name for c in many] == ["a", "b"]
    assert many[1].wrt == ("x", "y")  # default: every input
    assert many[1].line == 5


def test_fields_are_parsed():
    (case,) = parse_cases(
        """
name: conv
op: conv2d
params: {stride: 2, padding: same}
inputs:
  x: {shape: [1, 1, 6, 6], dist: normal, seed: 0}
  w: {shape: [1, 1, 3, 3], dist: uniform, low: -1, high: 1, seed: 1}
wrt: [w]
dtype: float32
methods: [vjp]
tolerance: {rtol: 1e-6}
expect_tolerance: {atol: 0.5}
xfail: known issue
"""
    )
    assert case.params["padding"] == "same" and case.params["stride"] == 2
    assert case.wrt == ("w",) and case.dtype == "float32" and case.methods == ("vjp",)
    # `1e-6` without a dot is a float here (plain PyYAML reads it as a string).
    assert case.tolerance == ToleranceOverride(rtol=1e-6, atol=None)
    assert case.expect_tolerance == ToleranceOverride(rtol=None, atol=0.5)
    assert case.inputs[1].generator.args == (("low", -1.0), ("high", 1.0))
    assert case.xfail == "known issue"


def test_unknown_key_names_line_and_suggests():
    err = error_of("cases:\n  - name: a\n    op: sigmoid\n    inputs: {x: 1.0}\n    tolerence: {rtol: 1}\n")
    assert err.file == "cases/x.yaml" and err.line == 5
    assert "unknown key 'tolerence'" in str(err) and "did you mean 'tolerance'" in str(err)
    assert str(err).startswith("cases/x.yaml:5:")


def test_unknown_key_inside_a_generator():
    err = error_of("name: a\nop: exp\ninputs:\n  x: {shape: [3], dist: normal, sd: 2}\n")
    assert err.line == 4 and "'sd'" in str(err) and "did you mean 'std'" in str(err)


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("name: a\nop: sigmod\ninputs: {x: 1.0}\n", 2, "unknown op 'sigmod' (did you mean 'sigmoid'?)"),
        ("name: a\nop: exp\nexpr: x\ninputs: {x: 1.0}\n", 3, "mutually exclusive"),
        ("name: a\ninputs: {x: 1.0}\n", 1, "needs a forward: one of 'op', 'expr', 'function', 'module'"),
        ("name: a\nop: exp\n", 1, "missing 'inputs'"),
        ("name: 'a b'\nop: exp\ninputs: {x: 1.0}\n", 1, "'name' must be letters"),
        ("name: a\nop: matmul\ninputs: {x: 1.0}\n", 3, "takes 2 input(s)"),
        ("name: a\nop: conv2d\ninputs: {x: 1.0}\n", 3, "takes 2 to 3 input(s) (x, w, then optionally b), got 1"),
        ("name: a\nop: conv2d\ninputs: {x: 1.0, w: 1.0, b: 1.0, c: 1.0}\n", 3, "got 4"),
        ("name: a\nop: exp\ninputs: {x: [[], [1.0]]}\n", 3, "rectangular"),
        ("name: a\nop: softmax\nparams: {axes: 1}\ninputs: {x: [1.0]}\n", 3, "axes"),
        ("name: a\nop: conv2d\nparams: {padding: full}\ninputs: {x: 1.0, w: 1.0}\n", 3, "padding"),
        ("name: a\nop: exp\ninputs: {x: [[1.0, 2.0], [3.0]]}\n", 3, "rectangular"),
        ("name: a\nop: exp\ninputs: {x: 'hello'}\n", 3, "expected a number"),
        ("name: a\nop: exp\ninputs: {x: {shape: [-1]}}\n", 3, "non-negative integers"),
        ("name: a\nop: exp\ninputs: {x: 1.0}\nwrt: [y]\n", 4, "unknown name 'y'"),
        ("name: a\nop: exp\ninputs: {x: 1.0}\nmethods: [pytorch]\n", 4, "did you mean 'torch'"),
        ("name: a\nop: exp\ninputs: {x: 1.0}\ndtype: float128\n", 4, "unknown dtype"),
        ("name: a\nop: exp\ninputs: {x: 1.0}\ntolerance: {rtol: -1}\n", 4, ">= 0"),
        ("name: a\nop: exp\ninputs: {x: 1.0}\nexpect: {y: 1.0}\n", 4, "'y' is not an input"),
        ("name: a\nfunction: 'os.system'\ninputs: {x: 1.0}\n", 2, "import path 'module:attribute'"),
        ("name: a\nop: exp\ninputs: {x: 1.0}\nname: b\n", 4, "duplicate key 'name'"),
        ("name: a\nop: exp\ninputs: {x: [1.0, 2.0}\n", 3, "invalid YAML"),
        ("- 1\n- 2\n", 1, "expected a case"),
        ("cases:\n  - name: a\n    op: exp\n    inputs: {x: 1.0}\n  - name: a\n    op: exp\n    inputs: {x: 1.0}\n",
         5, "duplicate case name 'a' (first on line 2)"),
    ],
)
def test_file_errors_name_line_and_problem(text, line, fragment):
    err = error_of(text)
    assert err.line == line, str(err)
    assert fragment in str(err)


@pytest.mark.parametrize(
    "source, token",
    [
        ("__import__('os').system('ls')", "__import__"),
        ("x.__class__", "."),
        ("(lambda: 1)()", "lambda"),
        ("[i for i in x]", None),
        ("x[0]", "["),
        ("open('f')", "open"),
        ("y * 2", "y"),
    ],
)
def test_hostile_expressions_are_rejected_at_load(source, token):
    err = error_of(f'name: a\nexpr: "{source}"\ninputs: {{x: 1.0}}\n')
    assert err.line == 2 and "invalid expression" in str(err)
    if token:
        assert token in str(err)


def test_yaml_cannot_construct_python_objects():
    err = error_of("name: !!python/object/apply:os.system ['echo hacked']\nop: exp\ninputs: {x: 1.0}\n")
    assert err.line == 1 and "invalid YAML" in str(err)


def test_duplicate_names_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text("name: same\nop: exp\ninputs: {x: 1.0}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("\n\nname: same\nop: exp\ninputs: {x: 1.0}\n")
    with pytest.raises(CaseFileError) as caught:
        load_cases([tmp_path])
    assert caught.value.file.endswith("b.yml") and caught.value.line == 3
    assert "a.yaml:1" in str(caught.value)


def test_folders_are_walked_recursively_in_sorted_order(tmp_path):
    for relative in ("b.yaml", "a/z.yaml", "a/c.yml", "notes.txt"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"name: {path.stem}\nop: exp\ninputs: {{x: 1.0}}\n")
    assert [c.name for c in load_cases([tmp_path])] == ["c", "z", "b"]


def test_missing_path_is_a_file_error():
    with pytest.raises(CaseFileError, match="no such file or folder"):
        load_cases(["does/not/exist"])


def test_shipped_cases_load():
    cases = load_cases([REPO / "cases"])
    names = {c.name for c in cases}
    assert {"sigmoid-seed", "softmax-seed", "matmul-seed", "conv2d-seed", "poly-seed",
            "square-seed", "chain-seed", "quadratic-form-seed"} <= names


# ------------------------------------------------------------ materialize


def one(text: str):
    (case,) = parse_cases(text, "cases/x.yaml")
    return case


def test_generators_are_seeded_and_reproducible():
    text = "name: g\nop: exp\ninputs:\n  x: {shape: [5], dist: normal, mean: 2, std: 0.5}\n"
    first, second = materialize(one(text)), materialize(one(text))
    np.testing.assert_array_equal(first.inputs["x"], second.inputs["x"])
    explicit = materialize(one("name: g\nop: exp\ninputs:\n  x: {shape: [5], dist: normal, seed: 7}\n"))
    np.testing.assert_array_equal(explicit.inputs["x"], np.random.default_rng(7).normal(0, 1, 5))


def test_scalar_output_gets_cotangent_one_and_others_a_seeded_normal():
    scalar = materialize(one("name: s\nexpr: 'sum(x*x)'\ninputs: {x: [1.0, 2.0]}\n"))
    assert scalar.cotangent.shape == () and scalar.cotangent == 1.0
    vector = materialize(one("name: v\nop: exp\ninputs: {x: [1.0, 2.0, 3.0]}\n"))
    assert vector.cotangent.shape == (3,) and np.all(vector.cotangent != 1.0)


def test_float32_cases_round_their_inputs():
    problem = materialize(one("name: f\nop: exp\ndtype: float32\ninputs: {x: [0.1]}\n"))
    assert problem.inputs["x"][0] == float(np.float32(0.1)) != 0.1


def test_element_budget_refuses_before_allocating():
    case = one("name: big\nop: exp\ninputs:\n  x: {shape: [100000, 100000, 8]}\n")
    with pytest.raises(CaseError, match=r"cases/x.yaml:4: inputs.x has shape .* over the budget"):
        materialize(case)


def test_cotangent_shape_mismatch_is_a_case_error():
    case = one("name: c\nop: exp\ninputs: {x: [1.0, 2.0]}\ncotangent: [1.0, 2.0, 3.0]\n")
    with pytest.raises(CaseError, match="cotangent has shape \\[3\\] but the output has shape \\[2\\]"):
        materialize(case)


def test_missing_module_is_a_case_error():
    case = one("name: m\nfunction: no_such_module_xyz:f\ninputs: {x: 1.0}\n")
    with pytest.raises(CaseError, match="cannot import 'no_such_module_xyz'"):
        materialize(case)


@pytest.mark.parametrize("literal, shape", [("[]", (0,)), ("[[]]", (1, 0)), ("[[], [], []]", (3, 0)),
                                            ("[[[]], [[]]]", (2, 1, 0))])
def test_empty_literals_load_with_their_shape(literal, shape):
    (case,) = parse_cases(f"name: a\nop: exp\ninputs: {{x: {literal}}}\n")
    problem = materialize(case)
    assert problem.inputs["x"].shape == shape and problem.output.shape == shape
    assert problem.cotangent.shape == shape


def test_an_optional_input_may_be_given_or_left_out():
    text = "name: a\nop: conv2d\ninputs:\n  x: {shape: [2, 3, 3]}\n  w: {shape: [4, 2, 2, 2]}\n"
    (without,) = parse_cases(text)
    (with_bias,) = parse_cases(text + "  b: [1.0, 2.0, 3.0, 4.0]\n")
    assert without.input_names == ("x", "w") and with_bias.input_names == ("x", "w", "b")
    difference = materialize(with_bias).output - materialize(without).output
    np.testing.assert_allclose(difference, np.broadcast_to([[[1.0]], [[2.0]], [[3.0]], [[4.0]]], (4, 2, 2)),
                               rtol=0, atol=1e-14)  # z + b, rounded once more
