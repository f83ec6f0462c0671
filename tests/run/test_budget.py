"""Auto mode by predicted cost: full within --budget, fast beyond it, the rows saying which and why;
and a fast failure over the budget narrowed down to elements checked within it (run/narrowing.py)."""

import json
import re
import time

import numpy as np
import pytest
from click.testing import CliRunner

import gradcheck
from gradcheck.cli import main
from gradcheck.compare.comparison import Status
from gradcheck.methods import DEFAULT_BUDGET, Mode
from gradcheck.run import narrowing
from gradcheck.run.runner import RunOptions

RNG = np.random.default_rng(8)


def sleepy(x):
    time.sleep(0.05)  # a costly forward: a full check needs over 100 calls, 5 s and more
    return np.tanh(x)


def sleepy_vjp(x, dz):
    return (dz * (1 - np.tanh(x) ** 2),)


def sleepy_vjp_wrong(x, dz):
    (g,) = sleepy_vjp(x, dz)
    return (1.01 * g,)


def rows(result, method):
    return [c for c in result.comparisons if c.method == method]


def test_auto_checks_a_costly_input_fast_and_says_why():
    result = gradcheck.check(sleepy, {"x": RNG.normal(size=200)}, vjp=sleepy_vjp, budget=1.0)
    assert result.passed, result
    for row in result.comparisons:
        assert row.choice.mode is Mode.FAST and row.choice.budget == 1.0 and row.choice.predicted > 5
        assert re.match(r"auto: fast \(full check predicted [\d.]+ s > budget 1 s; at least: one forward call "
                        r"takes 0\.0\d s\); fast mode: ", row.message), row.message
    assert "matched the reference along 4 seeded random directions" in rows(result, "vjp")[0].message


def test_auto_checks_a_cheap_input_in_full_and_says_so():
    result = gradcheck.check(sleepy, {"x": RNG.normal(size=3)}, vjp=sleepy_vjp, budget=60.0)
    assert result.passed, result
    (vjp,) = rows(result, "vjp")
    assert vjp.choice.mode is Mode.FULL and vjp.choice.predicted is None
    assert vjp.message == "auto: full (predicted within the budget of 60 s)"
    assert rows(result, "numeric")[0].message.startswith("full reference by")


def test_the_default_budget_keeps_small_inputs_full():
    result = gradcheck.check(np.sin, {"x": RNG.normal(size=50)}, vjp=lambda x, dz: (dz * np.cos(x),))
    (vjp,) = rows(result, "vjp")
    assert vjp.choice.mode is Mode.FULL and vjp.choice.budget == DEFAULT_BUDGET == 10.0


@pytest.mark.parametrize("mode", [Mode.FULL, Mode.FAST])
def test_the_explicit_modes_make_no_choice(mode):
    result = gradcheck.check(np.sin, {"x": RNG.normal(size=5)}, vjp=lambda x, dz: (dz * np.cos(x),),
                             options=RunOptions(mode=mode, budget=1e-6))
    assert result.passed and all(c.choice is None for c in result.comparisons)
    assert all(not c.message.startswith("auto") for c in result.comparisons)


def test_a_published_answer_is_checked_in_full_whatever_the_budget():
    result = gradcheck.check(sleepy, {"x": [0.5]}, vjp=sleepy_vjp, cotangent=[1.0],
                             expect={"x": [1 - np.tanh(0.5) ** 2]}, budget=1e-3)
    assert result.passed, result
    assert {c.choice.mode for c in result.comparisons} == {Mode.FULL}
    assert "a published answer (expect:) is checked element-wise" in rows(result, "vjp")[0].message


def test_a_fast_failure_with_no_budget_left_for_any_element_still_fails():
    result = gradcheck.check(sleepy, {"x": RNG.normal(size=200)}, vjp=sleepy_vjp_wrong, budget=1.0)
    (vjp,) = rows(result, "vjp")
    assert vjp.status is Status.FAIL and vjp.choice.mode is Mode.FAST
    assert "which leaves no element to check element-wise (raise --budget)" in vjp.message


N, NEEDLE = 5000, 1234


def dense(x):
    """swish plus a term every output shares: a dense Jacobian, so no groups, n evaluations x 10 in full."""
    return x / (1 + np.exp(-x)) + 0.01 * np.sum(x, axis=-1, keepdims=True) ** 2


def dense_vjp_needle(x, dz):
    s = 1 / (1 + np.exp(-x))
    g = dz * (s + x * s * (1 - s)) + 0.02 * np.sum(x) * np.sum(dz)
    g[NEEDLE] *= 1 + 1e-4  # one element of 5,000 off by a relative 1e-4
    return (g,)


def test_a_fast_failure_over_the_budget_is_narrowed_down_to_the_wrong_element():
    rng = np.random.default_rng(3)
    x, dz = rng.normal(size=N), rng.normal(size=N)
    result = gradcheck.check(dense, {"x": x}, vjp=dense_vjp_needle, cotangent=dz, budget=1.0)
    (vjp,) = rows(result, "vjp")
    assert vjp.status is Status.FAIL and vjp.worst_index == (NEEDLE,)
    checked = re.search(r"so ([\d,]+) of 5,000 elements \(those left after (\d+) halvings", vjp.message)
    assert checked, vjp.message
    assert int(checked[1].replace(",", "")) <= 5000 / 2 ** int(checked[2]) + 1 and int(checked[2]) >= 3
    assert f"checked elements out of tolerance; worst at [{NEEDLE}]" in vjp.message
    assert "does not fit the budget of 1 s" in vjp.message


def test_the_halvings_planned_are_the_fewest_that_fit():
    # 1,024 elements at 1 ms an evaluation in 1 s: 4 halvings (72 evaluations) leave 64 elements (740)
    assert narrowing.plan(1024, 1e-3, 1.0) == 4
    assert narrowing.plan(1024, 1e-3, 100.0) == 0  # every element fits: no halving
    assert narrowing.plan(1024, 1.0, 1.0) is None  # not even one element


@pytest.fixture
def sleepy_case(tmp_path):
    (tmp_path / "sleepy_forwards.py").write_text(
        "import time\nimport numpy as np\n\n\ndef sleepy(x):\n    time.sleep(0.02)\n    return np.tanh(x)\n\n\n"
        "def sleepy_vjp(x, dz):\n    return dz * (1 - np.tanh(x) ** 2)\n")
    case = tmp_path / "sleepy.yaml"
    case.write_text("name: sleepy\nfunction: sleepy_forwards:sleepy\nvjp: sleepy_forwards:sleepy_vjp\n"
                    "inputs:\n  x: {shape: [20], dist: normal}\n")
    return case


def test_the_budget_on_the_command_line_decides_and_the_json_says_so(sleepy_case, tmp_path):
    runner = CliRunner()
    report = tmp_path / "report.json"
    result = runner.invoke(main, ["run", str(sleepy_case), "--budget", "1", "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert re.search(r"AUTO sleepy › x: fast \(full check predicted [\d.]+ s > budget 1 s", result.output)
    vjp = next(r for r in json.loads(report.read_text())["results"] if r["method"] == "vjp")
    assert vjp["mode"] == "fast" and vjp["budget_seconds"] == 1.0 and vjp["predicted_full_seconds"] > 2
    assert vjp["mode_reason"].startswith("full check predicted") and vjp["message"].startswith("auto: fast (")
    result = runner.invoke(main, ["run", str(sleepy_case), "--budget", "600", "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert "AUTO" not in result.output
    vjp = next(r for r in json.loads(report.read_text())["results"] if r["method"] == "vjp")
    assert vjp["mode"] == "full" and vjp["message"] == "auto: full (predicted within the budget of 600 s)"


@pytest.mark.parametrize("budget", ["0", "-1", "soon"])
def test_a_budget_that_is_no_positive_number_is_a_usage_error(sleepy_case, budget):
    result = CliRunner().invoke(main, ["run", str(sleepy_case), "--budget", budget])
    assert result.exit_code == 2 and "--budget" in result.output and "Traceback" not in result.output


def test_check_refuses_a_budget_that_is_no_positive_number():
    with pytest.raises(ValueError, match="budget must be a number of seconds above 0"):
        gradcheck.check(np.sin, {"x": [1.0]}, budget=0)


def test_a_non_finite_gradient_over_the_budget_is_checked_where_it_is_not_finite():
    rng = np.random.default_rng(4)
    x, dz = rng.normal(size=N), rng.normal(size=N)

    def nan_vjp(x, dz):
        s = 1 / (1 + np.exp(-x))
        g = dz * (s + x * s * (1 - s)) + 0.02 * np.sum(x) * np.sum(dz)
        g[777] = np.nan
        return (g,)

    result = gradcheck.check(dense, {"x": x}, vjp=nan_vjp, cotangent=dz, budget=0.5)
    (vjp,) = rows(result, "vjp")
    assert vjp.status is Status.FAIL and vjp.worst_index == (777,)
    assert "1 of 5,000 elements (the elements where the gradient is not finite) were checked" in vjp.message
