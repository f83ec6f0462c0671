"""The ops that take complex values: their NumPy VJPs and every framework lowering against the
reference on complex inputs, and their VJPs against closed forms."""

import importlib.util

import numpy as np
import pytest

from gradcheck.cases import parse_cases
from gradcheck.ops import OPS
from gradcheck.run.runner import RunOptions, run_case

COMPLEX_OPS = ("abs", "cos", "exp", "matmul", "mean", "multiply", "sin", "sum", "tanh")
INPUTS = {
    "matmul": "{x: {shape: [3, 4], seed: 1}, y: {shape: [4, 2], seed: 2}}",
    "multiply": "{x: {shape: [3, 4], seed: 1}, y: {shape: [4], seed: 2}}",
}
Z = np.array([0.3 + 0.7j, -1.1 + 0.4j, 0.5 - 0.9j])
DZ = np.array([0.6 - 0.8j, -0.3 + 0.25j, 1.5 + 0.5j])


def test_the_ops_that_take_complex_values_are_these():
    assert tuple(sorted(name for name, op in OPS.items() if op.complex)) == COMPLEX_OPS


@pytest.mark.parametrize("name", COMPLEX_OPS)
def test_a_complex_op_passes_in_numpy_and_every_installed_framework(name):
    frameworks = [f for f in ("torch", "tensorflow", "jax") if importlib.util.find_spec(f)]
    text = f"name: {name}-complex\nop: {name}\ninputs: {INPUTS.get(name, '{x: {shape: [3, 4], seed: 1}}')}\n" \
           "dtype: complex128\n"
    (case,) = parse_cases(text, "cases/c.yaml")
    methods = ("numeric", "vjp", *frameworks)
    rows = run_case(case, RunOptions(methods=methods))
    assert {row.method for row in rows} == set(methods)
    assert all(row.status.value == "pass" for row in rows), [(r.method, r.message) for r in rows]


@pytest.mark.parametrize("name, want", [
    ("exp", np.conj(np.exp(Z)) * DZ),            # holomorphic: conj(f') dz
    ("sin", np.conj(np.cos(Z)) * DZ),
    ("cos", -np.conj(np.sin(Z)) * DZ),
    ("tanh", np.conj(1 - np.tanh(Z) ** 2) * DZ),
])
def test_holomorphic_vjps_conjugate_the_derivative(name, want):
    (got,) = OPS[name].vjp(Z, DZ)
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_abs_of_a_complex_input_is_real_with_gradient_z_over_its_modulus():
    out = OPS["abs"].forward(Z.astype(np.complex64))
    assert out.dtype == np.float32  # the real dtype of the parts
    (got,) = OPS["abs"].vjp(Z, np.array([1.0, 2.0, -1.0]))
    np.testing.assert_allclose(got, np.array([1.0, 2.0, -1.0]) * Z / np.abs(Z), rtol=1e-15)
    assert OPS["abs"].vjp(np.array([0j]), np.array([1.0]))[0][0] == 0  # the subgradient 0 at z = 0


def test_matmul_and_multiply_vjps_use_conjugate_operands():
    x, y = Z.reshape(1, 3), np.array([[1 + 1j], [2 - 1j], [0.5j]])
    dz = np.array([[0.3 - 0.2j]])
    dx, dy = OPS["matmul"].vjp(x, y, dz)
    np.testing.assert_allclose(dx, dz @ y.conj().T, rtol=1e-15)
    np.testing.assert_allclose(dy, x.conj().T @ dz, rtol=1e-15)
    gx, gy = OPS["multiply"].vjp(Z, Z[::-1], DZ)
    np.testing.assert_allclose(gx, DZ * np.conj(Z[::-1]), rtol=1e-15)
    np.testing.assert_allclose(gy, DZ * np.conj(Z), rtol=1e-15)
