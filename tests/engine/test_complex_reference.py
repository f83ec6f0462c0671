"""The finite-difference reference of complex functions: real and imaginary parts differenced as a
real view, the gradient packed as d phi/d Re z + i d phi/d Im z of phi = Re sum conj(dz) f(z).

Closed forms as in tests/backends/test_complex_backends.py: z*z -> conj(2z) dz, exp -> conj(exp z) dz,
|z|^2 -> 2 z dz, z*conj(w) -> (w dz, conj(dz) z).
"""

import numpy as np
import pytest

from gradcheck.compare.fast import check as fast_check
from gradcheck.engine.complexview import flat_real, unview, view
from gradcheck.engine.directional import reference_jvp
from gradcheck.engine.fast import directional_reference
from gradcheck.engine.reference import reference_vjp

Z = np.array([0.3 + 0.7j, -1.1 + 0.4j, 0.5 - 0.9j, 2.0 - 0.1j])
W = np.array([0.5 - 0.2j, 0.9 + 1.3j, -0.4 + 0.1j, 0.2 + 0.3j])
DZ = np.array([0.6 - 0.8j, -0.3 + 0.25j, 1.5 + 0.5j, -1.0 - 1.0j])
DZ_REAL = np.array([0.6, -0.3, 1.5, -1.0])

CLOSED_FORMS = {
    "z*z": (lambda z: z * z, DZ, np.conj(2 * Z) * DZ),
    "exp": (np.exp, DZ, np.conj(np.exp(Z)) * DZ),
    "|z|^2": (lambda z: (z * np.conj(z)).real, DZ_REAL, 2 * Z * DZ_REAL),
}


def test_view_and_unview_are_inverse_and_pair_like_re_conj():
    r = view(Z)
    assert r.shape == (4, 2) and r.dtype == np.float64
    np.testing.assert_array_equal(unview(r), Z)
    # <view(a), view(b)> = Re sum conj(a) b: the real phi of a complex cotangent and output.
    assert np.isclose(np.sum(view(DZ) * view(W)), np.real(np.sum(np.conj(DZ) * W)), rtol=1e-15)
    np.testing.assert_array_equal(flat_real(np.array([1.0, 2.0])), [1.0, 2.0])


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_the_reference_of_a_complex_input_is_the_closed_form(name):
    forward, cotangent, want = CLOSED_FORMS[name]
    reference = reference_vjp(forward, [Z], cotangent, 0)
    assert reference.value.dtype == np.complex128 and reference.value.shape == Z.shape
    np.testing.assert_allclose(reference.value, want, rtol=1e-10, atol=1e-12)
    assert np.all(np.abs(reference.value - want) <= reference.error + 1e-12)
    assert reference.method == "central differences"  # never the complex step
    assert any("real and imaginary parts differenced separately" in note for note in reference.notes)


def test_the_reference_of_z_conj_w_in_both_operands():
    def forward(z, w):
        return z * np.conj(w)

    np.testing.assert_allclose(reference_vjp(forward, [Z, W], DZ, 0).value, W * DZ, rtol=1e-10)
    np.testing.assert_allclose(reference_vjp(forward, [Z, W], DZ, 1).value, np.conj(DZ) * Z, rtol=1e-10)


def test_a_real_input_of_a_complex_output_gets_a_real_reference_without_the_complex_step():
    # f(x) = (1 + 2j) x^2: phi = Re sum conj(dz) (1 + 2j) x^2, d phi/dx = 2x Re((1 + 2j) conj(dz)).
    x = np.array([0.5, -1.5, 2.0, 3.0])
    reference = reference_vjp(lambda x: (1 + 2j) * x * x, [x], DZ, 0)
    assert reference.value.dtype == np.float64
    assert reference.method == "central differences"
    np.testing.assert_allclose(reference.value, 2 * x * np.real((1 + 2j) * np.conj(DZ)), rtol=1e-10)


def test_a_real_input_beside_a_complex_one_never_takes_the_complex_step():
    # f(x, w) = Re(x w): a real output, but the complex step would read Im of Re(...) = 0.
    x = np.array([0.5, -1.5, 2.0, 3.0])
    reference = reference_vjp(lambda x, w: np.real(x * w), [x, W], DZ_REAL, 0)
    assert reference.method == "central differences"
    np.testing.assert_allclose(reference.value, DZ_REAL * W.real, rtol=1e-10)


def test_the_kink_of_abs_at_zero_is_a_rectangle_of_valid_subgradients():
    # |z| at z = 0: both parts have one-sided derivatives -1 and +1, so any g in [-1, 1] x [-1, 1] i.
    z = np.array([0.0 + 0.0j, 3.0 + 4.0j])
    reference = reference_vjp(np.abs, [z], np.array([1.0, 1.0]), 0)
    assert reference.kinks == 1
    assert reference.lower[0] == pytest.approx(-1 - 1j, abs=1e-8)
    assert reference.upper[0] == pytest.approx(1 + 1j, abs=1e-8)
    assert reference.value[1] == pytest.approx((3 + 4j) / 5, abs=1e-10)  # z / |z|


def test_the_fast_mode_reference_pairs_with_the_real_view_of_a_complex_gradient():
    forward, cotangent, want = CLOSED_FORMS["z*z"]
    reference = directional_reference(forward, [Z], cotangent, 0)
    assert reference.directions.shape == (4, 2 * Z.size)  # one entry per real and imaginary part
    assert fast_check(want, reference, "complex128").passed
    wrong = fast_check(2 * Z * DZ, reference, "complex128")  # the conjugate of f' forgotten
    assert not wrong.passed and "along direction" in wrong.reason
    off = fast_check(want * (1 + 1e-6j), reference, "complex128")  # rotated by 1e-6 rad
    assert not off.passed


def test_the_forward_mode_reference_of_a_complex_function_along_a_complex_tangent():
    u = np.array([1.0 - 0.5j, 0.25 + 2j, -1j, 0.5 + 0.5j])
    reference = reference_jvp(lambda z: z * z, [Z], 0, u)
    assert reference.value.dtype == np.complex128
    np.testing.assert_allclose(reference.value, 2 * Z * u, rtol=1e-10)
    # A real output of a complex input: d|z|^2 along u is 2 Re(conj(z) u).
    real = reference_jvp(lambda z: (z * np.conj(z)).real, [Z], 0, u)
    assert real.value.dtype == np.float64
    np.testing.assert_allclose(real.value, 2 * np.real(np.conj(Z) * u), rtol=1e-10)


def test_batched_evaluation_of_a_complex_input_gives_the_same_values():
    forward, cotangent, _ = CLOSED_FORMS["exp"]
    batched = reference_vjp(forward, [Z], cotangent, 0)
    looped = reference_vjp(lambda z: np.exp(z) if z.ndim == 1 else _refuse(), [Z], cotangent, 0)
    assert batched.batched and not looped.batched
    np.testing.assert_allclose(batched.value, looped.value, rtol=1e-12)


def _refuse():
    raise ValueError("one point at a time")
