"""The tolerance rule |a - r| <= atol + rtol|r| + e and its precedence."""

import numpy as np
import pytest

from gradcheck.compare.comparison import Status, compare
from gradcheck.engine.estimates import Reference
from gradcheck.tolerance import (
    DEFAULT_TOLERANCES,
    Tolerance,
    ToleranceOverride,
    resolve,
)

WHERE = {"case": "c", "file": "f.yaml", "line": 3, "method": "vjp", "input": "x"}


def reference(value, error=0.0, lower=None, upper=None):
    value = np.asarray(value, dtype=float)
    error = np.broadcast_to(np.asarray(error, dtype=float), value.shape)
    return Reference(value=value, error=error,
                     lower=value if lower is None else np.asarray(lower, float),
                     upper=value if upper is None else np.asarray(upper, float),
                     kinks=0, evaluations=0, batched=False)


def test_rule_boundaries():
    tol = Tolerance(rtol=1e-3, atol=1e-6)
    ref = reference([1.0, 100.0], error=1e-4)
    # allowed: 1e-6 + 1e-3*|r| + 1e-4 -> 1.101e-3 and 0.100101
    assert compare([1.0 + 1.1e-3, 100.1], ref, tol, **WHERE).status is Status.PASS
    just_over = compare([1.0 + 1.2e-3, 100.0], ref, tol, **WHERE)
    assert just_over.status is Status.FAIL and just_over.worst_index == (0,)
    assert just_over.margin == pytest.approx(1.2e-3 / 1.101e-3)


def test_float64_default_flags_a_relative_1e6_error_and_passes_exact():
    tol = DEFAULT_TOLERANCES["float64"]
    value = np.random.default_rng(0).normal(size=1000)
    ref = reference(value, error=1e-13 * np.abs(value))
    scaled = compare(value * (1 + 1e-6), ref, tol, **WHERE)
    assert scaled.status is Status.FAIL
    assert "the reference times 1 + 1e-06" in scaled.message  # not a bare "times 1"
    assert compare(value * (1 + 4 * np.finfo(float).eps), ref, tol, **WHERE).status is Status.PASS


def test_zero_tolerance_is_a_setting_not_unset():
    assert resolve("float64", ToleranceOverride(rtol=0.0)).rtol == 0.0
    assert compare([1.0 + 1e-12], reference([1.0]), Tolerance(0.0, 0.0), **WHERE).status is Status.FAIL
    assert compare([1.0], reference([1.0]), Tolerance(0.0, 0.0), **WHERE).status is Status.PASS


def test_precedence_cli_over_case_over_dtype():
    cli, case = ToleranceOverride(rtol=1e-2), ToleranceOverride(rtol=1e-4, atol=1e-5)
    assert resolve("float32", cli, case) == Tolerance(rtol=1e-2, atol=1e-5)
    assert resolve("float32", None, case) == Tolerance(rtol=1e-4, atol=1e-5)
    assert resolve("float32", None, None) == DEFAULT_TOLERANCES["float32"]


def test_nan_never_passes_and_shapes_must_match():
    tol = Tolerance(rtol=1.0, atol=1.0)
    nan = compare([np.nan, 1.0], reference([1.0, 1.0]), tol, **WHERE)
    assert nan.status is Status.FAIL and nan.worst_index == (0,)
    shape = compare([1.0, 2.0], reference([[1.0, 2.0]]), tol, **WHERE)
    assert shape.status is Status.ERROR and "shape [2]" in shape.message


def test_kink_interval():
    ref = reference([0.5], lower=[0.0], upper=[1.0])
    tol = DEFAULT_TOLERANCES["float64"]
    assert compare([0.0], ref, tol, **WHERE).status is Status.PASS
    assert compare([1.0], ref, tol, **WHERE).status is Status.PASS
    outside = compare([2.0], ref, tol, **WHERE)
    assert outside.status is Status.FAIL and outside.max_abs_err == 1.5
    assert "valid range [0, 1]" in outside.message


def test_diagnosis_names_sign_and_scale():
    ref = reference([1.0, -2.0, 3.0])
    tol = DEFAULT_TOLERANCES["float64"]
    assert "wrong sign" in compare([-1.0, 2.0, -3.0], ref, tol, **WHERE).message
    assert "times 2" in compare([2.0, -4.0, 6.0], ref, tol, **WHERE).message
