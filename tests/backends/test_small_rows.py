"""Small rows cheap (issue 14): the cheaper paths each framework takes on small inputs give what the
general ones give, and a wrong derivative still fails through them.

    tensorflow-jvp  small inputs: the gradient transposed by a second eager tape, not ForwardAccumulator
    torch-jvp       torch.autograd.forward_ad, not torch.func.jvp
    jax, jax-jvp    small programs compiled with cheaper XLA options
    tensorflow      imported without its eager import of Keras
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import gradcheck
from gradcheck import backends
from gradcheck.cases import parse_cases
from gradcheck.cases.problem import materialize
from tests.backends.frameworks import REPO, at_repo_root, need  # noqa: F401 (a fixture)

# A few ops of different kinds (elementwise, two inputs, a reduction along rows, a layer), float64.
CASES = parse_cases("""
cases:
  - {name: tanh, op: tanh, inputs: {x: {shape: [3, 4]}}}
  - {name: divide, op: divide, inputs: {x: {shape: [5]}, y: {shape: [5], dist: uniform, low: 0.5, high: 2.0}}}
  - {name: softmax, op: softmax, inputs: {x: {shape: [2, 5]}}}
  - {name: layer_norm, op: layer_norm, inputs: {x: {shape: [3, 4]}, weight: {shape: [4]}, bias: {shape: [4]}}}
  - {name: conv2d, op: conv2d, inputs: {x: {shape: [1, 1, 5, 5]}, w: {shape: [2, 1, 2, 2]}}}
""")


def _tangent(task, index):
    return np.random.default_rng(index).normal(size=np.shape(task.inputs[index]))


def _jvps(method, framework):
    """J u of every case and input in wrt, by `method`."""
    backend = backends.get_backend(method)
    out = {}
    for case in CASES:
        task = materialize(case).task(framework)
        for index, name in enumerate(task.names):
            if name in task.wrt:
                out[case.name, name] = backend.jvp(task, index, _tangent(task, index))
    return out


def _assert_close(got: dict, want: dict):
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-14, err_msg=str(key))


def test_tensorflow_forward_mode_eager_and_forward_accumulator_agree(monkeypatch):
    need("tensorflow")
    from gradcheck.backends import tensorflow_backend

    eager = _jvps("tensorflow-jvp", "tensorflow")
    monkeypatch.setattr(tensorflow_backend, "SMALL_INPUTS", 0)  # every input "large": ForwardAccumulator
    accumulated = _jvps("tensorflow-jvp", "tensorflow")
    _assert_close(eager, accumulated)


def test_tensorflow_forward_mode_of_an_output_that_ignores_the_input_is_zero():
    need("tensorflow")
    result = gradcheck.check(lambda x, y: 2 * x + 0 * y, {"x": [1.0, 2.0], "y": [3.0, 4.0]},
                             tensorflow=lambda x, y: 2 * x, methods=["tensorflow-jvp"])
    assert {(c.method, c.input): c.status.value for c in result.comparisons} == {
        ("tensorflow-jvp", "x"): "pass", ("tensorflow-jvp", "y"): "pass"}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func.jvp's first call: torch's own torch.jit.script
def test_torch_forward_ad_and_torch_func_jvp_agree():
    torch = need("torch")
    ours = _jvps("torch-jvp", "torch")
    theirs = {}
    for case in CASES:
        task = materialize(case).task("torch")
        forward = task.native(torch)
        tensors = [torch.as_tensor(value) for value in task.inputs]
        for index, name in enumerate(task.names):
            if name not in task.wrt:
                continue

            def of_one_input(x, index=index):
                args = list(tensors)
                args[index] = x
                return forward(*args)

            _, derivative = torch.func.jvp(of_one_input, (tensors[index],), (torch.as_tensor(_tangent(task, index)),))
            theirs[case.name, name] = derivative.numpy()
    _assert_close(ours, theirs)


def test_jax_cheap_compiles_and_default_compiles_agree(monkeypatch):
    need("jax")
    from gradcheck.backends import jax_backend

    def both():
        grads = {case.name: backends.get_backend("jax").gradients(materialize(case).task("jax")) for case in CASES}
        return grads, _jvps("jax-jvp", "jax")

    monkeypatch.setattr(jax_backend, "_PROGRAMS", type(jax_backend._PROGRAMS)())
    cheap = both()
    monkeypatch.setattr(jax_backend, "_PROGRAMS", type(jax_backend._PROGRAMS)())
    monkeypatch.setattr(jax_backend, "SMALL_INPUTS", 0)  # every program compiled as jax.jit does by default
    default = both()
    for name in cheap[0]:
        _assert_close(cheap[0][name], default[0][name])
    _assert_close(cheap[1], default[1])


def test_jax_drops_a_compiler_option_its_xla_does_not_know(monkeypatch):
    need("jax")
    from gradcheck.backends import jax_backend

    options = {**jax_backend.SMALL_COMPILER_OPTIONS, "xla_gradcheck_no_such_option": True}
    monkeypatch.setattr(jax_backend, "SMALL_COMPILER_OPTIONS", options)
    monkeypatch.setattr(jax_backend, "_PROGRAMS", type(jax_backend._PROGRAMS)())
    grads = backends.get_backend("jax").gradients(materialize(CASES[0]).task("jax"))
    assert grads["x"].shape == (3, 4)
    assert "xla_gradcheck_no_such_option" not in options and "xla_backend_optimization_level" in options


def test_a_wrong_custom_gradient_fails_through_tensorflow_forward_mode():
    need("tensorflow")
    from cases.custom.swish_numpy import swish
    from cases.custom.swish_tensorflow import swish as good
    from tests.fixtures.bad_swish_tensorflow import swish as bad

    x = np.linspace(-3, 3, 7)
    assert gradcheck.check(swish, {"x": x}, tensorflow=good, methods=["tensorflow-jvp"]).passed
    failed = gradcheck.check(swish, {"x": x}, tensorflow=bad, methods=["tensorflow-jvp"])
    assert [(c.method, c.status.value) for c in failed.comparisons] == [("tensorflow-jvp", "fail")]


def test_a_wrong_forward_rule_fails_through_torch_forward_mode():
    torch = need("torch")
    from cases.custom.swish_numpy import swish

    def swish_function(wrong: bool):
        class Swish(torch.autograd.Function):
            @staticmethod
            def forward(x):
                return x * torch.sigmoid(x)

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_forward(*inputs)

            @staticmethod
            def jvp(ctx, u):
                (x,) = ctx.saved_tensors
                s = torch.sigmoid(x)
                return s * u if wrong else (s + x * s * (1 - s)) * u  # wrong: forgets x s (1 - s)
        return Swish.apply

    x = np.linspace(-3, 3, 7)
    assert gradcheck.check(swish, {"x": x}, torch=swish_function(False), methods=["torch-jvp"]).passed
    failed = gradcheck.check(swish, {"x": x}, torch=swish_function(True), methods=["torch-jvp"])
    assert [(c.method, c.status.value) for c in failed.comparisons] == [("torch-jvp", "fail")]


def test_tensorflow_is_imported_without_keras_which_still_loads_when_used():
    pytest.importorskip("tensorflow")
    script = (
        "import sys\n"
        "from gradcheck.backends.tensorflow_backend import import_tensorflow\n"
        "tf = import_tensorflow()\n"
        "assert 'keras' not in sys.modules and 'matplotlib.pyplot' not in sys.modules, 'keras imported'\n"
        "from tensorflow.keras.layers import Dense\n"
        "assert tf.keras.layers.Dense(2)(tf.ones((1, 3))).shape == (1, 2)\n"
        "import keras\n"
        "print('ok', keras.__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok keras"


def test_a_keras_imported_first_is_left_alone():
    pytest.importorskip("tensorflow")
    script = (
        "import sys, keras\n"
        "from gradcheck.backends.tensorflow_backend import import_tensorflow\n"
        "tf = import_tensorflow()\n"
        "assert sys.modules['keras'] is keras\n"
        "print('ok', tf.keras.layers.Dense(2)(tf.ones((1, 3))).shape)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok (1, 2)"


def test_torch_gradients_are_those_of_grad_outputs_to_the_bit():
    torch = need("torch")
    complex_cases = parse_cases("""
cases:
  - {name: complex-matmul, op: matmul, dtype: complex128, inputs: {x: {shape: [2, 3]}, y: {shape: [3, 2]}}}
""")
    for case in [*CASES, *complex_cases]:
        task = materialize(case).task("torch")
        ours = backends.get_backend("torch").gradients(task)
        tensors = [torch.as_tensor(value) for value in task.inputs]
        wrt = [tensors[task.names.index(name)].requires_grad_(True) for name in task.wrt]
        output = task.native(torch)(*tensors)
        theirs = torch.autograd.grad(output, wrt, grad_outputs=torch.as_tensor(task.cotangent).to(output.dtype))
        for name, grad in zip(task.wrt, theirs):
            np.testing.assert_array_equal(ours[name], grad.detach().numpy(), err_msg=f"{case.name} {name}")


def test_tensorflow_forward_mode_where_the_transposed_gradient_meets_a_discarded_nan():
    """norm's lowering at a zero slice: tf.where keeps the NaN of the branch it discards out of the
    gradient, but the gradient transposed over the whole forward multiplies it by a zero (0 * NaN);
    ForwardAccumulator, op by op, discards the tangent with the branch. Its answer stands."""
    need("tensorflow")
    case = parse_cases("name: n\nop: norm\nparams: {axis: 1}\ninputs: {x: [[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]]}\n")[0]
    task = materialize(case).task("tensorflow")
    got = backends.get_backend("tensorflow-jvp").jvp(task, 0, np.ones((2, 3)))
    np.testing.assert_allclose(got, [0.0, 5.0 / 3.0], rtol=1e-12)
