"""Code as people write it: framework functions alone, several outputs, integer inputs, pytrees,
args, rng_seed, modules and the spd / symmetric / integers generators."""

import numpy as np
import pytest

from gradcheck.cases import CaseFileError, parse_cases
from gradcheck.cases.problem import CaseError, materialize, materialize_outputs
from gradcheck.compare.comparison import Status
from gradcheck.run.runner import run_case


def one(text: str):
    (case,) = parse_cases(text, "cases/x.yaml")
    return case


def statuses(rows):
    return {(r.method, r.target): r.status for r in rows}


def test_a_torch_function_alone_is_its_own_reference():
    # d tanh = 1 - tanh^2: the reference is computed from torch's forward, in float64.
    case = one("name: t\ntorch: torch:tanh\ninputs: {x: [0.5, -1.0, 2.0]}\ncotangent: [1.0, 1.0, 1.0]\n")
    assert case.kind == "native" and case.reference_framework == "torch"
    problem = materialize(case)
    assert np.allclose(problem.output, np.tanh([0.5, -1.0, 2.0]), rtol=0, atol=1e-15)
    rows = run_case(case)
    assert statuses(rows) == {("numeric", "x"): Status.PASS, ("torch", "x"): Status.PASS}
    torch_row = next(r for r in rows if r.method == "torch")
    assert torch_row.max_abs_err < 1e-12


def test_reference_picks_the_framework_and_must_be_one_of_the_case():
    text = "name: t\ntorch: torch:tanh\njax: jax.numpy:tanh\ninputs: {x: [0.5]}\n"
    assert one(text).reference_framework == "torch"
    assert one(text + "reference: jax\n").reference_framework == "jax"
    with pytest.raises(CaseFileError, match="x.yaml:5: .*'reference' must name one of"):
        one(text + "reference: tensorflow\n")


def test_a_wrong_framework_backward_fails_against_its_own_forward():
    # torch.relu's derivative at x=2 is 1; a Function that doubles it must FAIL at the worst element.
    case = one("name: t\ntorch: tests.fixtures.real_wrong.doubled:doubled_relu\ninputs: {x: [-1.0, 2.0, 3.0]}\n"
               "cotangent: [1.0, 1.0, 1.0]\n")
    rows = run_case(case)
    row = next(r for r in rows if r.method == "torch")
    assert row.status is Status.FAIL and row.worst_index in ((1,), (2,))
    assert row.got == pytest.approx(2.0) and row.want == pytest.approx(1.0)


def test_several_outputs_one_row_each_and_integer_outputs_ignored():
    case = one("name: t\ntorch: tests.fixtures.real_wrong.doubled:sin_cos_sign\ninputs: {x: [0.1, 0.7]}\n")
    problems = materialize_outputs(case)
    assert [p.output_name for p in problems] == ["out[0]", "out[1]"]  # out[2] is an int64 sign
    rows = run_case(case)
    assert {r.path.split(" › [")[0] for r in rows if r.method == "torch"} == {
        "t › torch › x › out[0]", "t › torch › x › out[1]"}
    assert all(r.status is Status.PASS for r in rows)


def test_a_null_cotangent_leaves_an_output_out_and_counts_must_match():
    base = "name: t\ntorch: tests.fixtures.real_wrong.doubled:sin_cos_sign\ninputs: {x: [0.1, 0.7]}\n"
    problems = materialize_outputs(one(base + "cotangent: [null, [2.0, 3.0], null]\n"))
    assert [p.output_name for p in problems] == ["out[1]"]
    assert problems[0].cotangent.tolist() == [2.0, 3.0]
    with pytest.raises(CaseError, match="2 cotangents for 3 outputs"):
        materialize_outputs(one(base + "cotangent: [null, [2.0, 3.0]]\n"))


def test_integer_inputs_pass_through_and_are_not_in_wrt():
    case = one("name: t\ntorch: torch.nn.functional:cross_entropy\ninputs:\n"
               "  X: {shape: [4, 3], dist: normal}\n  target: {values: [0, 2, 1, 1], dtype: int64}\n")
    assert case.wrt == ("X",)
    problem = materialize(case)
    assert problem.inputs["target"].dtype == np.int64
    assert all(r.status is Status.PASS for r in run_case(case))
    with pytest.raises(CaseFileError, match="'target' is an integer or boolean input"):
        one("name: t\ntorch: torch:sum\ninputs:\n  x: 1.0\n  target: {values: [1], dtype: int64}\nwrt: [target]\n")


def test_pytree_leaves_by_dotted_path_and_args_order():
    case = one("""
name: t
jax: tests.fixtures.real_wrong.doubled:affine
args: [scale, params, x]
params: {scale: 3.0}
inputs:
  x: [1.0, 2.0]
  params: {w: [0.5, -0.5], b: {c: 0.25}}
""")
    assert case.wrt == ("x", "params.w", "params.b.c")
    problem = materialize(case)
    # affine(scale, params, x) = scale * sum(w * x) + c = 3 * (0.5 - 1.0) + 0.25
    assert float(problem.output) == pytest.approx(-1.25)
    rows = run_case(case)
    jax_rows = {r.input: r for r in rows if r.method == "jax"}
    assert set(jax_rows) == {"x", "params.w", "params.b.c"}
    assert all(r.status is Status.PASS for r in rows)


def test_rng_seed_makes_a_stochastic_forward_repeat():
    text = "name: t\ntorch: cases.real.mixout_torch:mixout\nparams: {p: 0.5}\ninputs:\n" \
           "  w: {shape: [6], dist: normal}\n  target: {shape: [6], dist: normal}\nwrt: [w]\n"
    seeded = materialize(one(text + "rng_seed: 3\n"))
    points = list(seeded.inputs.values())
    assert np.array_equal(seeded.forward(*points), seeded.forward(*points))
    unseeded = materialize(one(text))
    outputs = {tuple(unseeded.forward(*points)) for _ in range(6)}
    assert len(outputs) > 1  # without the seed every call draws a new mask: the reference would be noise


def test_module_parameters_become_inputs_selectable_by_wrt():
    text = "name: m\nmodule: torch.nn:Linear\nframework: torch\ninit: {in_features: 3, out_features: 2}\n" \
           "inputs: {input: {shape: [4, 3], dist: normal}}\n"
    problem = materialize(one(text))
    assert tuple(problem.inputs) == ("input", "weight", "bias") and problem.wrt == ("input", "weight", "bias")
    x, w, b = problem.inputs.values()
    assert np.allclose(problem.output, x @ w.T + b, atol=1e-14)
    assert materialize(one(text)).inputs["weight"].tolist() == w.tolist()  # built under the case seed
    chosen = run_case(one(text + "wrt: [bias]\n"))
    assert {r.input for r in chosen} == {"bias"} and all(r.status is Status.PASS for r in chosen)
    with pytest.raises(CaseError, match="wrt: 'kernel' is not a floating input or parameter"):
        materialize(one(text + "wrt: [kernel]\n"))


@pytest.mark.parametrize("text, fragment", [
    ("name: m\nmodule: torch.nn:Linear\ninputs: {x: 1.0}\n", "'module' needs 'framework:'"),
    ("name: m\nframework: torch\nop: exp\ninputs: {x: 1.0}\n", "'framework' goes with 'module'"),
    ("name: m\nop: exp\ntorch: torch:exp\ninputs: {x: 1.0}\n", "an 'op' case has its own"),
    ("name: m\ntorch: torch:exp\nargs: [y]\ninputs: {x: 1.0}\n", "unknown name 'y'"),
    ("name: m\ntorch: torch:exp\ninputs: {x: {values: [1.5], dtype: int64}}\n", "whole numbers"),
    ("name: m\ntorch: torch:exp\ninputs: {x: {shape: [2, 3], dist: spd}}\n", "needs shape [..., n, n]"),
    ("name: m\ntorch: torch:exp\ninputs: {x: {shape: [2], dist: integers, low: 3, high: 3}}\n", "low < high"),
    ("name: m\nexpr: mean\ninputs: {mean: 1.0}\n", "'mean' is a function name in 'expr'"),
])
def test_new_keys_give_errors_naming_the_line(text, fragment):
    with pytest.raises(CaseFileError, match="cases/x.yaml:\\d+: ") as caught:
        one(text)
    assert fragment in str(caught.value)


def test_an_input_may_be_named_like_an_expr_function_outside_expr():
    case = one("name: m\ntorch: torch:add\ninputs: {mean: [1.0], sum: [2.0]}\n")
    assert case.wrt == ("mean", "sum")


def test_call_plans_pass_plain_leaves_straight_through_and_rebuild_the_rest():
    """Plain inputs in file order are the call's positional arguments as they come; a pytree or an
    `args:` order is rebuilt at every call."""
    from gradcheck.cases.native import CallPlan

    plain = one("name: t\nfunction: numpy:add\nparams: {dtype: float64}\ninputs: {x: [1.0], y: [2.0]}\n")
    plan = CallPlan(plain, ("x", "y"))
    assert plan.positional and plan.arguments([1, 2]) == ([1, 2], {"dtype": "float64"})
    reordered = one("name: t\nfunction: numpy:add\nargs: [y, x]\ninputs: {x: [1.0], y: [2.0]}\n")
    assert not CallPlan(reordered, ("x", "y")).positional
    assert CallPlan(reordered, ("x", "y")).arguments([1, 2]) == ([2, 1], {})
    tree = one("name: t\nfunction: numpy:add\ninputs: {p: {w: [1.0]}, x: [2.0]}\n")
    assert not CallPlan(tree, ("p.w", "x")).positional
    assert CallPlan(tree, ("p.w", "x")).arguments([1, 2]) == ([{"w": 1}, 2], {})
