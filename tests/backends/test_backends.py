"""Framework adapters: torch, tensorflow, jax and their -jvp twins, against the reference.

Tests that need a framework skip when it is not installed (pytest.importorskip);
the ones about laziness and missing frameworks run anywhere.
"""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import gradcheck
from gradcheck import backends
from gradcheck.cases import load_cases, parse_cases
from gradcheck.cases.problem import materialize
from gradcheck.cli import main
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.crosscheck import disagreements
from gradcheck.engine.directional import reference_jvp
from gradcheck.methods import FORWARD_MODE, REVERSE_MODE, Mode
from gradcheck.ops import OPS
from gradcheck.run.references import seeded_tangent
from gradcheck.run.runner import RunOptions, run_case
from tests.backends.frameworks import FRAMEWORKS, REPO, at_repo_root, need  # noqa: F401 (a fixture)

SEEDS = {case.name: case for case in load_cases([REPO / "cases" / "seeds.yaml"])}


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def statuses(rows):
    return {(row.method, row.input): row.status.value for row in rows}


# ---------------------------------------------------------------- the seed answers, framework by framework


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_seed_gradients_match_the_published_answers(framework):
    need(framework)
    backend = backends.get_backend(framework)
    grads = lambda name: backend.gradients(materialize(SEEDS[name]).task(framework))  # noqa: E731
    np.testing.assert_allclose(grads("sigmoid-seed")["x"], [0.0451767, 0.0353254, 0.0199442], rtol=1e-5)
    matmul = grads("matmul-seed")
    np.testing.assert_array_equal(matmul["x"], [[14, 20], [32, 46]])
    np.testing.assert_array_equal(matmul["y"], [[18, 26], [22, 32]])
    np.testing.assert_array_equal(grads("conv2d-seed")["w"], [[[[96, 114], [114, 132]]]])
    poly = grads("poly-seed")
    assert (poly["w1"], poly["w2"]) == (36.0, 10.0)
    np.testing.assert_array_equal(grads("quadratic-form-seed")["x"], [0, 4, 8, 12])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_seed_jvps_match_the_directional_reference(framework):
    need(framework)
    backend = backends.get_backend(f"{framework}-jvp")
    problem = materialize(SEEDS["conv2d-seed"])
    for index, name in enumerate(problem.inputs):
        tangent = seeded_tangent(problem, name)
        got = backend.jvp(problem.task(framework), index, tangent)
        # conv2d is bilinear: J_x u = conv2d(u, w), J_w u = conv2d(x, u), exactly.
        args = list(problem.inputs.values())
        args[index] = tangent
        np.testing.assert_allclose(got, OPS["conv2d"].forward(*args, **problem.case.params), rtol=1e-12)


def test_seeds_show_every_method_and_pass():
    for framework in FRAMEWORKS:
        need(framework)
    result = invoke("run", "cases/seeds.yaml", "-v")  # every row: a long run's passes otherwise fold per case
    assert result.exit_code == 0, result.output
    methods = {line.split()[1] for line in result.output.splitlines() if line.startswith("sigmoid-seed")}
    assert methods == {"numeric", "vjp", "expect", *REVERSE_MODE, *FORWARD_MODE}
    assert "0 failed" in result.output and "0 skipped" in result.output and "0 errors" in result.output


# ---------------------------------------------------------------- every shipped case, two dtypes


# float32 is the default-suite check; float64 is covered fast by the seeds above and in full here when slow.
@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=pytest.mark.slow)])
def test_every_shipped_case_passes_in_every_framework(dtype):
    available = [f for f in FRAMEWORKS if backends.get_backend(f).available()]
    if not available:
        pytest.skip("no framework installed")
    for framework in available:
        need(framework)
    methods = ("numeric", *available, *(f"{f}-jvp" for f in available))
    options = RunOptions(methods=methods, dtype=dtype)
    rows = [row for case in load_cases([REPO / "cases"]) for row in run_case(case, options)]
    bad = [f"{row.path}: {row.status} {row.message}" for row in rows if row.status is not Status.PASS]
    assert not bad, "\n".join(bad)
    checked = {row.method for row in rows}
    assert set(available) <= checked and {f"{f}-jvp" for f in available} <= checked


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_narrow_dtypes_where_the_framework_allows(framework, dtype):
    need(framework)
    case = parse_cases("name: sig\nop: sigmoid\ninputs: {x: {shape: [50], dist: normal}}\n")[0]
    rows = run_case(case, RunOptions(methods=("numeric", framework, f"{framework}-jvp"), dtype=dtype))
    assert all(row.status is Status.PASS for row in rows), gradcheck.Result(tuple(rows))


# ---------------------------------------------------------------- lowering


CONV_PARAMS = [
    {"stride": 1, "padding": "valid"}, {"stride": 1, "padding": "same"}, {"stride": 2, "padding": "same"},
    {"stride": [2, 1], "padding": "same"}, {"stride": 1, "padding": 2}, {"stride": 2, "padding": [1, 0]},
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_conv2d_lowering_matches_the_numpy_op(framework):
    module = need(framework)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 4, 3))  # even kernel height
    as_tensor = {"torch": lambda a: module.tensor(a), "tensorflow": lambda a: module.constant(a),
                 "jax": lambda a: a}[framework]
    for params in CONV_PARAMS:
        params = OPS["conv2d"].check_params(params)
        lower = OPS["conv2d"].lowering(framework)
        if framework == "jax":
            from jax import enable_x64

            with enable_x64(True):
                got = np.asarray(lower(module, x, w, **params))
        else:
            got = np.asarray(lower(module, as_tensor(x), as_tensor(w), **params))
        np.testing.assert_allclose(got, OPS["conv2d"].forward(x, w, **params), rtol=1e-12, atol=1e-12,
                                   err_msg=str(params))


def test_every_op_is_lowered_for_every_framework():
    for op in OPS.values():
        assert op.frameworks == FRAMEWORKS, op.name
    result = invoke("ops")
    lines = result.output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("conv2d"))
    # the row and the lines a narrow table wraps it onto (blank under "op")
    wrapped = itertools.takewhile(lambda line: line.startswith(" "), lines[first + 1:])
    conv = " ".join([lines[first], *wrapped])
    assert "torch-jvp" in conv and "tensorflow" in conv and "jax-jvp" in conv


def test_conv2d_with_extra_batch_axes_is_skipped_not_failed():
    need("torch")
    case = parse_cases("name: c\nop: conv2d\ninputs:\n  x: {shape: [2, 1, 1, 5, 5]}\n"
                       "  w: {shape: [1, 1, 2, 2]}\n")[0]
    rows = run_case(case, RunOptions(methods=("numeric", "vjp", "torch")))
    assert statuses(rows)[("torch", "x")] == "skip"
    assert "4-D" in rows[-1].message and statuses(rows)[("vjp", "x")] == "pass"


# ---------------------------------------------------------------- user functions


def _swish_modules(framework):
    need(framework)
    import importlib

    good = importlib.import_module(f"cases.custom.swish_{framework}")
    bad = importlib.import_module(f"tests.fixtures.bad_swish_{framework}")
    return good.swish, bad.swish


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_wrong_custom_backward_fails_and_its_correct_twin_passes(framework):
    from cases.custom.swish_numpy import swish, swish_vjp

    good, bad = _swish_modules(framework)
    x = np.array([-3.0, -1.0, -0.5, 0.5, 1.0, 2.0, 4.0])
    dz = np.ones_like(x)
    passed = gradcheck.check(swish, {"x": x}, vjp=swish_vjp, cotangent=dz, **{framework: good})
    assert passed.passed, passed
    assert statuses(passed.comparisons)[(framework, "x")] == "pass"
    failed = gradcheck.check(swish, {"x": x}, vjp=swish_vjp, cotangent=dz, **{framework: bad})
    assert not failed.passed
    row = next(c for c in failed.comparisons if c.method == framework)
    # The bad backward returns s instead of s (1 + x (1 - s)); the margin is largest where the
    # missing term x s (1 - s) is largest against the true value's tolerance.
    s = 1 / (1 + np.exp(-x))
    true = s * (1 + x * (1 - s))
    worst = int(np.argmax(np.abs(x * s * (1 - s)) / (1e-10 + 1e-7 * np.abs(true))))
    assert row.status is Status.FAIL and row.worst_index == (worst,) == (1,)
    assert row.got == pytest.approx(s[1]) and row.want == pytest.approx(true[1], rel=1e-9)
    assert statuses(failed.comparisons)[("vjp", "x")] == "pass"


def test_wrong_custom_backwards_fail_through_the_cli():
    for framework in FRAMEWORKS:
        need(framework)
    result = invoke("run", "tests/fixtures/bad_swish.yaml")
    assert result.exit_code == 1, result.output
    for framework in FRAMEWORKS:
        assert f"FAIL bad-swish › {framework} › x › [1]" in result.output
    assert ("frameworks disagree on case bad-swish input x: torch (margin 2.7e+07x), tensorflow "
            "(margin 2.7e+07x), jax (margin 2.7e+07x) depart from the reference, vjp agrees with it"
            ) in result.output


def test_shipped_custom_functions_pass_in_one_table():
    for framework in FRAMEWORKS:
        need(framework)
    result = invoke("run", "cases/custom")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith("swish-custom ")]
    assert [row[1] for row in rows] == ["numeric", "vjp", "torch", "tensorflow", "jax"]
    assert all(row[-1] == "PASS" for row in rows)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_user_function_errors_become_error_rows(framework):
    need(framework)

    def raises(x, y):
        raise RuntimeError("boom in user code")

    def wrong_shape(x, y):
        return (x * y)[:2]

    x, y = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    for function, message in ((raises, "RuntimeError: boom in user code"),
                              (wrong_shape, "returned shape [2], but the NumPy forward's output has shape [3]")):
        result = gradcheck.check(lambda a, b: a * b, {"x": x, "y": y}, **{framework: function})
        rows = [c for c in result.comparisons if c.method == framework]
        assert [c.status for c in rows] == [Status.ERROR, Status.ERROR], result
        assert message in rows[0].message


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_a_gradient_that_is_none_for_an_input_in_wrt_is_an_error(framework):
    need(framework)
    # The framework function ignores y: torch (allow_unused) and the tape return None for it.
    result = gradcheck.check(lambda x, y: 2 * x + 0 * y, {"x": [1.0, 2.0], "y": [3.0, 4.0]},
                             **{framework: lambda x, y: 2 * x})
    assert statuses(result.comparisons)[(framework, "x")] == "pass"
    assert statuses(result.comparisons)[(framework, "y")] == "error"


def test_forward_mode_of_user_functions_runs_when_asked_for_and_catches_a_wrong_rule():
    jax = need("jax")
    from cases.custom.swish_numpy import swish

    @jax.custom_jvp
    def wrong(x):
        return x * jax.nn.sigmoid(x)

    @wrong.defjvp
    def _wrong_jvp(primals, tangents):
        (x,), (u,) = primals, tangents
        return wrong(x), jax.nn.sigmoid(x) * u  # forgets x s (1 - s)

    x = np.linspace(-3, 3, 7)
    default = gradcheck.check(swish, {"x": x}, jax=wrong)
    assert {c.method for c in default.comparisons} == {"numeric", "jax"}  # no -jvp unless asked
    asked = gradcheck.check(swish, {"x": x}, jax=wrong, methods=["jax-jvp"])
    assert statuses(asked.comparisons) == {("jax-jvp", "x"): "fail"}


# ---------------------------------------------------------------- settings that must not leak or speak


def test_float64_jax_does_not_leave_64_bit_mode_on():
    jax = need("jax")
    before = jax.config.jax_enable_x64
    rows = run_case(SEEDS["sigmoid-seed"], RunOptions(methods=("numeric", "jax", "jax-jvp")))
    assert all(row.status is Status.PASS for row in rows)
    assert rows[1].max_abs_err < 1e-13  # computed in float64, not float32
    assert jax.config.jax_enable_x64 == before and jax.numpy.ones(1).dtype == np.dtype("float32")


def test_cuda_rows_skip_with_a_message_when_there_is_no_gpu():
    torch = need("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    rows = run_case(SEEDS["sigmoid-seed"], RunOptions(methods=("numeric", "torch", "torch-jvp"), device="cuda"))
    # every analytic row skipped: the case also says it compared nothing (issue 10)
    assert statuses(rows) == {("numeric", "x"): "pass", ("torch", "x"): "skip", ("torch-jvp", "x"): "skip",
                              ("expect", "x"): "pass", ("(none)", "-"): "skip"}
    assert rows[-1].message == "nothing to compare: every analytic method was skipped"
    assert "no CUDA device for torch" in rows[1].message
    jax = need("jax")
    if not any(device.platform == "gpu" for device in jax.devices()):
        rows = run_case(SEEDS["sigmoid-seed"], RunOptions(methods=("jax",), device="cuda"))
        assert statuses(rows) == {("jax", "x"): "skip", ("(none)", "-"): "skip"}
        assert "no CUDA device for jax" in rows[0].message


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **env})


def test_tensorflow_start_up_noise_never_reaches_the_terminal():
    need("tensorflow")
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_")}
    done = subprocess.run(
        [sys.executable, "-m", "gradcheck", "run", "cases/seeds.yaml", "-k", "sigmoid",
         "--method", "numeric", "--method", "tensorflow", "--method", "tensorflow-jvp"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**env, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # On a loaded machine the run passes 10 s and gradcheck's own progress lines (stderr, piped) appear:
    # they are ours, not TensorFlow's start-up noise.
    noise = [line for line in done.stderr.splitlines() if not line.startswith("gradcheck: ")]
    assert noise == []
    assert "oneDNN" not in done.stdout and "cpu_feature_guard" not in done.stdout


_HEAVY = "print(sorted(m for m in ('torch', 'tensorflow', 'jax', 'ml_dtypes') if m in sys.modules))"


@pytest.mark.parametrize("args", [["--help"], ["list", "cases/"], ["ops"],
                                  ["run", "cases/seeds.yaml", "--method", "numeric", "--method", "vjp"]])
def test_help_list_and_numpy_runs_import_no_framework(args):
    code = ("import sys\nfrom gradcheck.cli import main\n"
            f"try:\n    main({args!r}, prog_name='gradcheck')\nexcept SystemExit as exit:\n"
            "    assert exit.code in (0, None), exit.code\n" + _HEAVY)
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


# Only NumPy: every framework import fails, as when none is installed.
_NO_FRAMEWORKS = "import sys\nfor name in ('torch', 'tensorflow', 'jax'):\n    sys.modules[name] = None\n"


def test_with_only_numpy_the_seed_run_exits_0_with_skips_naming_the_extra():
    code = _NO_FRAMEWORKS + (
        "from gradcheck.cli import main\n"
        "main(['run', 'cases/seeds.yaml', '--json', sys.argv[1]], prog_name='gradcheck')\n")
    report = REPO / ".pytest-only-numpy.json"
    try:
        done = subprocess.run([sys.executable, "-c", code, str(report)], cwd=REPO, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stdout + done.stderr
        results = json.loads(report.read_text())["results"]
    finally:
        report.unlink(missing_ok=True)
    for method in (*REVERSE_MODE, *FORWARD_MODE):
        rows = [r for r in results if r["method"] == method]
        assert rows and all(r["status"] == "skip" for r in rows), method
        extra = method.removesuffix("-jvp")
        assert all(f"pip install 'gradcheck[{extra}]'" in r["message"] for r in rows)
    assert all(r["status"] == "pass" for r in results if r["method"] in ("numeric", "vjp", "expect"))
    # Under the table, one line per missing framework, not one per case.
    torch_rows = sum(r["method"] in ("torch", "torch-jvp") for r in results)
    assert f"{torch_rows} rows skipped: torch is not installed (pip install 'gradcheck[torch]')" in done.stdout
    assert " SKIP" not in done.stdout  # folded out of the table
    assert done.stdout.count("not installed") == 3


def test_asking_for_a_missing_framework_is_a_usage_error():
    code = _NO_FRAMEWORKS + (
        "from gradcheck.cli import main\n"
        "main(['run', 'cases/seeds.yaml', '--method', 'torch'], prog_name='gradcheck')\n")
    done = _python(code)
    assert done.returncode == 2
    assert "--method torch: torch is not installed (pip install 'gradcheck[torch]')" in done.stderr


def test_a_missing_framework_skips_in_process(monkeypatch):
    monkeypatch.setattr("gradcheck.backends.framework.installed", lambda package: False)
    rows = run_case(SEEDS["poly-seed"], RunOptions(methods=("numeric", "jax", "torch-jvp")))
    assert statuses(rows) == {("numeric", "w1"): "pass", ("numeric", "w2"): "pass", ("jax", "w1"): "skip",
                              ("jax", "w2"): "skip", ("torch-jvp", "w1"): "skip", ("torch-jvp", "w2"): "skip",
                              ("expect", "w1"): "pass", ("expect", "w2"): "pass", ("(none)", "-"): "skip"}
    assert "jax is not installed (pip install 'gradcheck[jax]')" in rows[2].message


# ---------------------------------------------------------------- the directional reference and the cross view


def test_directional_reference_of_a_cubic():
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    u = np.array([[1.0, 0.5], [-2.0, 0.25]])
    reference = reference_jvp(lambda a: a**3, [x], 0, u)
    np.testing.assert_allclose(reference.value, 3 * x**2 * u, rtol=1e-12)
    assert np.all(reference.error < 1e-9) and reference.kinks == 0
    np.testing.assert_array_equal(reference.lower, reference.value)
    np.testing.assert_array_equal(reference.upper, reference.value)


def test_directional_reference_retries_at_a_domain_edge():
    # log near 0: the first step leaves the domain for the first element; smaller steps recover it.
    x, u = np.array([0.01, 5.0, 3.0]), np.array([-1.0, 1.0, 1.0])
    reference = reference_jvp(np.log, [x], 0, u)
    np.testing.assert_allclose(reference.value, u / x, rtol=1e-9)


def _row(method, status, margin):
    return Comparison(case="c", file="f", line=1, method=method, input="x", status=status, margin=margin)


def test_disagreement_line_names_the_method_that_departs():
    rows = [_row("numeric", Status.PASS, None), _row("vjp", Status.PASS, 0.1), _row("torch", Status.FAIL, 3e4),
            _row("tensorflow", Status.PASS, 0.2), _row("jax", Status.PASS, 0.1), _row("jax-jvp", Status.SKIP, None)]
    assert disagreements(rows) == [
        "frameworks disagree on case c input x: torch (margin 3e+04x) departs from the reference, "
        "vjp/tensorflow/jax agree with it"
    ]
    assert disagreements([r for r in rows if r.method != "torch"]) == []  # all agree: nothing to say


# ---------------------------------------------------------------- 10,000 elements (slow)

BIG = """
cases:
  - {name: big-sigmoid, op: sigmoid, inputs: {x: {shape: [100, 100], dist: normal, std: 3.0}}}
  - {name: big-softmax, op: softmax, inputs: {x: {shape: [100, 100], dist: normal, std: 2.0}}}
  - {name: big-softmax-long, op: softmax, params: {axis: 0}, inputs: {x: {shape: [10000], dist: normal}}}
  - {name: big-relu, op: relu, inputs: {x: {shape: [100, 100], dist: normal}}}
  - {name: big-tanh, op: tanh, inputs: {x: {shape: [100, 100], dist: normal}}}
  - {name: big-exp, op: exp, inputs: {x: {shape: [100, 100], dist: normal}}}
  - {name: big-log, op: log, inputs: {x: {shape: [100, 100], dist: uniform, low: 0.1, high: 5.0}}}
  - {name: big-sum, op: sum, params: {axis: 1}, inputs: {x: {shape: [100, 100], dist: normal}}}
  - {name: big-mean, op: mean, inputs: {x: {shape: [100, 100], dist: normal}}}
  - {name: big-matmul, op: matmul, inputs: {x: {shape: [100, 100], dist: normal}, y: {shape: [100, 10]}}}
  - name: big-conv2d
    op: conv2d
    params: {stride: 2, padding: same}
    inputs: {x: {shape: [4, 4, 25, 25], dist: normal}, w: {shape: [2, 4, 3, 3], dist: normal}}
  - {name: big-expr, expr: "sum(tanh(x) * exp(x / 4) + sigmoid(x) ** 2)", inputs: {x: {shape: [100, 100]}}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_correct_framework_gradients_pass_at_10000_elements(dtype):
    available = [f for f in FRAMEWORKS if backends.get_backend(f).available()]
    for framework in available:
        need(framework)
    methods = ("numeric", *available, *(f"{f}-jvp" for f in available))
    options = RunOptions(methods=methods, dtype=dtype, mode=Mode.FULL)  # every element, not directions
    rows = [row for case in parse_cases(BIG) for row in run_case(case, options)]
    bad = [f"{row.path}: {row.status} {row.message}" for row in rows if row.status is not Status.PASS]
    assert not bad, "\n".join(bad)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_wrong_custom_backward_fails_at_10000_elements(framework, dtype):
    from cases.custom.swish_numpy import swish

    good, bad = _swish_modules(framework)
    x = np.random.default_rng(7).normal(0, 3, 10_000)
    assert gradcheck.check(swish, {"x": x}, dtype=dtype, methods=["numeric", framework], **{framework: good}).passed
    result = gradcheck.check(swish, {"x": x}, dtype=dtype, methods=["numeric", framework], **{framework: bad})
    assert statuses(result.comparisons)[(framework, "x")] == "fail"


def test_the_forward_mode_reference_is_computed_once_per_input_for_every_jvp_method(monkeypatch):
    for framework in ("torch", "jax"):
        need(framework)
    from gradcheck.run import references

    calls = []
    original = references.reference_jvp
    monkeypatch.setattr(references, "reference_jvp", lambda *args, **kw: calls.append(args[2]) or original(*args, **kw))
    case = parse_cases("name: mm\nop: matmul\ninputs: {x: [[3.0, 4.0], [5.0, 6.0]], y: [[4.0, 5.0], [6.0, 7.0]]}\n")[0]
    rows = run_case(case, RunOptions(methods=("torch-jvp", "jax-jvp")))
    assert [(r.method, r.input, r.status.value) for r in rows] == [
        ("torch-jvp", "x", "pass"), ("torch-jvp", "y", "pass"), ("jax-jvp", "x", "pass"), ("jax-jvp", "y", "pass")]
    assert sorted(calls) == [0, 1]  # one finite-difference J u per input, shared by both methods
