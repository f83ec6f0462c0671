"""A local, domain-aware reference (DESIGN section 7): no perturbed point leaves a radius of the point;
a point where the forward raises or returns a non-finite value is outside the domain, and the engine
shrinks or goes one-sided instead of failing; an element with no estimate at all is named; one input's
failure never turns another input's rows into errors.

The three forwards from issue 10 (tests/fixtures): the JAX documentation's newton_sqrt, a while-loop
that never ends for a negative argument; a sqrt that raises for a negative argument; scipy's
multivariate normal log-density, which raises unless the covariance is positive semidefinite.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gradcheck.cases import parse_cases
from gradcheck.compare.comparison import Status
from gradcheck.engine import fast, stencil
from gradcheck.engine.directional import reference_jvp
from gradcheck.engine.estimates import OutsideDomain
from gradcheck.engine.evaluator import DEFAULT_MEMORY_BYTES, Evaluator
from gradcheck.engine.reference import reference_vjp
from gradcheck.run.runner import run_case
from tests.fixtures import domain_forwards as fx

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(10)


def run_yaml(text: str):
    """Every row of every case in the YAML text, run in this process."""
    return [row for case in parse_cases(textwrap.dedent(text)) for row in run_case(case)]


def by_method_and_input(rows):
    return {(row.method, row.input): row for row in rows}


# ---------------------------------------------------------------- the three forwards


def test_newton_sqrt_that_never_ends_below_zero_passes_within_60_s(tmp_path):
    """On main the reference grew steps to 2^15 h and evaluated near a = -256: the loop never ended."""
    case = tmp_path / "newton.yaml"
    case.write_text(textwrap.dedent("""\
        name: newton-sqrt
        function: tests.fixtures.newton_sqrt:newton_sqrt
        vjp: tests.fixtures.newton_sqrt:newton_sqrt_vjp
        inputs: {a: {shape: [8], dist: uniform, low: 0.5, high: 4.0}}
        """))
    done = subprocess.run([sys.executable, "-m", "gradcheck", "run", str(case)], cwd=ROOT, capture_output=True,
                          check=False, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed, 0 failed, 0 skipped, 0 errors" in done.stdout


def test_a_sqrt_that_raises_below_zero_passes():
    rows = run_yaml("""\
        name: strict-sqrt
        function: tests.fixtures.domain_forwards:strict_sqrt
        vjp: tests.fixtures.domain_forwards:strict_sqrt_vjp
        inputs: {a: {shape: [12], dist: uniform, low: 0.5, high: 4.0}}
        """)
    assert [row.status for row in rows] == [Status.PASS, Status.PASS], [row.message for row in rows]


MVN = """\
    name: mvn-logpdf
    function: tests.fixtures.domain_forwards:mvn_logpdf
    vjp: tests.fixtures.domain_forwards:{vjp}
    inputs:
      x: {{shape: [4], dist: normal}}
      mu: {{shape: [4], dist: normal}}
      cov:                              # SPD, eigenvalues 0.5 to 2
        - [1.452, 0.215, 0.574, -0.093]
        - [0.215, 1.058, -0.215, 0.313]
        - [0.574, -0.215, 1.379, -0.048]
        - [-0.093, 0.313, -0.048, 0.912]
    """


def test_scipy_multivariate_normal_logpdf_with_a_correct_vjp_passes_on_every_input():
    """On main a covariance diagonal entry moved by ~155 left the SPD cone, and x's and mu's rows errored too."""
    rows = by_method_and_input(run_yaml(MVN.format(vjp="mvn_logpdf_vjp")))
    assert set(rows) == {(m, name) for m in ("numeric", "vjp") for name in ("x", "mu", "cov")}
    assert all(row.status is Status.PASS for row in rows.values()), {k: r.message for k, r in rows.items()}


def test_the_logpdf_reference_still_catches_a_wrong_covariance_gradient():
    rows = by_method_and_input(run_yaml(MVN.format(vjp="mvn_logpdf_vjp_symmetric")))
    assert rows["vjp", "cov"].status is Status.FAIL
    assert rows["vjp", "x"].status is Status.PASS and rows["vjp", "mu"].status is Status.PASS


# ---------------------------------------------------------------- locality


class Recording:
    """A forward that records how far each evaluated point strays from x, in units of each element's scale."""

    def __init__(self, forward, x):
        self.forward, self.x, self.scale, self.worst = forward, x, stencil.scales(x).reshape(x.shape), 0.0

    def __call__(self, a, *rest):
        a = np.asarray(a)
        if np.isrealobj(a) and a.shape[-self.x.ndim:] == self.x.shape:
            self.worst = max(self.worst, float(np.max(np.abs(a - self.x) / self.scale, initial=0.0)))
        return self.forward(a, *rest)


@pytest.mark.parametrize("forward, shape", [
    (lambda a, y: a @ y, (12, 10)),  # linear in a: the widest steps the radius allows are taken
    (lambda a, y: np.tanh(a) @ y, (12, 10)),
], ids=["matmul", "tanh-matmul"])
def test_no_perturbed_point_leaves_a_quarter_of_the_scale(forward, shape):
    x, y = RNG.normal(size=shape), RNG.normal(size=(shape[-1], 7))
    x[0, 0] = 0.0  # near zero the radius is a quarter of the input's floor scale
    dz = RNG.normal(size=(shape[0], 7))
    for reference in (lambda f: reference_vjp(f, [x, y], dz, 0),
                      lambda f: fast.directional_reference(f, [x, y], dz, 0),
                      lambda f: reference_jvp(f, [x, y], 0, RNG.normal(size=shape))):
        recording = Recording(forward, x)
        reference(recording)
        assert 0 < recording.worst <= stencil.RADIUS * (1 + 1e-12)


# ---------------------------------------------------------------- domain edges


def test_an_element_at_the_edge_is_differenced_one_sided():
    """a^2 + a raises below 0: at a = 0 only the + side exists, and its slope is 1."""
    a, dz = np.array([0.0, 1.0, 2.0]), np.array([1.5, -2.0, 0.5])
    reference = reference_vjp(fx.square_from_zero, [a], dz, 0)
    assert np.allclose(reference.value, dz * (2 * a + 1), rtol=1e-9, atol=1e-12)
    assert np.all(reference.error >= np.abs(reference.value - dz * (2 * a + 1)))
    assert any("one-sided" in note for note in reference.notes)


def test_a_non_finite_side_is_outside_the_domain_too():
    """sqrt(a)^4 is a^2 for a >= 0 and NaN below (NumPy's sqrt): slope 0 at the edge, 2a beyond it."""
    a, dz = np.array([0.0, 1.5, 3.0]), np.array([1.0, 1.0, -1.0])
    reference = reference_vjp(lambda v: np.sqrt(v) ** 4, [a], dz, 0)
    assert np.allclose(reference.value, dz * 2 * a, rtol=1e-9, atol=1e-9)


def test_a_forward_that_raises_near_zero_along_a_tangent_is_retried_smaller():
    """Forward mode: the tangent moves a = 1e-3 below zero at the first step; smaller steps stay inside."""
    a, u = np.array([1e-3, 1.0, 2.0]), np.array([-1.0, 0.5, 2.0])
    reference = reference_jvp(fx.strict_sqrt, [a], 0, u)
    assert np.allclose(reference.value, u / (2 * np.sqrt(a)), rtol=1e-8)


def test_a_batched_call_that_raises_is_retried_point_by_point():
    x = np.array([1.0, 4.0])
    evaluate = Evaluator(fx.strict_sqrt, [x], 0, (2,), DEFAULT_MEMORY_BYTES)
    evaluate.batched = True
    outputs = evaluate(np.array([[1.0, 4.0], [-1.0, 4.0], [9.0, 16.0]]))
    assert np.array_equal(outputs[[0, 2]], [[1.0, 2.0], [3.0, 4.0]]) and np.all(np.isnan(outputs[1]))
    assert evaluate.failure.startswith("ValueError: math domain error")


def test_an_element_with_no_estimate_is_named_with_the_reason():
    a = np.array([0.3, 0.0012])
    with pytest.raises(OutsideDomain) as raised:
        reference_vjp(fx.raises_everywhere_but_at(a), [a], np.ones(2), 0)
    text = raised.value.describe("a")
    assert text.startswith("a[0]: the forward raises ValueError on both sides of 0.3 at every step down to ")
    assert text.endswith(": defined at the point only (and 1 more element(s) likewise)")
    smallest = float(text.split("down to ")[1].split(":")[0])
    assert 0 < smallest < 1e-6 * 0.3


def test_one_inputs_failure_leaves_the_other_inputs_rows_alone():
    rows = by_method_and_input(run_yaml("""\
        name: pinned
        function: tests.fixtures.domain_forwards:pinned
        vjp: tests.fixtures.domain_forwards:pinned_vjp
        inputs: {a: [1.0, 2.0, 3.0], b: [0.5, -1.25]}
        """))
    assert rows["numeric", "a"].status is Status.PASS and rows["vjp", "a"].status is Status.PASS
    for method in ("numeric", "vjp"):
        row = rows[method, "b"]
        assert row.status is Status.ERROR
        assert "b[0]: the forward raises ValueError on both sides of 0.5 at every step down to" in row.message
