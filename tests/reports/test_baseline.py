"""The baseline gate: a gradient whose error grows fails the run even inside its tolerance."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcheck.cli import main
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.reports import baseline
from gradcheck.tolerance import Tolerance

REPO = Path(__file__).resolve().parents[2]
KEY = "{file}::swish[vjp]::x"

CASE = """\
cases:
  - name: swish
    function: tests.fixtures.drift_vjps:swish
    vjp: tests.fixtures.drift_vjps:{vjp}
    inputs: {{x: {{shape: [50], dist: normal, seed: 3}}}}
    tolerance: {{rtol: 1.0e-3, atol: 1.0e-9}}
"""


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # the case files name tests.fixtures.drift_vjps:...


@pytest.fixture
def case_file(tmp_path):
    path = tmp_path / "cases" / "swish.yaml"
    path.parent.mkdir()

    def write(vjp: str) -> str:
        path.write_text(CASE.format(vjp=vjp))
        return str(path)

    return write


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_a_correct_vjp_that_drifts_to_1e_6_fails_against_its_baseline(case_file, tmp_path):
    recorded = tmp_path / "reports" / "baseline.json"
    file = case_file("swish_vjp")
    first = invoke("run", file, "--update-baseline", recorded)
    assert first.exit_code == 0, first.output
    entries = json.loads(recorded.read_text())["comparisons"]
    key = KEY.format(file=baseline.portable_file(file))
    assert entries[key]["status"] == "pass" and entries[key]["max_abs_err"] < 1e-11

    case_file("swish_vjp_drifted")
    alone = invoke("run", file)  # within rtol 1e-3: the tolerance alone lets it through
    assert alone.exit_code == 0, alone.output
    gated = invoke("run", file, "--baseline", recorded, "--junit", tmp_path / "j.xml")
    assert gated.exit_code == 1, gated.output
    assert f"REGRESSED {key}: error grew" in gated.output
    assert re.search(r"max abs err 1\.\d\de-12 -> 1\.00e-06", gated.output)
    assert "1 regressed, 0 improved, 0 new" in gated.output
    # The JUnit report agrees with the exit code: the regression is a failure there.
    junit = (tmp_path / "j.xml").read_text()
    assert 'failures="1"' in junit and "regressed against baseline" in junit
    # A generous factor lets the same drift through.
    assert invoke("run", file, "--baseline", recorded, "--baseline-factor", "1e9").exit_code == 0


def test_improvements_are_listed_and_pass(case_file, tmp_path):
    recorded = tmp_path / "baseline.json"
    file = case_file("swish_vjp_drifted")
    assert invoke("run", file, "--update-baseline", recorded).exit_code == 0
    case_file("swish_vjp")
    result = invoke("run", file, "--baseline", recorded)
    assert result.exit_code == 0, result.output
    key = KEY.format(file=baseline.portable_file(file))
    assert f"IMPROVED  {key}: error shrank" in result.output
    assert "0 regressed, 1 improved, 0 new" in result.output


def test_a_verdict_that_gets_worse_is_a_regression(case_file, tmp_path):
    recorded = tmp_path / "baseline.json"
    file = case_file("swish_vjp")
    invoke("run", file, "--update-baseline", recorded)
    case_file("swish_vjp_wrong_sign")
    result = invoke("run", file, "--baseline", recorded)
    assert result.exit_code == 1
    assert f"REGRESSED {KEY.format(file=baseline.portable_file(file))}: pass -> fail" in result.output


def test_comparisons_absent_from_the_baseline_are_new_not_failures(case_file, tmp_path):
    recorded = tmp_path / "baseline.json"
    file = case_file("swish_vjp")
    invoke("run", file, "--method", "numeric", "--update-baseline", recorded)
    assert list(json.loads(recorded.read_text())["comparisons"]) == [
        f"{baseline.portable_file(file)}::swish[numeric]::x"]
    result = invoke("run", file, "--baseline", recorded)
    assert result.exit_code == 0, result.output
    assert f"NEW       {KEY.format(file=baseline.portable_file(file))}" in result.output
    assert "0 regressed, 0 improved, 1 new" in result.output
    # And the other way round: what the baseline has and this run lacks is counted, not failed.
    narrow = invoke("run", file, "--method", "vjp", "--baseline", recorded)
    assert narrow.exit_code == 0 and "1 in the baseline but not run" in narrow.output


def test_a_missing_baseline_is_exit_2_saying_how_to_create_it(case_file, tmp_path):
    file = case_file("swish_vjp")
    missing = tmp_path / "nope.json"
    result = invoke("run", file, "--baseline", missing)
    assert result.exit_code == 2
    assert f"create it with --update-baseline {missing}" in result.output
    assert "swish" not in result.output  # nothing ran


@pytest.mark.parametrize("text, words", [
    ("{not json", "cannot be read"),
    ('{"version": 99, "comparisons": {}}', "not a gradcheck baseline of version 1"),
    ('{"version": 1, "comparisons": {"k": {"status": "great"}}}', "entry 'k' is malformed"),
])
def test_a_foreign_baseline_is_exit_2(case_file, tmp_path, text, words):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    result = invoke("run", case_file("swish_vjp"), "--baseline", bad)
    assert result.exit_code == 2 and words in result.output


# ---------------------------------------------------------------- the library


def row(method="vjp", status=Status.PASS, margin=1e-9, abs_err=1e-12, case="c", tolerance=(1e-7, 1e-10)):
    return Comparison(case=case, file="cases/a.yaml", line=3, method=method, input="x", status=status,
                      max_abs_err=abs_err, max_rel_err=abs_err, margin=margin,
                      tolerance=Tolerance(*tolerance) if tolerance else None)


def test_the_file_is_deterministic_sorted_and_round_trips():
    rows = [row(case="b"), row(case="a", margin=float("inf"), status=Status.FAIL), row("numeric", margin=None)]
    text = baseline.to_json(rows)
    assert text == baseline.to_json(rows)
    document = json.loads(text)
    assert document["version"] == baseline.BASELINE_VERSION
    assert list(document["comparisons"]) == sorted(document["comparisons"])
    assert document["comparisons"]["cases/a.yaml::a[vjp]::x"]["margin"] is None  # inf is not JSON


def test_rounding_noise_is_neither_a_regression_nor_an_improvement(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(baseline.to_json([row(margin=0.0, abs_err=0.0)]))
    recorded = baseline.load(path)
    noise = baseline.diff([row(margin=5e-7, abs_err=1e-16)], recorded)
    assert not noise.regressions and not noise.improvements
    grown = baseline.diff([row(margin=2e-5)], recorded)  # 20x the noise floor
    assert len(grown.regressions) == 1 and "grew from 0" in grown.regressions[0].reason


def test_skips_are_not_regressions_and_their_return_is_new(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(baseline.to_json([row("torch"), row("jax", status=Status.SKIP, margin=None)]))
    recorded = baseline.load(path)
    result = baseline.diff([row("torch", status=Status.SKIP, margin=None), row("jax")], recorded)
    assert not result.failed
    assert [c.key for c in result.now_skipped] == ["cases/a.yaml::c[torch]::x"]
    assert [c.key for c in result.new] == ["cases/a.yaml::c[jax]::x"]


def test_a_changed_tolerance_is_named_in_the_reason(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(baseline.to_json([row(margin=1e-4)]))
    result = baseline.diff([row(margin=1e-2, tolerance=(1e-9, 1e-12))], baseline.load(path))
    assert "tolerance changed: atol 1e-10, rtol 1e-07 -> atol 1e-12, rtol 1e-09" in result.regressions[0].reason
