"""Complex values through every backend: each converts its framework's convention to gradcheck's one,
g = d phi/d Re z + i d phi/d Im z of phi = Re sum conj(dz) f(z), checked against closed forms.

Closed forms (z = a + ib, dz the cotangent):
    z*z         holomorphic, f' = 2z:        g = conj(2z) dz
    exp z       holomorphic, f' = exp z:     g = conj(exp z) dz
    |z|^2       real output, d/da = 2a, d/db = 2b:  g = 2 z dz   (dz real)
    z*conj(w)   g_z = w dz,  g_w = conj(dz) z
torch and TensorFlow return g as it stands; JAX's vjp is conj(g) for the cotangent conj(dz).
"""


import numpy as np
import pytest
from click.testing import CliRunner

import gradcheck
from gradcheck import backends
from gradcheck.backends import Task
from gradcheck.cli import main
from gradcheck.run.runner import RunOptions
from tests.backends.frameworks import FRAMEWORKS, REPO, at_repo_root, need  # noqa: F401 (a fixture)

Z = np.array([0.3 + 0.7j, -1.1 + 0.4j, 0.5 - 0.9j])
W = np.array([0.5 - 0.2j, 0.9 + 1.3j, -0.4 + 0.1j])
DZ = np.array([0.6 - 0.8j, -0.3 + 0.25j, 1.5 + 0.5j])
DZ_REAL = np.array([0.6, -0.3, 1.5])


def _lib(m):
    """(exp, conj, real) in framework module m."""
    return {"torch": lambda: (m.exp, m.conj, lambda t: t.real),
            "tensorflow": lambda: (m.math.exp, m.math.conj, m.math.real),
            "jax": lambda: (m.numpy.exp, m.numpy.conj, m.numpy.real)}[m.__name__]()


# name -> (native forward factory, inputs, cotangent, complex output, closed-form gradients)
CLOSED_FORMS = {
    "z*z": (lambda m: lambda z: z * z, (Z,), DZ, True, (np.conj(2 * Z) * DZ,)),
    "exp": (lambda m: lambda z: _lib(m)[0](z), (Z,), DZ, True, (np.conj(np.exp(Z)) * DZ,)),
    "|z|^2": (lambda m: lambda z: _lib(m)[2](z * _lib(m)[1](z)), (Z,), DZ_REAL, False, (2 * Z * DZ_REAL,)),
    "z*conj(w)": (lambda m: lambda z, w: z * _lib(m)[1](w), (Z, W), DZ, True, (W * DZ, np.conj(DZ) * Z)),
}


def _task(name):
    native, inputs, cotangent, complex_output, _ = CLOSED_FORMS[name]
    names = ("z", "w")[:len(inputs)]
    return Task(names=names, inputs=inputs, wrt=names, cotangent=cotangent, output_shape=Z.shape,
                dtype="complex128", native=native, complex_output=complex_output)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_each_framework_backend_returns_the_closed_form_gradient(framework, name):
    need(framework)
    gradients = backends.get_backend(framework).gradients(_task(name))
    for input_name, want in zip(("z", "w"), CLOSED_FORMS[name][-1]):
        got = gradients[input_name]
        assert got.dtype == np.complex128
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_jax_s_own_vjp_is_the_conjugate_of_gradchecks_gradient():
    """The conversion the JAX backend makes, seen on the raw jax.vjp: vjp(conj(dz)) = conj(g)."""
    jax = need("jax")
    from gradcheck.backends.jax_backend import x64_enabled

    with x64_enabled():
        _, pullback = jax.vjp(lambda z: z * z, jax.numpy.asarray(Z))
        (raw,) = pullback(jax.numpy.conj(jax.numpy.asarray(DZ)))
    np.testing.assert_allclose(np.asarray(raw), np.conj(np.conj(2 * Z) * DZ), rtol=1e-13)
    assert not np.allclose(np.asarray(raw), np.conj(2 * Z) * DZ)  # unconverted, it would be wrong


def test_the_numpy_vjp_backend_keeps_complex_gradients_complex():
    task = Task(names=("z",), inputs=(Z,), wrt=("z",), cotangent=DZ, output_shape=Z.shape, dtype="complex128",
                numpy_vjp=lambda z, dz: (np.conj(2 * z) * dz,), complex_output=True)
    (got,) = backends.get_backend("vjp").gradients(task).values()
    np.testing.assert_allclose(got, np.conj(2 * Z) * DZ, rtol=1e-15)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_forward_mode_is_the_derivative_along_a_complex_tangent(framework):
    """J u of z*z along u is 2 z u (t real in f(z + t u)), in every framework's forward mode."""
    need(framework)
    u = np.array([1.0 - 0.5j, 0.25 + 2j, -1j])
    got = backends.get_backend(f"{framework}-jvp").jvp(_task("z*z"), 0, u)
    np.testing.assert_allclose(got, 2 * Z * u, rtol=1e-13)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_complex_framework_output_where_numpy_s_is_real_is_an_error(framework):
    need(framework)
    task = _task("z*z")
    task = Task(**{**task.__dict__, "complex_output": False, "cotangent": DZ_REAL})
    with pytest.raises(TypeError, match="output is complex .* but the NumPy forward's is real"):
        backends.get_backend(framework).gradients(task)


# ---------------------------------------------------------------- the known-bad twins


def _bad_and_good(framework):
    need(framework)
    import importlib

    bad = importlib.import_module(f"tests.fixtures.bad_complex_{framework}")
    good = importlib.import_module(f"cases.complex.complex_{framework}")
    return bad, good


def test_a_torch_function_that_forgets_the_conjugate_fails_and_its_twin_passes():
    bad, good = _bad_and_good("torch")
    inputs = {"z": Z}
    wrong = gradcheck.check(torch=bad.BadSquare.apply, inputs=inputs)
    right = gradcheck.check(torch=good.Square.apply, inputs=inputs)
    assert {(c.method, c.status.value) for c in wrong.comparisons} == {("numeric", "pass"), ("torch", "fail")}
    assert right.passed, right
    row = next(c for c in wrong.comparisons if c.method == "torch")
    assert row.margin > 1e6  # far outside, not a rounding matter


def test_a_jax_custom_vjp_that_forgets_the_conjugate_fails_and_its_twin_passes():
    bad, good = _bad_and_good("jax")
    inputs = {"z": Z, "w": W}
    wrong = gradcheck.check(jax=bad.z_conj_w, inputs=inputs)
    right = gradcheck.check(jax=good.z_conj_w_custom, inputs=inputs)
    assert {(c.method, c.input): c.status.value for c in wrong.comparisons if c.method == "jax"} == {
        ("jax", "z"): "pass", ("jax", "w"): "fail"}
    row = next(c for c in wrong.comparisons if c.method == "jax" and c.input == "w")
    assert "the gradient is the conjugate of the reference" in row.message
    assert right.passed, right
    # torch's convention written in JAX (a conj where JAX wants none) fails too; JAX's own passes.
    assert not gradcheck.check(jax=bad.square, inputs={"z": Z}).passed
    assert gradcheck.check(jax=good.square, inputs={"z": Z}).passed


def test_a_tensorflow_custom_gradient_that_forgets_the_conjugate_fails_and_its_twin_passes():
    bad, good = _bad_and_good("tensorflow")
    assert not gradcheck.check(tensorflow=bad.square, inputs={"z": Z}).passed
    right = gradcheck.check(tensorflow=good.square, inputs={"z": Z})
    assert right.passed, right


def test_the_bad_complex_file_fails_every_wrong_backward_through_the_cli():
    for framework in FRAMEWORKS:
        need(framework)
    result = CliRunner().invoke(main, ["run", "tests/fixtures/bad_complex.yaml"], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "6 passed, 5 failed, 0 skipped, 0 errors" in result.output


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_shipped_complex_cases_pass_in_every_framework_and_mode(mode):
    for framework in FRAMEWORKS:
        need(framework)
    from gradcheck.cases import load_cases
    from gradcheck.compare.comparison import Status
    from gradcheck.methods import Mode
    from gradcheck.run.runner import run_case

    methods = ("numeric", "vjp", "expect", *FRAMEWORKS, *(f"{f}-jvp" for f in FRAMEWORKS))
    rows = [row for case in load_cases([REPO / "cases" / "complex"])
            for row in run_case(case, RunOptions(methods=methods, mode=Mode(mode)))]
    bad = [f"{row.path}: {row.status} {row.message}" for row in rows if row.status is not Status.PASS]
    assert not bad, "\n".join(bad)
    assert {row.method for row in rows} >= set(methods)
