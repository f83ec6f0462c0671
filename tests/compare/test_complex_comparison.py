"""Comparing complex gradients: |a - r| (the distance in the plane) against atol + rtol |r| + e, the
complex dtypes' tolerances, and complex numbers in the JSON report."""

import json

import numpy as np
import pytest

from gradcheck.compare.comparison import Status, compare
from gradcheck.engine.estimates import Reference
from gradcheck.reports.table import comparison_to_json, to_json
from gradcheck.tolerance import resolve

WHERE = {"case": "c", "file": "f.yaml", "line": 1, "method": "torch", "input": "z"}
WANT = np.array([1.0 + 2.0j, -3.0 + 0.5j, 0.25 - 4.0j])
TOLERANCE = resolve("complex128")


def test_complex_tolerances_are_those_of_their_parts():
    assert resolve("complex128") == resolve("float64")
    assert resolve("complex64") == resolve("float32")


def test_a_correct_complex_gradient_passes_and_reports_complex_got_and_want():
    got = WANT * (1 + 1e-12j)  # rounding-sized rotation
    row = compare(got, Reference.exact(WANT), TOLERANCE, **WHERE)
    assert row.status is Status.PASS
    assert isinstance(row.got, complex) and isinstance(row.want, complex)


@pytest.mark.parametrize("error", [1e-6, 1e-6j, -1e-6, -1e-6j])
def test_a_relative_error_of_1e_6_in_either_part_fails(error):
    got = WANT + error * np.abs(WANT)  # |a - r| = 1e-6 |r| everywhere, along the real or imaginary axis
    row = compare(got, Reference.exact(WANT), TOLERANCE, **WHERE)
    assert row.status is Status.FAIL
    assert row.max_rel_err == pytest.approx(1e-6, rel=1e-6)
    assert row.margin == pytest.approx(1e-6 / (1e-7 + 1e-10 / np.abs(WANT).min()), rel=0.2)


def test_the_imaginary_part_is_judged_against_the_modulus_not_its_own_size():
    # r = 1000 + 0.001i: an error of 1e-6 in the imaginary part is 1e-9 of |r|: within rtol 1e-7.
    want = np.array([1000.0 + 0.001j])
    assert compare(want + 1e-6j, Reference.exact(want), TOLERANCE, **WHERE).status is Status.PASS
    assert compare(want + 1e-3j, Reference.exact(want), TOLERANCE, **WHERE).status is Status.FAIL


def test_a_conjugated_gradient_fails_and_is_named():
    row = compare(np.conj(WANT), Reference.exact(WANT), TOLERANCE, **WHERE)
    assert row.status is Status.FAIL
    assert "the gradient is the conjugate of the reference" in row.message


def test_a_complex_gradient_of_a_real_input_is_an_error_not_a_cast():
    row = compare(np.array([1.0 + 0j, 2.0]), Reference.exact(np.array([1.0, 2.0])), TOLERANCE, **WHERE)
    assert row.status is Status.ERROR and "never cast to real" in row.message


def test_json_writes_complex_got_and_want_as_re_im_pairs_and_real_ones_as_numbers():
    complex_row = compare(WANT * (1 + 1e-3), Reference.exact(WANT), TOLERANCE, **WHERE)
    real_row = compare(np.array([1.0, 2.5]), Reference.exact(np.array([1.0, 2.0])), TOLERANCE, **WHERE)
    entry = comparison_to_json(complex_row)
    worst = complex_row.worst_index
    assert entry["got"] == [complex_row.got.real, complex_row.got.imag]
    assert entry["want"] == [WANT[worst].real, WANT[worst].imag]
    assert comparison_to_json(real_row)["got"] == 2.5 and comparison_to_json(real_row)["want"] == 2.0
    assert json.loads(to_json([complex_row, real_row]))["summary"]["failed"] == 2
