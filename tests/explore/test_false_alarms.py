"""The false alarms a 50-example sweep of the shipped cases raised, each at its cause, with real numbers;
and the wrong gradients at the same points still fail."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gradcheck.cases import load_file
from gradcheck.cases.problem import materialize_outputs
from gradcheck.compare.comparison import Status, compare
from gradcheck.engine.directional import reference_jvp, scale_groups
from gradcheck.engine.reference import reference_vjp
from gradcheck.explore.rounding import ill_conditioned
from gradcheck.explore.search import (
    SECOND_LOOKS,
    problems_at,
    settled,
    shared_forwards,
)
from gradcheck.ops import OPS
from gradcheck.tolerance import DEFAULT_TOLERANCES

REPO = Path(__file__).resolve().parents[2]
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


def test_a_retry_below_the_outputs_rounding_does_not_make_the_reference_exact():
    # mse_loss at x = 0 beside a target of 1e5: phi = 8.3e8, and x[2, 2]'s derivative is -1/6. The first
    # steps see it (-0.159 ± 0.16); the retries' steps (16 and 256 times smaller) change phi by less than
    # half its ulp, and 0 ± 0 replaced it: every correct gradient "failed" by 1.7e9 times the allowance.
    x, t = np.zeros((3, 4)), np.zeros((3, 4))
    t[2, 2], t[2, 3] = 1.0, 1e5
    reference = reference_vjp(OPS["mse_loss"].forward, [x, t], np.array(1.0), 0)
    exact = 2 * (x - t) / x.size
    assert reference.value[2, 2] == pytest.approx(-1 / 6, abs=reference.error[2, 2] + 1e-9)
    assert reference.error[2, 3] / abs(exact[2, 3]) < 1e-4
    assert compare(exact, reference, TOL, **WHERE).status is Status.PASS
    # a gradient that forgets the mean's 1/n is still wrong there, by far more than the reference's error
    assert compare(exact * x.size, reference, TOL, **WHERE).status is Status.FAIL
    missing_factor = exact.copy()
    missing_factor[2, 2] *= 0.5  # wrong only at the element the rounding hides most
    assert compare(missing_factor, reference, TOL, **WHERE).status is Status.FAIL


def test_a_level_whose_outputs_stopped_moving_keeps_their_rounding():
    # the 200-example sweep's mse_loss-matrix point: phi = 2.6e10 (ulp 3.8e-6). x[1, 2] (derivative -1/3)
    # moved phi at the widest steps only; the narrower levels' exact zeros, taken as exact, extrapolated
    # to 1.9e-4 +- 0.013, and every correct gradient failed by 25x the allowance.
    x = np.zeros((3, 4))
    x[2, 2], x[2, 3] = 1.0, 2.0
    t = np.zeros((3, 4))
    t[1, 1], t[1, 2], t[1, 3] = 562341.3251903491, 2.0, 0.0031622776601683794
    reference = reference_vjp(OPS["mse_loss"].forward, [x, t], np.array(1.0), 0)
    exact = 2 * (x - t) / x.size
    assert abs(reference.value[1, 2] - exact[1, 2]) <= reference.error[1, 2]
    assert reference.value[1, 2] == pytest.approx(-1 / 3, rel=1e-3)
    # x[1, 3] (-5.3e-4) moves phi by 8e-7 at its widest step, under half an ulp: no output moves at any
    # step, the reference is 0 +- 0, and explore's below_resolution calls that point unverifiable.
    assert reference.value[1, 3] == 0 and reference.error[1, 3] == 0
    assert compare(exact * 1.5, reference, TOL, **WHERE).status is Status.FAIL


def test_mse_by_hand_below_resolution_point_passes():
    x, t = np.array([0.0, 0.0, 1e-4]), np.array([0.0, 1000.0, 0.0])
    reference = reference_vjp(OPS["mse_loss"].forward, [x, t], np.array(1.0), 0)
    exact = 2 * (x - t) / x.size
    assert compare(exact, reference, TOL, **WHERE).status is Status.PASS
    assert compare(-exact, reference, TOL, **WHERE).status is Status.FAIL


@pytest.fixture
def batch_norm_at_1e6():
    case = next(c for c in load_file(REPO / "cases/ops/batch_norm.yaml") if c.name == "batch_norm-nchw")
    base = shared_forwards(materialize_outputs(case))
    return problems_at(base, {"x": np.full((2, 3, 4, 4), 1e6), "weight": np.full(3, 0.5), "bias": np.zeros(3)})


def _row(got: float, want: float = 0.0):
    from gradcheck.compare.comparison import Comparison

    return Comparison(case="batch_norm-nchw", file="f", line=1, method="tensorflow", input="weight",
                      status=Status.FAIL, worst_index=(0,), got=got, want=want, margin=662.6,
                      max_abs_err=abs(got - want))


def test_tensorflows_weight_gradient_at_a_constant_1e6_is_rounding_not_a_bug(batch_norm_at_1e6):
    # TensorFlow's batch_normalization: x * inv + (bias - mu * inv); its weight gradient sums terms of
    # ~3e7 that cancel to 6.6e-8 (the sweep's number), where the reference's (x - mu) / sigma sum is 0.
    # Moving the inputs by 4 ulps (x by 4e-10) moves the true weight gradient by ~1e-7: unverifiable.
    assert ill_conditioned(_row(6.626476287e-08), batch_norm_at_1e6)
    # a weight gradient that is really wrong there (sum dz, the xhat left out: ~1 in size) is still a bug
    assert not ill_conditioned(_row(1.0), batch_norm_at_1e6)
    assert not ill_conditioned(_row(1e-4), batch_norm_at_1e6)


def test_a_well_conditioned_point_clears_nothing(batch_norm_at_1e6):
    x = np.random.default_rng(2).normal(size=(2, 3, 4, 4))
    problems = [replace(p, inputs={**p.inputs, "x": x}, output=p.forward(x, p.inputs["weight"], p.inputs["bias"]))
                for p in batch_norm_at_1e6]
    p = problems[0]
    want = reference_vjp(p.forward, list(p.inputs.values()), p.cotangent, 1).value[0]
    assert not ill_conditioned(_row(want + 1e-6, want), problems)


def test_explore_holds_torch_to_one_thread_and_gives_the_count_back():
    torch = pytest.importorskip("torch")
    from gradcheck.explore.search import OneThread

    before = torch.get_num_threads()
    held = OneThread()
    held.hold()
    assert torch.get_num_threads() == 1
    held.release()
    assert torch.get_num_threads() == before


def test_a_second_look_with_a_converged_reference_settles_a_saturated_first_look():
    # the sweep's attention-cross point: |q| = 7e5 against five equal keys. J u along k is ~4e8; the first
    # look's steps saturate the softmax (0 +- 1e-168, "a real bug" 1.8e14 times the allowance away); 2^16
    # times smaller the frameworks' J u is 3.7 allowances (5.8e-7 relative) from a converged reference.
    pytest.importorskip("torch")
    from gradcheck.run.runner import RunOptions, run_case

    case = next(c for c in load_file(REPO / "cases/ops/attention.yaml") if c.name == "attention-cross")
    base = shared_forwards(materialize_outputs(case))
    q = np.zeros((2, 4, 3))
    q[1, 1, 0], q[1, 2, 1] = 694656.5431044222, 1e4
    v = np.zeros((2, 5, 2))
    v[1, 3], v[1, 4, 1] = [1.0, -1e5], -17782.794100389227
    problems = problems_at(base, {"q": q, "k": np.ones((2, 5, 3)), "v": v})
    resolved = replace(base[0].case, expect={})
    first = {r.input: r for r in run_case(resolved, RunOptions(methods=("torch-jvp",)), problems)}
    assert first["k"].margin > 1e10 and not settled(first["k"])
    look = {r.input: r for r in run_case(resolved, RunOptions(methods=("torch-jvp",), step_scale=SECOND_LOOKS[0]),
                                         problems)}
    assert look["k"].margin < 100 and settled(look["k"])


def test_an_uncertain_or_large_miss_settles_nothing():
    from gradcheck.compare.comparison import Comparison

    def row(margin, message):
        return Comparison(case="c", file="f", line=1, method="torch", input="x", status=Status.FAIL,
                          margin=margin, message=message)
    assert settled(row(3.7, "just outside the tolerance (3.7 times the allowance) with a converged reference"))
    assert not settled(row(2e3, "a real bug: the gradient is 2e+03 times the allowance away"))
    assert not settled(row(3.7, "the reference did not converge there (± 1.6e+03, 3.6e-05 of its value)"))
    assert not settled(row(150, "probably a real bug (1.5e+02 times the allowance away), though the reference "
                                "there is uncertain"))


def test_the_middle_look_serves_a_softmax_of_scores_near_1e5():
    # the sweep's second attention-cross point: |q| = 1.8e5. First look: 0 +- 3e-190 against J u = -36.3;
    # at 2^-16 the reference has not converged (1.1e-6 relative), at 2^-32 it drowns in rounding (26%);
    # at 2^-24 torch's J u passes.
    pytest.importorskip("torch")
    from gradcheck.run.runner import RunOptions, run_case

    assert 2.0**-24 in SECOND_LOOKS
    case = next(c for c in load_file(REPO / "cases/ops/attention.yaml") if c.name == "attention-cross")
    base = shared_forwards(materialize_outputs(case))
    q = np.zeros((2, 4, 3))
    q[0, 0, 1:] = 1.333521432163324e-06, 184172.2294015582
    v = np.zeros((2, 5, 2))
    v[0, 0, 1] = v[0, 3, 1] = 1.0
    problems = problems_at(base, {"q": q, "k": np.ones((2, 5, 3)), "v": v})
    resolved = replace(base[0].case, expect={})

    def k_row(scale):
        rows = run_case(resolved, RunOptions(methods=("torch-jvp",), step_scale=scale), problems)
        return next(r for r in rows if r.input == "k")
    assert k_row(1.0).margin > 1e10
    assert not settled(k_row(2.0**-16)) and not settled(k_row(2.0**-32))
    assert k_row(2.0**-24).status is Status.PASS


def test_expr_order2_at_x_100_is_below_the_rounding_of_phi2_not_a_bug():
    # the 200-example sweep's last alarm: expr-order2 at x = (0, 0, 100), y = 0. The engine's H V
    # differentiates phi2 = <dz, F>, F = J_f V = e^100 v_x[2] + ... = -3.6e45, whose rounding (4 ulps) is
    # 3.2e30: H V at x[1] is exp(0) v_x[1] = 4.65, which at the reference's smallest step there (0.028)
    # moves phi2 by 0.13, and the reference says 0 +- 0. The row's largest error, 1.8e32, is at x[2],
    # where H V = 3.6e45 passes: it is not what failed.
    pytest.importorskip("torch")
    from gradcheck.cases.problem import stable_seed
    from gradcheck.compare.second_order import OWN
    from gradcheck.engine.hessian import seeded_tangent
    from gradcheck.explore.rounding import below_resolution, tangent_forward
    from gradcheck.explore.search import is_bug
    from gradcheck.run.runner import RunOptions, run_case

    case = next(c for c in load_file(REPO / "cases/second_order.yaml") if c.name == "expr-order2")
    base = shared_forwards(materialize_outputs(case))
    problems = problems_at(base, {"x": np.array([0.0, 0.0, 100.0]), "y": np.zeros(3)})
    rows = run_case(replace(base[0].case, expect={}), RunOptions(methods=("torch",)), problems)
    second = {r.input: r for r in rows if r.order == 2}
    assert all(is_bug(r) for r in second.values())  # the check alone calls them real bugs
    assert all(below_resolution(r, problems) for r in rows if is_bug(r))  # first order and second
    x = second["x"]
    v = seeded_tangent(problems[0].inputs["x"], stable_seed("expr-order2", "second order", "x"))
    assert x.worst_index == (1,) and x.want == 0 and x.got == pytest.approx(v[1], rel=1e-12)
    assert x.got == pytest.approx(4.6511683748, rel=1e-9) and x.max_abs_err > 1e32
    assert float(tangent_forward(problems[0])) == pytest.approx(-3.635088e45, rel=1e-6)
    assert second["y"].got == pytest.approx(0.0023993481, rel=1e-7) and second["y"].want == 0
    # a discrepancy phi2 resolves, at x[2] (step 0.94): 1e31 there moves phi2 by 9e30 > 3.2e30
    assert not below_resolution(replace(x, worst_index=(2,), got=x.want + 1e31), problems)
    assert below_resolution(replace(x, worst_index=(2,), got=x.want + 1e30), problems)
    # a row judged against the derivative of the method's own VJP is never cleared by phi2's rounding
    assert not below_resolution(replace(x, message=OWN), problems)


@pytest.mark.parametrize("backward", ["detached_sigmoid", "half_detached_sigmoid"])
def test_a_wrong_second_order_backward_is_still_found(backward, monkeypatch):
    # right at order 1, wrong at order 2: a passing first-order row must not settle its second order
    # (explore keyed both by method and input: it called every point unverifiable and found nothing)
    pytest.importorskip("torch")
    from gradcheck.cases import parse_cases
    from gradcheck.explore.search import explore_case

    monkeypatch.chdir(REPO)
    wrong = parse_cases(f"name: c\ntorch: tests.fixtures.second_order_torch:{backward}\norder: 2\n"
                        "inputs: {x: {shape: [5], dist: normal}}\n")[0]
    found = explore_case(wrong, examples=20, seed=0, max_seconds=30)
    assert found.finding is not None
    rows = {r.order: r for r in found.finding.rows if r.method == "torch"}
    assert rows[1].status is Status.PASS and rows[2].status is Status.FAIL and rows[2].margin > 1e3
    assert "the first order passes and the second fails" in rows[2].message
    right = parse_cases("name: c\ntorch: tests.fixtures.second_order_torch:sigmoid\norder: 2\n"
                        "inputs: {x: {shape: [5], dist: normal}}\n")[0]
    assert explore_case(right, examples=20, seed=0, max_seconds=30).finding is None


def test_a_second_look_shrinks_the_second_orders_steps_too():
    # sigmoid-order2 at x = (1, 1e5, ..., 1e5), found once a passing first order no longer settled the
    # second: the tangent's scale there is set by the 1e5s (v[0] = -1.3e4), so the first look's curves
    # straddle the whole sigmoid at x[0]: the derivative of torch's own VJP came out 2.7e-28 +- 2.7e-28
    # where H V = dz sigma''(1) v = 2200.6. The second looks' smaller steps now reach the derivative of
    # the method's own VJP and the engine's directional forward (they reached neither): at 2^-16 it passes.
    pytest.importorskip("torch")
    from gradcheck.run.runner import RunOptions, run_case

    case = next(c for c in load_file(REPO / "cases/second_order.yaml") if c.name == "sigmoid-order2")
    base = shared_forwards(materialize_outputs(case))
    x = np.full(200, 1e5)
    x[0] = 1.0
    problems = problems_at(base, {"x": x})
    resolved = replace(base[0].case, expect={})

    def second(scale):
        rows = run_case(resolved, RunOptions(methods=("torch",), step_scale=scale), problems)
        return next(r for r in rows if r.order == 2)
    first = second(1.0)
    assert first.margin > 1e10 and first.want < 1e-27 and first.got == pytest.approx(2200.6073345, rel=1e-9)
    look = second(SECOND_LOOKS[0])
    assert look.status is Status.PASS and settled(look) and look.want == pytest.approx(2200.6073345, rel=1e-8)
