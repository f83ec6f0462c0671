"""Tests for gradcheck.cases.expr: parsing/validation, evaluation in four frameworks, NumPy VJPs."""
import importlib.util
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from gradcheck.cases import CaseFileError, parse_cases
from gradcheck.cases.expr import (
    FUNCTIONS,
    Expr,
    ExprError,
    Library,
    library,
    parse,
    vjp,
)
from gradcheck.cases.expr_parser import ARITY
from gradcheck.compare.comparison import Status
from gradcheck.methods import Mode
from gradcheck.reports.table import render_text
from gradcheck.run.runner import RunOptions, run_case

NP = library("numpy")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ----------------------------------------------------------------------------- basics
def test_polynomial_value_and_gradient_exact():
    e = parse("3*w1**2 + 2*w1*w2", allowed_names=["w1", "w2"])
    assert e.names == ("w1", "w2")
    assert e.evaluate({"w1": 5.0, "w2": 3.0}, NP) == 105.0
    out, g = vjp(e, {"w1": np.array(5.0), "w2": np.array(3.0)}, np.array(1.0))
    assert out == 105.0
    assert g["w1"] == 36.0 and g["w2"] == 10.0
    assert g["w1"].shape == () and g["w2"].shape == ()


def test_x_times_x():
    out, g = vjp(parse("x*x"), {"x": np.array(3.0)}, np.array(1.0))
    assert out == 9.0 and g["x"] == 6.0


def test_quadratic_form_and_precedence():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    for src in ("2*(x@x)", "2*x@x"):  # '*' and '@' share precedence, left-assoc: (2*x)@x
        out, g = vjp(parse(src), {"x": x}, np.array(1.0))
        assert out == 28.0
        np.testing.assert_array_equal(g["x"], [0.0, 4.0, 8.0, 12.0])
    assert parse("2*x@x")._tree == ("bin", "@", ("bin", "*", ("num", 2.0), ("name", "x")), ("name", "x"))


def test_tree_shape_and_names_order():
    e = parse("b + -a * +c ** 2")
    assert e.names == ("b", "a", "c")
    assert e._tree == ("bin", "+", ("name", "b"),
                       ("bin", "*", ("neg", ("name", "a")), ("bin", "**", ("name", "c"), ("num", 2.0))))
    assert isinstance(parse("3")._tree[1], float)
    assert isinstance(e, Expr) and hash(e) == hash(parse("b + -a * +c ** 2"))
    assert set(FUNCTIONS) >= {"exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "abs", "sigmoid", "relu",
                              "sum", "mean"}
    assert isinstance(NP, Library) and NP.module is None


def test_whitespace_newlines_and_constants():
    e = parse("  x\n  + 1/0")
    assert e.evaluate({"x": 1.0}, NP) == np.inf
    assert np.isnan(parse("0/0").evaluate({}, NP))
    assert parse("exp(0) + 2**3").evaluate({}, NP) == 9.0


def test_numpy_sigmoid_stable_no_warnings():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = parse("sigmoid(x)").evaluate({"x": np.array([-1000.0, 0.0, 1000.0])}, NP)
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


def test_huge_power_is_fast_inf():
    t = time.perf_counter()
    e = parse("9**9**9**9")
    with np.errstate(over="ignore"):
        v = e.evaluate({}, NP)
    assert v == np.inf
    assert time.perf_counter() - t < 1.0


def test_import_is_light():
    code = ("import gradcheck.cases.expr, sys; "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules "
            "and 'jax' not in sys.modules")
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)


# ----------------------------------------------------------------------------- hostile inputs
HOSTILE = [
    ("__import__('os').system('ls')", "__import__", "call to '__import__'"),
    ("x.__class__", ".", "attribute access '.__class__'"),
    ("(lambda: 1)()", "lambda", "lambda"),
    ("[i for i in x]", "[i for i in x]", "comprehension"),
    ("x[0]", "[", "subscript"),
    ("open('f')", "open", "call to 'open'"),
    ("'a'", "'a'", "string literal"),
    ("x if x else x", "if", "conditional expression"),
    ("x < 1", "<", "comparison '<'"),
    ("exp(x, y)", "exp", "exactly 1 positional argument"),
    ("exp(x=1)", "x", "keyword argument 'x='"),
    ("sum(x, axis=y)", "y", "must be an integer"),
    ("x and y", "and", "'and'"),
    ("x // y", "//", "'//'"),
    ("(x := y)", ":=", "':='"),
    ("f'{x}'", "f'{x}'", "f-string"),
    ("exp(*x)", "*", "starred"),
    ("exp", "exp", "must be called"),
    ("foo(x)", "foo", "call to 'foo'"),
    ("(x + y)(x)", "x + y", "call of"),
    ("x, y", "x, y", "tuple"),
    ("None", "None", "constant"),
    ("not x", "not", "'not'"),
]


@pytest.mark.parametrize("src,token,fragment", HOSTILE)
def test_hostile_rejected(src, token, fragment):
    for allowed in (None, ("x", "y")):
        with pytest.raises(ExprError) as ei:
            parse(src, allowed_names=allowed)
        assert ei.value.token == token
        assert fragment in str(ei.value)
        assert token in str(ei.value) or token in src


def test_error_columns():
    with pytest.raises(ExprError) as ei:
        parse("  x . y")
    assert (ei.value.token, ei.value.col) == (".", 4)
    with pytest.raises(ExprError) as ei:
        parse("x + __import__('os')")
    assert (ei.value.token, ei.value.col) == ("__import__", 4)
    assert isinstance(ei.value, ValueError)


def test_unknown_name():
    with pytest.raises(ExprError) as ei:
        parse("os", allowed_names=("x", "y"))
    assert ei.value.token == "os" and str(ei.value) == "name 'os' is not an input (inputs: x, y)"
    assert parse("os").names == ("os",)  # no allowed_names: any identifier is an input


def test_too_long_and_too_deep():
    with pytest.raises(ExprError, match="too long"):
        parse("x+" * 10_000 + "x")
    with pytest.raises(ExprError, match="nested too deeply"):
        parse("(" * 500 + "x" + ")" * 500)
    with pytest.raises(ExprError, match="nested too deeply"):
        parse("-" * 5000 + "x")
    with pytest.raises(ExprError):
        parse("x+" * 3000 + "x")
    assert parse("(" * 100 + "x" + ")" * 100).names == ("x",)


def test_syntax_error():
    with pytest.raises(ExprError, match="invalid syntax"):
        parse("x +")
    with pytest.raises(ExprError):
        parse("")


# ----------------------------------------------------------------------------- VJP vs finite differences
def _fd(expr, env, cot, eps=1e-6):
    grads = {}
    for name in expr.names:
        x = np.array(env[name], dtype=np.float64)
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            vals = []
            for s in (eps, -eps):
                xp = x.copy()
                xp[i] += s
                vals.append(np.sum(cot * expr.evaluate({**env, name: xp}, NP)))
            g[i] = (vals[0] - vals[1]) / (2 * eps)
        grads[name] = g
    return grads


def _check(src, env, seed=0):
    rng = np.random.default_rng(seed)
    e = parse(src)
    out = np.asarray(e.evaluate(env, NP))
    cot = rng.normal(size=out.shape)
    val, g = vjp(e, env, cot)
    np.testing.assert_allclose(val, out, rtol=1e-12)
    fd = _fd(e, env, cot)
    assert set(g) == set(e.names)
    for name in e.names:
        assert g[name].shape == np.shape(env[name]), name
        np.testing.assert_allclose(g[name], fd[name], rtol=1e-6, atol=1e-8, err_msg=f"{src}: {name}")


def _rand(rng, *shape, lo=-1.0, hi=1.0, away=0.1):
    x = rng.uniform(lo, hi, size=shape)
    return np.where(np.abs(x) < away, np.copysign(away, x) + x, x)


@pytest.mark.parametrize("f", FUNCTIONS)
def test_vjp_functions(f):
    rng = np.random.default_rng(1)
    positive = f in ("log", "sqrt")
    x = rng.uniform(0.5, 2.0, size=(3, 4)) if positive else _rand(rng, 3, 4)
    y = rng.uniform(0.5, 1.0, size=(4,))
    if ARITY[f] == 2:  # maximum, minimum: x * y and x never tie, since 0.5 <= y < 1 and |x| >= 0.1
        _check(f"{f}(x, y)", {"x": x, "y": y})
        _check(f"{f}(x * y, x)", {"x": x, "y": y})
        return
    _check(f"{f}(x)", {"x": x})
    _check(f"{f}(x * y)", {"x": x, "y": y})


@pytest.mark.parametrize("src,shapes", [
    ("x * y + y", {"x": (3, 4), "y": (4,)}),
    ("x / y - y", {"x": (3, 4), "y": (3, 1)}),
    ("-x + 2 * y - x * y / 3", {"x": (2, 1, 4), "y": (3, 1)}),
    ("x * s", {"x": (2, 3), "s": ()}),
    ("x ** y", {"x": (3, 4), "y": (4,)}),
    ("x ** 3 + x ** 0.5 - x ** -1.5", {"x": (5,)}),
    ("2 ** x + x ** x", {"x": (2, 3)}),
    ("s ** x", {"s": (), "x": (3,)}),
    ("A @ B", {"A": (3, 4), "B": (4, 5)}),
    ("v @ A", {"v": (3,), "A": (3, 4)}),
    ("A @ v", {"A": (3, 4), "v": (4,)}),
    ("v @ w", {"v": (4,), "w": (4,)}),
    ("P @ Q", {"P": (2, 3, 4), "Q": (2, 4, 5)}),
    ("P @ B", {"P": (2, 3, 4), "B": (4, 5)}),
    ("P @ Q", {"P": (2, 1, 3, 4), "Q": (3, 4, 2)}),
    ("v @ P", {"v": (3,), "P": (2, 3, 4)}),
    ("P @ v", {"P": (2, 3, 4), "v": (4,)}),
    ("sum(sigmoid(x @ w) * 2)", {"x": (5, 3), "w": (3,)}),
    ("mean(tanh(x) * exp(-x)) / (1 + abs(y)) + sum(relu(x @ x))", {"x": (3, 3), "y": (2,)}),
    ("sqrt(x * x + 1) * log(1 + x * x) + tan(x) * cos(x) - sin(x)", {"x": (4,)}),
])
def test_vjp_shapes(src, shapes):
    rng = np.random.default_rng(2)
    env = {k: rng.uniform(0.5, 1.5, size=s) for k, s in shapes.items()}
    _check(src, env)


def test_vjp_pow_constant_exponent_does_not_touch_log():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # log of a negative base would warn
        _, g = vjp(parse("x ** 2"), {"x": np.array([-3.0, 0.0, 2.0])}, np.ones(3))
    np.testing.assert_array_equal(g["x"], [-6.0, 0.0, 4.0])
    _, g = vjp(parse("x ** y"), {"x": np.array([0.0, 2.0]), "y": np.array([2.0, 3.0])}, np.ones(2))
    np.testing.assert_allclose(g["y"], [0.0, 8 * np.log(2.0)])


def test_vjp_integer_inputs_give_float_gradients():
    _, g = vjp(parse("3*w1**2 + 2*w1*w2"), {"w1": 5, "w2": 3}, 1.0)
    assert g["w1"].dtype == np.float64 and g["w1"] == 36.0 and g["w2"] == 10.0


# ----------------------------------------------------------------------------- frameworks
FW_EXPR = "sum(sigmoid(x @ w) * 2) + mean(relu(x) ** 2) - sqrt(abs(w @ w) + 1) * 0.5"


def _fw_env(seed=3):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(4, 3)), "w": rng.normal(size=(3,))}


def _np_reference(src, env):
    e = parse(src)
    return vjp(e, env, np.array(1.0))


EVAL_EXPRS = [FW_EXPR, "exp(x) * log(abs(x) + 1) - tan(x) / 3 + cos(x) * sin(x) + tanh(x)",
              "x @ w + sum(2 ** w - w ** 3)", "w @ w", "v @ x", "exp(2) * x"]


F32_EXPR = "exp(2) * x + 2 ** x - x ** 2 / 3 + v @ x @ w + sqrt(4)"


def _check_f32(to_fw, lib, to_np):
    """Constant subexpressions stay Python floats, so float32 inputs give float32 results."""
    env = {k: v.astype(np.float32) for k, v in _env_all().items()}
    fw_env = {k: to_fw(v) for k, v in env.items()}
    out = parse(F32_EXPR).evaluate(fw_env, lib)
    assert "float32" in str(out.dtype)
    np.testing.assert_allclose(to_np(out), parse(F32_EXPR).evaluate(env, NP), rtol=1e-5)
    assert np.isnan(to_np(parse("x + 0/0").evaluate(fw_env, lib))).all()


def _env_all(seed=4):
    env = _fw_env(seed)
    env["v"] = np.random.default_rng(seed).normal(size=(4,))
    return env


def test_torch():
    torch = pytest.importorskip("torch")
    lib = library("torch")
    assert lib.name == "torch"
    _check_f32(torch.tensor, lib, lambda t: t.numpy())
    env = _env_all()
    for src in EVAL_EXPRS:
        t_env = {k: torch.tensor(v) for k, v in env.items()}
        np.testing.assert_allclose(parse(src).evaluate(t_env, lib).numpy(),
                                   parse(src).evaluate(env, NP), rtol=1e-12, err_msg=src)
    env = _fw_env()
    t_env = {k: torch.tensor(v, requires_grad=True) for k, v in env.items()}
    out = parse(FW_EXPR).evaluate(t_env, lib)
    out.backward()
    val, g = _np_reference(FW_EXPR, env)
    np.testing.assert_allclose(out.item(), val, rtol=1e-12)
    for k in env:
        np.testing.assert_allclose(t_env[k].grad.numpy(), g[k], rtol=1e-10)


def test_tensorflow():
    tf = pytest.importorskip("tensorflow")
    lib = library("tensorflow")
    assert lib.name == "tensorflow"
    _check_f32(tf.constant, lib, lambda t: t.numpy())
    env = _env_all()
    for src in EVAL_EXPRS:
        t_env = {k: tf.constant(v) for k, v in env.items()}
        np.testing.assert_allclose(parse(src).evaluate(t_env, lib).numpy(),
                                   parse(src).evaluate(env, NP), rtol=1e-12, err_msg=src)
    env = _fw_env()
    t_env = {k: tf.constant(v) for k, v in env.items()}
    with tf.GradientTape() as tape:
        for v in t_env.values():
            tape.watch(v)
        out = parse(FW_EXPR).evaluate(t_env, lib)
    grads = tape.gradient(out, t_env)
    val, g = _np_reference(FW_EXPR, env)
    np.testing.assert_allclose(out.numpy(), val, rtol=1e-12)
    for k in env:
        np.testing.assert_allclose(grads[k].numpy(), g[k], rtol=1e-10)


def test_jax():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:
        from jax.experimental import enable_x64
    lib = library("jax")
    assert lib.name == "jax"
    _check_f32(jnp.asarray, lib, np.asarray)
    with enable_x64(True):
        env = _env_all()
        for src in EVAL_EXPRS:
            j_env = {k: jnp.asarray(v) for k, v in env.items()}
            np.testing.assert_allclose(np.asarray(parse(src).evaluate(j_env, lib)),
                                       parse(src).evaluate(env, NP), rtol=1e-12, err_msg=src)
        env = _fw_env()
        e = parse(FW_EXPR)
        val_j, grads = jax.value_and_grad(lambda d: e.evaluate(d, lib))(
            {k: jnp.asarray(v) for k, v in env.items()})
        val, g = _np_reference(FW_EXPR, env)
        np.testing.assert_allclose(float(val_j), val, rtol=1e-12)
        for k in env:
            np.testing.assert_allclose(np.asarray(grads[k]), g[k], rtol=1e-10)


# ----------------------------------------------------------------------------- selections and logsumexp
SELECT_EXPR = "logsumexp(x, axis=0) + max(x * y, axis=1)"
# x * y = [[1, 6], [2, 2]]: row 0's max is x[0, 1] * y[1]; row 1 ties, so each of its two products gets half.
SELECT_ENV = {"x": np.array([[1.0, 3.0], [2.0, 1.0]]), "y": np.array([1.0, 2.0])}


def test_selection_and_logsumexp_calls_parse():
    assert {"maximum", "minimum", "max", "min", "logsumexp"} <= set(FUNCTIONS)
    assert parse(SELECT_EXPR)._tree == (
        "bin", "+", ("call", "logsumexp", (("name", "x"),), (("axis", 0),)),
        ("call", "max", (("bin", "*", ("name", "x"), ("name", "y")),), (("axis", 1),)))
    assert parse("maximum(x, y)")._tree == ("call", "maximum", (("name", "x"), ("name", "y")), ())
    assert parse("min(x, axis=[0, 1])")._tree[3] == (("axis", (0, 1)),)


@pytest.mark.parametrize("src,token,fragment", [
    ("maximum(x)", "maximum", "takes exactly 2 positional arguments (1 given)"),
    ("maximum", "maximum", "must be called with 2 arguments"),
    ("maximum(x, y, axis=0)", "axis", "keyword argument 'axis='"),
    ("max(x, axis=[0, 0])", "[0, 0]", "repeated axis"),
    ("logsumexp(x, axis=y)", "y", "must be an integer"),
])
def test_selection_calls_rejected(src, token, fragment):
    with pytest.raises(ExprError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as ei:
        parse(src, allowed_names=("x", "y"))
    assert ei.value.token == token


def test_selection_and_logsumexp_closed_form():
    e = np.e
    value = parse(SELECT_EXPR).evaluate(SELECT_ENV, NP)
    np.testing.assert_allclose(value, [np.log(e + e**2) + 6.0, np.log(e**3 + e) + 2.0], rtol=1e-15)
    _, g = vjp(parse(SELECT_EXPR), SELECT_ENV, np.ones(2))
    # logsumexp over axis 0 pulls back the column softmax; max pulls back y (for x) and x (for y),
    # halved on row 1's tie.
    softmax = np.array([[1 / (1 + e), e**2 / (e**2 + 1)], [e / (1 + e), 1 / (e**2 + 1)]])
    np.testing.assert_allclose(g["x"], softmax + [[0.0, 2.0], [0.5, 1.0]], rtol=1e-15)
    np.testing.assert_allclose(g["y"], [1.0, 3.5], rtol=1e-15)
    _, g = vjp(parse("maximum(x, y)"), {"x": np.array([1.0, 2.0, 3.0]), "y": np.array([1.0, 5.0, 0.0])},
               np.array([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(g["x"], [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(g["y"], [1.0, 2.0, 0.0])


def _framework_value_and_grads(framework, source, env):
    """The expression's value and its gradient of sum(value) in `framework`, as NumPy arrays."""
    module, lib, e = pytest.importorskip(framework), library(framework), parse(source)
    if framework == "torch":
        tensors = {k: module.tensor(v, requires_grad=True) for k, v in env.items()}
        out = e.evaluate(tensors, lib)
        out.sum().backward()
        return out.detach().numpy(), {k: t.grad.numpy() for k, t in tensors.items()}
    if framework == "tensorflow":
        tensors = {k: module.constant(v) for k, v in env.items()}
        with module.GradientTape() as tape:
            tape.watch(list(tensors.values()))
            out = e.evaluate(tensors, lib)
            total = module.reduce_sum(out)
        return out.numpy(), {k: g.numpy() for k, g in tape.gradient(total, tensors).items()}
    with module.enable_x64(True):
        tensors = {k: module.numpy.asarray(v) for k, v in env.items()}
        _, grads = module.value_and_grad(lambda d: e.evaluate(d, lib).sum())(tensors)
        return np.asarray(e.evaluate(tensors, lib)), {k: np.asarray(g) for k, g in grads.items()}


@pytest.mark.parametrize("framework", ["torch", "tensorflow", "jax"])
def test_selection_and_logsumexp_in_each_framework(framework):
    rng = np.random.default_rng(5)
    env = {"x": rng.normal(size=(4, 4)), "y": rng.normal(size=(4,))}
    for source in (SELECT_EXPR, "maximum(x, y) - minimum(x * y, x) + maximum(x, 0) + min(x, axis=[0, 1])"):
        value, grads = _framework_value_and_grads(framework, source, env)
        want, want_grads = vjp(parse(source), env, np.ones_like(value))
        np.testing.assert_allclose(value, want, rtol=1e-13, err_msg=source)
        for name in env:
            np.testing.assert_allclose(grads[name], want_grads[name], rtol=1e-12, err_msg=f"{source}: {name}")
    # at a tie every framework splits the cotangent, as the hand-written VJP does
    _, grads = _framework_value_and_grads(framework, SELECT_EXPR, SELECT_ENV)
    _, want_grads = vjp(parse(SELECT_EXPR), SELECT_ENV, np.ones(2))
    np.testing.assert_allclose(grads["x"], want_grads["x"], rtol=1e-14)


SELECT_CASES = f"""
cases:
  - name: lse-plus-max
    expr: "{SELECT_EXPR}"
    inputs: {{x: {{shape: [4, 4], dist: normal}}, y: {{shape: [4], dist: normal}}}}
  - name: lse-plus-max-tie
    expr: "{SELECT_EXPR}"
    inputs: {{x: [[1.0, 3.0], [2.0, 1.0]], y: [1.0, 2.0]}}
  - name: maximum-with-ties
    expr: "maximum(x, y)"
    inputs: {{x: [[1.0, -2.0], [0.5, 3.0]], y: [[1.0, 1.0], [-0.5, 3.0]]}}
"""


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_selection_expressions_pass_every_method(dtype):
    frameworks = [f for f in ("torch", "tensorflow", "jax") if importlib.util.find_spec(f)]
    methods = ("numeric", "vjp", *frameworks, *(f"{f}-jvp" for f in frameworks))
    for case in parse_cases(SELECT_CASES, "selection.yaml"):
        rows = run_case(case, RunOptions(methods=methods, dtype=dtype, mode=Mode.FULL))
        assert {row.method for row in rows} == set(methods), case.name
        assert all(row.status is Status.PASS for row in rows), render_text(rows)


def test_function_names_are_refused_as_inputs_of_expressions_only():
    (case,) = parse_cases("name: clip\nfunction: numpy:clip\ninputs: {x: [0.5], min: [0.0], max: [1.0]}\n")
    assert tuple(spec.name for spec in case.inputs) == ("x", "min", "max")
    with pytest.raises(CaseFileError, match="c.yaml:4: .*input name 'max' is a function name"):
        parse_cases("name: e\nexpr: max(x, axis=0)\ninputs:\n  max: [1.0]\n", "c.yaml")
    with pytest.raises(CaseFileError, match=r"c.yaml:2: .*expr.*repeated axis"):
        parse_cases("name: e\nexpr: max(x, axis=[0, 0])\ninputs: {x: [[1.0]]}\n", "c.yaml")


# ----------------------------------------------------------------------------- log1p, expm1, softplus
SOFT_EXPR = "softplus(x) + log1p(y) * expm1(x)"


def test_softplus_log1p_expm1_values_and_gradients():
    # f = ln(1 + e^x) + ln(1 + y) (e^x - 1);  df/dx = sigmoid(x) + ln(1 + y) e^x,  df/dy = (e^x - 1) / (1 + y).
    x, y = np.array([-2.0, 0.0, 0.5, 3.0]), np.array([-0.5, 1.0, 0.25, 2.0])
    e = parse(SOFT_EXPR)
    assert e.names == ("x", "y") and {"softplus", "log1p", "expm1"} <= set(FUNCTIONS)
    value = [math.log(1 + math.exp(a)) + math.log(1 + b) * (math.exp(a) - 1) for a, b in zip(x, y)]
    dx = [1 / (1 + math.exp(-a)) + math.log(1 + b) * math.exp(a) for a, b in zip(x, y)]
    dy = [(math.exp(a) - 1) / (1 + b) for a, b in zip(x, y)]
    np.testing.assert_allclose(e.evaluate({"x": x, "y": y}, NP), value, rtol=1e-14)
    out, g = vjp(e, {"x": x, "y": y}, np.ones(4))
    np.testing.assert_allclose(out, value, rtol=1e-14)
    np.testing.assert_allclose(g["x"], dx, rtol=1e-14)
    np.testing.assert_allclose(g["y"], dy, rtol=1e-14)
    assert g["y"][1] == 0.0 and out[1] == pytest.approx(math.log(2.0), rel=1e-15)  # x = 0: ln 2, expm1 = 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softplus_log1p_expm1_pass_every_method(dtype):
    (case,) = parse_cases(f"name: soft\nexpr: '{SOFT_EXPR}'\ninputs:\n  x: {{shape: [3, 4], dist: normal}}\n"
                          "  y: {shape: [4], dist: uniform, low: -0.5, high: 2}\n")
    frameworks = [f for f in ("torch", "tensorflow", "jax") if importlib.util.find_spec(f) is not None]
    methods = ("numeric", "vjp", *frameworks, *(f"{f}-jvp" for f in frameworks))
    rows = run_case(case, RunOptions(methods=methods, dtype=dtype, mode=Mode.FULL))
    assert {row.method for row in rows} == set(methods)
    assert all(row.status is Status.PASS for row in rows), [(r.method, r.input, r.message) for r in rows]
