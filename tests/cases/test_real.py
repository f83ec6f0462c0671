"""cases/real/ passes; each of its deliberately wrong twins in tests/fixtures/real_wrong/ FAILS,
its path naming the input, parameter or output and the worst element."""

from pathlib import Path

import pytest

from gradcheck.cases import load_cases
from gradcheck.compare.comparison import Status
from gradcheck.run.runner import run_case

REPO = Path(__file__).resolve().parents[2]

# twin -> the (method, input › output) rows that must fail; every other row passes.
WRONG = {
    "wrong-sparsemax-function": {("torch", "X")},
    "wrong-softplus-custom-vjp": {("jax", "x")},
    "wrong-clip-gradient": {("jax", "x")},
    "wrong-log1pexp-custom-gradient": {("tensorflow", "x")},
    "wrong-mish-linear-module": {("torch", "x"), ("torch", "linear.weight"), ("torch", "linear.bias")},
    "wrong-swish-dense-keras": {("tensorflow", "x"), ("tensorflow", "kernel"), ("tensorflow", "bias")},
    # The output layer sees the softplus values, not its derivative: only the first layer is wrong.
    "wrong-mlp-params-pytree": {("jax", "params.dense.kernel"), ("jax", "params.dense.bias")},
    "wrong-cross-entropy-int-targets": {("torch", "X")},
    "wrong-normalize-two-outputs": {("torch", "x › out[1]")},  # the norm's cotangent is dropped
    "wrong-mixout-stochastic": {("torch", "w")},
    "wrong-gaussian-nll-spd": {("torch", "cov")},
}


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # the twins import cases.real.* from here


@pytest.mark.slow
def test_every_real_case_passes():
    cases = load_cases([REPO / "cases" / "real"])
    assert {c.name for c in cases} == {name.removeprefix("wrong-") for name in WRONG}
    rows = [row for case in cases for row in run_case(case)]
    bad = [f"{r.path}: {r.message}" for r in rows if r.status is not Status.PASS]
    assert not bad, "\n".join(bad)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_wrong_twin_fails_where_it_is_wrong(name):
    (case,) = [c for c in load_cases([REPO / "tests" / "fixtures" / "real_wrong"]) if c.name == name]
    rows = run_case(case)
    failed = {(r.method, r.target) for r in rows if r.status is Status.FAIL}
    assert failed == WRONG[name], [r.path for r in rows]
    assert all(r.status is Status.PASS for r in rows if (r.method, r.target) not in failed)
    for row in rows:
        if row.status is Status.FAIL:
            assert row.path == f"{name} › {row.method} › {row.target} › {list(row.worst_index)}"
            assert f"worst at {list(row.worst_index)}" in row.message
