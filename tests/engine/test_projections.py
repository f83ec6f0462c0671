"""The complex step checked along random directions (engine/projections.py): accepted for analytic dense
forwards at a fraction of the element-wise cost, refused (and checked element by element) wherever the
forward is not complex-analytic, even on a few elements, and never with an error estimate that misses."""

import warnings

import numpy as np
import pytest

from gradcheck.engine import complexstep, projections, sparsity
from gradcheck.engine.evaluator import DEFAULT_MEMORY_BYTES, Evaluator, baseline
from gradcheck.engine.reference import reference_vjp
from gradcheck.engine.stencil import initial_steps, scales
from gradcheck.ops import OPS

N = 1000
RNG = np.random.default_rng(14)
X = RNG.normal(size=N)
X[np.abs(X) < 0.2] += 0.5  # every element well away from 0, where abs has its kink
DZ = RNG.normal(size=N)


def softmax(v):
    return OPS["softmax"].forward(v)


def softmax_vjp(v, dz):
    """The closed form in long double, rounded at the end."""
    (g,) = OPS["softmax"].vjp(np.asarray(v, np.longdouble), np.asarray(dz, np.longdouble))
    return np.asarray(g).astype(np.float64)


def relative(value, truth):
    return float(np.max(np.abs(value - truth)) / np.max(np.abs(truth)))


def test_softmax_takes_the_complex_step_checked_along_directions_and_matches_the_closed_form():
    reference = reference_vjp(softmax, [X], DZ, 0)
    truth = softmax_vjp(X, DZ)
    assert reference.method == "complex step"
    assert any("random directions" in note for note in reference.notes)
    # The complex step (n), the directions (2 x 5 levels each) and the proofs; not 8 per element.
    assert reference.evaluations < N + 2 * projections.STENCIL.levels * projections.DIRECTIONS + 50
    assert np.max(np.abs(reference.value - truth) / np.abs(truth)) <= 1e-10
    assert np.all(reference.error >= np.abs(reference.value - truth))
    # Honest, and still small against float64's tolerance (atol 1e-10, rtol 1e-7).
    assert np.all(reference.error <= 0.5 * (1e-10 + 1e-7 * np.abs(truth)))


def drop_imaginary(elements):
    """softmax, with the imaginary part of some elements dropped (as .real would) before it: the complex
    step of those elements comes out 0, of the others right."""

    def forward(v):
        v = np.array(v, copy=True)
        v[..., elements] = v[..., elements].real
        return softmax(v)

    return forward


# Not element 0: the first group's complex point is also the test of whether the forward carries complex
# values at all (complexstep.derivatives), and with element 0 dropped it answers no: no complex step.
@pytest.mark.parametrize("elements", [[17], [3, 500, 998], list(range(1, N, 7))], ids=["one", "three", "every 7th"])
def test_a_forward_that_drops_the_imaginary_part_of_some_elements_falls_back(elements):
    reference = reference_vjp(drop_imaginary(elements), [X], DZ, 0)
    truth = softmax_vjp(X, DZ)
    assert any("disagreed with Richardson differences along" in note for note in reference.notes)
    assert reference.method == "central differences"  # and the element-wise check refused it too
    assert reference.evaluations > 8 * N  # the element-wise differences ran
    assert relative(reference.value, truth) <= 1e-10
    assert np.all(reference.error >= np.abs(reference.value - truth))


def test_abs_on_a_subset_of_elements_is_caught_and_falls_back():
    mask = np.arange(N) % 97 == 1

    def forward(v):
        return softmax(np.where(mask, np.abs(v), v))  # the complex modulus is real: its derivative comes out 0

    reference = reference_vjp(forward, [X], DZ, 0)
    truth = softmax_vjp(np.where(mask, np.abs(X), X), DZ) * np.where(mask, np.sign(X), 1.0)
    assert any("random directions" in note for note in reference.notes)
    assert reference.method == "central differences"
    assert relative(reference.value, truth) <= 1e-10
    assert np.all(reference.error >= np.abs(reference.value - truth))


def test_real_in_one_branch_is_caught_and_falls_back():
    def forward(v):
        s = softmax(v)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # the larger outputs through .real: softmax itself for a real input, not for the complex step
            return np.where(np.real(s) > 1.0 / N, np.real(s), s)

    truth = softmax_vjp(X, DZ)
    reference = reference_vjp(forward, [X], DZ, 0)
    assert any("random directions" in note for note in reference.notes)
    assert reference.method == "central differences"
    assert relative(reference.value, truth) <= 1e-10


def setting(forward=softmax):
    """What projections.check reads, for softmax at X: the evaluator, f0 and the groups (each element alone)."""
    evaluate = Evaluator(forward, [X], 0, (N,), DEFAULT_MEMORY_BYTES)
    f0, _ = baseline(evaluate, X, initial_steps(X))
    groups = sparsity.singletons(np.arange(N))
    return evaluate, f0, groups


@pytest.mark.parametrize("pattern", ["one", "two opposite", "all"])
def test_an_error_planted_in_the_complex_step_is_refused_or_covered_by_the_estimate(pattern):
    """Whatever its size and spread, an error in the values is either refused or within each element's
    estimate: the estimate never misses."""
    evaluate, f0, groups = setting()
    exact = complexstep.derivatives(evaluate, X, groups, scales(X), DZ)
    rng = np.random.default_rng(3)
    accepted = []
    for size in 10.0 ** np.arange(-16, -5):
        planted = np.zeros(N)
        if pattern == "one":
            planted[123] = size
        elif pattern == "two opposite":
            planted[[123, 456]] = [size, -size]
        else:
            planted = size * rng.normal(size=N)
        step = complexstep.ComplexStep(exact.value + planted, exact.roundoff, groups)
        verdict = projections.check(evaluate, X, DZ, f0, step)
        if verdict.accepted:
            accepted.append(size)
            truth = softmax_vjp(X, DZ)
            assert np.all(verdict.error >= np.abs(step.value - truth)), size
    assert accepted and min(accepted) == 1e-16  # rounding-sized errors pass ...
    assert max(accepted) <= 1e-11  # ... gross ones never do


def test_few_groups_keep_the_element_wise_check():
    """An element-wise op has one group: its element-wise check costs less than the directions, and its error
    estimates are tighter."""
    assert not projections.worthwhile(1) and not projections.worthwhile(128)
    assert projections.worthwhile(N)
    reference = reference_vjp(np.sin, [X], DZ, 0)
    assert reference.method == "complex step"
    assert any("every smooth element" in note for note in reference.notes)


def test_kinks_fail_the_directions_and_keep_their_intervals():
    """relu at exact zeros: the complex step gives one one-sided derivative there (a point), the element-wise
    differences the interval of valid subgradients; the directions cross the kinks and do not settle."""
    x = X.copy()
    x[::50] = 0.0
    reference = reference_vjp(lambda v: softmax(np.maximum(v, 0.0)), [x], DZ, 0)
    assert any("did not settle along" in note for note in reference.notes)
    assert reference.kinks == N // 50
    assert np.all(reference.lower[::50] < reference.upper[::50])
