"""Complex values in case files: string literals, generators that draw real and imaginary parts
independently, cotangents that follow their output, and clear refusals where complex makes no sense."""

import numpy as np
import pytest

from gradcheck.cases import CaseFileError, parse_cases
from gradcheck.cases.generators import CaseError
from gradcheck.cases.problem import materialize
from gradcheck.cases.specs import check_literal
from gradcheck.dtypes import overridden
from gradcheck.run.runner import RunOptions, run_case

HEAD = "name: c\nfunction: numpy:multiply\n"


def case_of(body: str):
    (case,) = parse_cases(body, "cases/c.yaml")
    return case


def test_complex_literals_are_strings():
    assert check_literal(["1+2j", "-0.5j", "3", 4.0]) == [1 + 2j, -0.5j, 3 + 0j, 4.0]
    assert check_literal("1 + 2j") == 1 + 2j
    with pytest.raises(ValueError, match='complex number as a string such as "1\\+2j"'):
        check_literal("1+2i")


def test_a_bad_complex_literal_is_a_load_error_naming_the_line():
    with pytest.raises(CaseFileError, match=r"c.yaml:3: .*'one\+twoj'"):
        parse_cases(HEAD + "inputs: {x: ['one+twoj'], y: [1.0]}\ndtype: complex128\n", "cases/c.yaml")


def test_a_complex_generator_draws_real_then_imaginary_parts_from_the_same_seed():
    complex_case = case_of(HEAD + "inputs: {x: {shape: [1000], dist: normal, seed: 3}, y: [2.0]}\n"
                           "dtype: complex128\n")
    real_case = case_of(HEAD + "inputs: {x: {shape: [1000], dist: normal, seed: 3}, y: [2.0]}\n")
    z, x = materialize(complex_case).inputs["x"], materialize(real_case).inputs["x"]
    assert z.dtype == np.complex128 and x.dtype == np.float64
    np.testing.assert_array_equal(z.real, x)  # the real parts are the real case's draw
    rng = np.random.default_rng(3)
    rng.normal(size=1000)
    np.testing.assert_array_equal(z.imag, rng.normal(size=1000))  # then the imaginary parts, independent
    assert abs(np.corrcoef(z.real, z.imag)[0, 1]) < 0.1


def test_a_complex64_case_rounds_both_parts_to_float32():
    problem = materialize(case_of(HEAD + "inputs: {x: ['0.1+0.2j'], y: [1.0]}\ndtype: complex64\n"))
    z = problem.inputs["x"][0]
    assert z == complex(np.float32(0.1), np.float32(0.2)) and z != 0.1 + 0.2j
    assert problem.inputs["y"].dtype == np.complex128  # a real literal in a complex case: zero imaginary part


def test_the_default_cotangent_of_a_complex_output_is_complex_and_of_a_real_output_real():
    complex_output = materialize(case_of(HEAD + "inputs: {x: {shape: [500]}, y: [2.0]}\ndtype: complex128\n"))
    dz = complex_output.cotangent
    assert dz.dtype == np.complex128 and np.all(dz.imag != 0)
    assert abs(np.corrcoef(dz.real, dz.imag)[0, 1]) < 0.15
    real_output = materialize(case_of("name: r\nfunction: numpy:abs\ninputs: {x: {shape: [5]}}\n"
                                      "dtype: complex128\n"))
    assert real_output.cotangent.dtype == np.float64 and real_output.output.dtype == np.float64


def test_a_complex_cotangent_for_a_real_output_is_refused():
    with pytest.raises(CaseError, match="cotangent is complex but the output it pairs with is real"):
        materialize(case_of("name: r\nfunction: numpy:abs\ninputs: {x: ['1+1j']}\ncotangent: ['1j']\n"
                            "dtype: complex128\n"))


def test_a_complex_literal_in_a_real_case_is_refused_not_cast():
    with pytest.raises(CaseError, match="inputs.x is complex but the case dtype is float64 .*never cast to real"):
        materialize(case_of(HEAD + "inputs: {x: ['1+2j'], y: [1.0]}\n"))


def test_spd_and_symmetric_refuse_a_complex_case():
    with pytest.raises(CaseError, match="dist 'spd' draws real matrices"):
        materialize(case_of(HEAD + "inputs: {x: {shape: [3, 3], dist: spd}, y: [1.0]}\ndtype: complex128\n"))


@pytest.mark.parametrize("body, message", [
    ("op: relu\ninputs: {x: [1.0]}\n", "op 'relu' does not take complex values (complex128)"),
    ("op: max\ninputs: {x: [1.0, 2.0]}\n", "op 'max' does not take complex values"),
    ("expr: 'x * x'\ninputs: {x: [1.0]}\n", "expr: cases are real"),
])
def test_builtins_that_make_no_sense_on_complex_values_refuse_them_with_a_message(body, message):
    rows = run_case(case_of("name: c\n" + body + "dtype: complex128\n"))
    assert rows and all(row.status.value == "error" for row in rows)
    assert message in rows[0].message
    assert "abs, cos, exp, matmul, mean, multiply, sin, sum, tanh" in rows[0].message  # what does take them


def test_dtype_override_sets_the_precision_and_a_complex_case_stays_complex():
    assert overridden("complex128", "float32") == "complex64"
    assert overridden("complex64", "float64") == "complex128"
    assert overridden("float64", "complex64") == "complex64"
    assert overridden("complex128", None) == "complex128"
    case = case_of("name: c\nop: exp\ninputs: {x: ['1+2j', '0.5-1j']}\ndtype: complex128\n")
    rows = run_case(case, RunOptions(methods=("numeric", "vjp"), dtype="float32"))
    assert [row.status.value for row in rows] == ["pass", "pass"]
    assert rows[1].tolerance.rtol == 2e-4  # complex64's, those of float32
