"""Honest totals: a run that compared nothing, a skip, an xfail that now passes are all visible,
and --strict (--gradcheck-strict) fails on each of them."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import gradcheck
from gradcheck.cli import main
from gradcheck.compare import verdict
from gradcheck.compare.comparison import Comparison, Status

REPO = Path(__file__).resolve().parents[2]
F = "tests.fixtures.bad_vjps"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # the case files name tests.fixtures.bad_vjps


def row(method="vjp", status=Status.PASS, case="c", **kwargs):
    return Comparison(case=case, file="f.yaml", line=1, method=method, input="x", status=status, **kwargs)


def invoke(tmp_path, text, *args):
    (tmp_path / "c.yaml").write_text(text)
    return CliRunner().invoke(main, ["run", str(tmp_path / "c.yaml"), "--json", str(tmp_path / "r.json"), *args])


NO_VJP = f"cases:\n  - name: no-vjp\n    function: {F}:sigmoid\n    inputs: {{x: [1.0, 2.0]}}\n"
GOOD = f"  - name: good\n    function: {F}:sigmoid\n    vjp: {F}:sigmoid_vjp\n    inputs: {{x: [1.0, 2.0]}}\n"


def test_the_verdict_of_rows():
    assert not verdict.analytic_ran([row("numeric"), row("torch", Status.SKIP)])
    assert verdict.analytic_ran([row("numeric"), row("torch", Status.ERROR)])
    assert verdict.failed([row(status=Status.FAIL)]) and not verdict.failed([row(status=Status.SKIP)])
    assert verdict.failed([row(status=Status.SKIP)], strict=True)
    assert verdict.failed([row(xfail=True)], strict=True)  # an XPASS
    assert not verdict.failed([row(status=Status.SKIP, xfail=True)], strict=True)  # an XFAIL is expected


def test_a_function_case_without_a_vjp_says_nothing_to_compare(tmp_path):
    result = invoke(tmp_path, NO_VJP + GOOD)
    assert result.exit_code == 0, result.output
    assert "NOTHING TO COMPARE no-vjp" in result.output and "add vjp:" in result.output
    assert "3 passed, 0 failed, 1 skipped, 0 errors; 1 case with nothing to compare" in result.output
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    (nothing,) = [r for r in rows if r["method"] == verdict.NOTHING]
    assert nothing["case"] == "no-vjp" and nothing["status"] == "skip"
    assert invoke(tmp_path, NO_VJP + GOOD, "--strict").exit_code == 1


def test_a_method_filter_that_leaves_nothing_is_visible(tmp_path):
    result = invoke(tmp_path, "cases:\n" + GOOD, "--method", "numeric")
    assert result.exit_code == 0
    assert "--method numeric leaves none of this case's analytic methods" in result.output
    assert "1 case with nothing to compare" in result.output
    strict = invoke(tmp_path, "cases:\n" + GOOD, "--method", "numeric", "--strict")
    assert strict.exit_code == 1 and "--strict: 1 case(s) with nothing to compare (good)" in strict.output


def test_cuda_without_a_gpu_fails_under_strict(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    text = "cases:\n  - name: s\n    op: sigmoid\n    inputs: {x: [1.0, 2.0]}\n"
    assert invoke(tmp_path, text, "--method", "torch", "--device", "cuda").exit_code == 0
    strict = invoke(tmp_path, text, "--method", "torch", "--device", "cuda", "--strict")
    assert strict.exit_code == 1
    assert "1 skipped row(s); 1 case(s) with nothing to compare (s)" in strict.output


XFAILS = (f"cases:\n  - name: known-bug\n    function: {F}:sigmoid\n    vjp: {F}:sigmoid_vjp_wrong_sign\n"
          f"    inputs: {{x: [1.0, 2.0]}}\n    xfail: sign bug\n"
          f"  - name: fixed-bug\n    function: {F}:sigmoid\n    vjp: {F}:sigmoid_vjp\n"
          f"    inputs: {{x: [1.0, 2.0]}}\n    xfail: sign bug\n")


def test_xfail_rows_show_xfail_and_xpass(tmp_path):
    result = invoke(tmp_path, XFAILS)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("known-bug") and line.rstrip().endswith("XFAIL") for line in lines)
    assert any(line.startswith("fixed-bug") and line.rstrip().endswith("XPASS") for line in lines)
    assert "XPASS fixed-bug › vjp" in result.output and "remove the xfail" in result.output
    assert result.output.rstrip().endswith("; 1 xfailed; 1 XPASS")
    rows = {r["case"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"] if r["method"] == "vjp"}
    assert (rows["known-bug"]["status"], rows["known-bug"]["xfail"]) == ("skip", True)
    assert (rows["fixed-bug"]["status"], rows["fixed-bug"]["xfail"]) == ("pass", True)
    strict = invoke(tmp_path, XFAILS, "--strict")
    assert strict.exit_code == 1 and "1 XPASS" in strict.output


def test_check_with_nothing_to_compare_does_not_pass():
    from tests.fixtures.bad_vjps import sigmoid, sigmoid_vjp

    result = gradcheck.check(sigmoid, {"x": np.array([1.0, 2.0])})
    assert not result.passed and result.nothing_compared
    assert "nothing to compare" in repr(result) and "NOTHING TO COMPARE" in str(result)
    assert gradcheck.check(sigmoid, {"x": np.array([1.0, 2.0])}, vjp=sigmoid_vjp).passed
