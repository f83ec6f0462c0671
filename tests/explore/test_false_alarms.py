"""The false alarms a 50-example sweep of the shipped cases raised, each at its cause, with real numbers;
and the wrong gradients at the same points still fail."""

import numpy as np

from gradcheck.compare.comparison import Status, compare
from gradcheck.engine.directional import reference_jvp, scale_groups
from gradcheck.tolerance import DEFAULT_TOLERANCES

TOL = DEFAULT_TOLERANCES["float64"]
WHERE = {"case": "c", "file": "f", "line": 1, "method": "m", "input": "x"}
SECOND_LOOK = 2.0**-16


def test_the_jvp_reference_steps_each_size_of_element_for_itself():
    # sin-normal's shrunk point: zeros and one 2.6e5. One step sized for the mean moved the zeros by
    # ~50 (16 periods): the stencil "converged" to 0.002 where cos(0) u = -2.3.
    x = np.zeros((16, 8))
    x[0, 1] = 257132.07233666547
    u = np.random.default_rng(0).standard_normal(x.shape)
    assert [len(g) for g in scale_groups(x)] == [127, 1]
    reference = reference_jvp(np.sin, [x], 0, u)
    zeros = x == 0
    exact = np.cos(x) * reference.tangent
    assert np.max(np.abs(reference.value - exact)[zeros]) < 1e-9
    assert np.max(np.abs(reference.tangent - u) / np.abs(u)) < 1e-10  # the seeded tangent, but for the last digits
    # the large element needs the second look's steps (2.6e5 is 4e4 periods); there every element passes
    second = reference_jvp(np.sin, [x], 0, u, step_scale=SECOND_LOOK)
    got = np.cos(x) * second.tangent
    assert compare(got, second, TOL, **WHERE).status is Status.PASS


def test_an_input_of_one_size_keeps_one_step():
    x = np.random.default_rng(1).normal(size=(6, 5))
    assert len(scale_groups(x)) == 1


def test_the_jvp_reference_moves_exactly_along_its_tangent():
    # x = 1e4 with the second look's steps (~1e-3): x + h u rounded as stored moved elements by a relative
    # ~1e-9 less or more than h u_i, and the reference (± 3.4e-9) disagreed with the exact J u by 16x
    # the allowance. Along the rounded tangent every move is exact.
    x = np.full((16, 8), 1e4)
    u = np.random.default_rng(0).standard_normal(x.shape)
    reference = reference_jvp(np.sin, [x], 0, u, step_scale=SECOND_LOOK)
    exact = np.cos(x) * reference.tangent
    assert np.max(np.abs(reference.value - exact) / np.abs(exact)) < 1e-9
    assert compare(exact, reference, TOL, **WHERE).status is Status.PASS
    assert np.max(np.abs(reference.tangent - u) / np.abs(u)) < 1e-3  # still the seeded direction
    # a wrong J u (cos with the wrong sign) still fails there
    assert compare(-exact, reference, TOL, **WHERE).status is Status.FAIL
