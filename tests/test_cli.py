"""The command line: exit codes, the table, the JSON report, and staying light."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcheck.cli import main

REPO = Path(__file__).resolve().parents[1]
FIXTURES = "tests/fixtures"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    # Case files name user code as tests.fixtures.module:function, importable from here.
    monkeypatch.chdir(REPO)


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_seeds_pass_with_published_answers():
    result = invoke("run", "cases/seeds.yaml", "--method", "numeric", "--method", "vjp", "-v")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    expect_rows = [line for line in lines if " expect " in line]
    # sigmoid, softmax, matmul dx + dy, conv2d dw, poly w1 + w2, square, chain, quadratic form.
    assert len(expect_rows) == 10 and all("PASS" in row for row in expect_rows)
    assert "0 failed" in result.output and "0 errors" in result.output


def test_a_wrong_vjp_exits_1_and_names_the_worst_element():
    result = invoke("run", f"{FIXTURES}/bad.yaml")
    assert result.exit_code == 1
    out = result.output
    good = [line for line in out.splitlines() if line.startswith("good-sigmoid") and " vjp " in line]
    assert good and "PASS" in good[0]
    # wrong sign: the worst element is x[0] (largest |gradient|: dz*s(1-s) = 0.0452 there).
    assert "FAIL wrong-sign › vjp › x › [0]" in out
    assert "got -0.04517665973, reference 0.04517665973" in out
    assert "wrong sign" in out
    # missing transpose: dz @ y = [[16, 19], [36, 43]] instead of dz @ y.T = [[14, 20], [32, 46]].
    assert "FAIL missing-transpose › vjp › x" in out and "FAIL missing-transpose › vjp › y" in out
    assert "tests/fixtures/bad.yaml:" in out


def test_broken_file_exits_2_with_file_and_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("cases:\n  - name: a\n    op: sigmoid\n    input: {x: 1.0}\n")
    result = CliRunner().invoke(main, ["run", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}:4" in result.output and "unknown key 'input'" in result.output
    assert "did you mean 'inputs'" in result.output
    assert "Traceback" not in result.output


def test_invalid_file_stops_everything_before_running(tmp_path):
    (tmp_path / "a.yaml").write_text("name: fine\nop: exp\ninputs: {x: 1.0}\n")
    (tmp_path / "b.yaml").write_text("name: bad\nop: nope\ninputs: {x: 1.0}\n")
    result = CliRunner().invoke(main, ["run", str(tmp_path)])
    assert result.exit_code == 2 and "unknown op 'nope'" in result.output
    assert "fine" not in result.output  # nothing ran


def test_a_failing_case_never_stops_the_others(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "cases:\n"
        "  - name: raises\n    function: tests.fixtures.bad_vjps:forward_raises\n    inputs: {x: 1.0}\n"
        "  - name: vjp-raises\n    function: tests.fixtures.bad_vjps:sigmoid\n"
        "    vjp: tests.fixtures.bad_vjps:vjp_raises\n    inputs: {x: 1.0}\n"
        "  - name: gives-none\n    function: tests.fixtures.bad_vjps:matmul\n"
        "    vjp: tests.fixtures.bad_vjps:vjp_returns_none\n"
        "    inputs: {x: [[1.0, 2.0]], y: [[3.0], [4.0]]}\n"
        "  - name: too-big\n    op: exp\n    inputs: {x: {shape: [1000, 1000, 1000]}}\n"
        "  - name: raises-with-answer\n    function: tests.fixtures.bad_vjps:forward_raises\n"
        "    inputs: {x: 1.0, y: 2.0}\n    expect: {y: 3.0}\n"
        "  - name: still-runs\n    op: tanh\n    inputs: {x: [0.5, -0.5]}\n"
    )
    result = CliRunner().invoke(main, ["run", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    by_case = {}
    for row in report["results"]:
        by_case.setdefault(row["case"], []).append(row)
    assert all(r["status"] == "error" for r in by_case["raises"])
    assert "boom in the user's forward" in by_case["raises"][0]["message"]
    assert any("boom in the user's vjp" in r["message"] for r in by_case["vjp-raises"])
    none_row = [r for r in by_case["gives-none"] if r["method"] == "vjp" and r["input"] == "y"][0]
    assert none_row["status"] == "error" and "returned None for input 'y'" in none_row["message"]
    assert "over the budget" in by_case["too-big"][0]["message"]
    # a published answer for y only: the error rows of `expect` name y, not x
    expect_rows = [(r["input"], r["status"]) for r in by_case["raises-with-answer"] if r["method"] == "expect"]
    assert expect_rows == [("y", "error")]
    assert {r["status"] for r in by_case["still-runs"]} == {"pass"}
    assert "Traceback" not in result.output


def test_json_report_follows_the_contract(tmp_path):
    path = tmp_path / "out" / "report.json"
    result = invoke("run", "cases/seeds.yaml", "-k", "sigmoid-seed", "--method", "numeric",
                    "--method", "vjp", "--json", str(path))
    assert result.exit_code == 0
    report = json.loads(path.read_text())
    assert report["version"] == 1
    assert report["summary"] == {"passed": 3, "failed": 0, "skipped": 0, "errors": 0}
    vjp = [r for r in report["results"] if r["method"] == "vjp"][0]
    assert vjp["case"] == "sigmoid-seed" and vjp["file"] == "cases/seeds.yaml" and vjp["input"] == "x"
    assert vjp["status"] == "pass" and vjp["max_abs_err"] < 1e-12 and vjp["max_rel_err"] < 1e-10
    assert vjp["tolerance"] == {"rtol": 1e-7, "atol": 1e-10}
    assert isinstance(vjp["worst_index"], list)
    # auto mode says which mode checked the input and why (the row passed, so nothing else)
    assert vjp["message"] == "auto: full (a published answer (expect:) is checked element-wise)"
    assert vjp["mode"] == "full" and vjp["budget_seconds"] == 10.0 and "predicted_full_seconds" not in vjp
    expect = [r for r in report["results"] if r["method"] == "expect"][0]
    assert expect["status"] == "pass" and expect["tolerance"] == {"rtol": 1e-5, "atol": 1e-8}
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left behind


def test_cli_tolerance_overrides_the_case(tmp_path):
    case = tmp_path / "c.yaml"
    case.write_text(
        "name: scaled\nfunction: tests.fixtures.bad_vjps:sigmoid\n"
        "vjp: tests.fixtures.bad_vjps:sigmoid_vjp_scaled\ninputs: {x: [0.5, 1.0, 2.0]}\n"
    )
    assert CliRunner().invoke(main, ["run", str(case)]).exit_code == 1  # 1e-6 off: flagged
    assert CliRunner().invoke(main, ["run", str(case), "--rtol", "1e-5"]).exit_code == 0


def test_no_cases_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path)])
    assert result.exit_code == 2 and "no cases found" in result.output
    result = CliRunner().invoke(main, ["run", "cases/seeds.yaml", "-k", "no-such-case"])
    assert result.exit_code == 2 and "matching -k 'no-such-case'" in result.output


def test_list_and_ops():
    listed = invoke("list", "cases/seeds.yaml")
    assert listed.exit_code == 0
    assert "matmul-seed" in listed.output and "op matmul" in listed.output
    assert "cases/seeds.yaml:" in listed.output and "8 case(s)" in listed.output
    ops = invoke("ops")
    assert ops.exit_code == 0
    for name in ("sigmoid", "softmax", "matmul", "conv2d", "relu", "tanh", "exp", "log", "sum", "mean"):
        assert f"\n{name} " in ops.output
    assert "clip to [low, high]" in ops.output  # brackets in a summary are text, not rich markup


def test_skip_and_xfail(tmp_path):
    case = tmp_path / "c.yaml"
    case.write_text(
        "cases:\n"
        "  - name: skipped\n    op: exp\n    inputs: {x: 1.0}\n    skip: not today\n"
        "  - name: expected-to-fail\n    function: tests.fixtures.bad_vjps:sigmoid\n"
        "    vjp: tests.fixtures.bad_vjps:sigmoid_vjp_wrong_sign\n    inputs: {x: [1.0]}\n"
        "    xfail: sign bug, issue 12\n"
    )
    result = CliRunner().invoke(main, ["run", str(case)])
    assert result.exit_code == 0, result.output
    # exp has 8 methods; the skipped case's rows fold into one line naming the reason.
    assert "8 rows skipped in case skipped: not today" in result.output
    assert "XFAIL expected-to-fail › vjp" in result.output and "xfail (sign bug, issue 12)" in result.output
    assert not any(line.startswith("skipped ") for line in result.output.splitlines())
    listed = CliRunner().invoke(main, ["run", str(case), "--show-skips"]).output.splitlines()
    assert len([line for line in listed if line.startswith("skipped ") and line.split()[-1] == "SKIP"]) == 8


def test_help_imports_no_framework():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from gradcheck.cli import main\n"
        "for args in (['--help'], ['run', '--help'], ['list', 'cases/seeds.yaml'], ['ops'],\n"
        "             ['run', 'cases/seeds.yaml', '--method', 'vjp']):\n"
        "    CliRunner().invoke(main, args)\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_python_dash_m_and_console_script_agree():
    result = subprocess.run([sys.executable, "-m", "gradcheck", "--help"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "Usage: gradcheck" in result.stdout


# ---------------------------------------------------------------- what a person reads (issue 13)

ERRORS = (
    "cases:\n"
    "  - name: raises\n    function: tests.fixtures.bad_vjps:forward_raises\n"
    "    vjp: tests.fixtures.bad_vjps:sigmoid_vjp\n    torch: tests.fixtures.bad_vjps:forward_raises\n"
    "    jax: tests.fixtures.bad_vjps:forward_raises\n    inputs: {x: [1.0, 2.0]}\n"
    "  - name: vjp-raises\n    function: tests.fixtures.bad_vjps:sigmoid\n"
    "    vjp: tests.fixtures.bad_vjps:vjp_raises\n    inputs: {x: [1.0, 2.0]}\n"
)


def _rows(output: str) -> list[list[str]]:
    """The table's data rows, split into cells (the header and the lines under the table left out)."""
    lines = output.splitlines()
    return [line.split() for line in lines[1:] if line and not line.startswith(("FAIL ", "ERROR ", "    "))
            and " passed, " not in line and " skipped" not in line]


def _cases_and_methods(output: str) -> list[tuple[str, str]]:
    return [(cells[0], cells[1]) for cells in _rows(output)]


def test_the_failure_line_shows_the_input_values_and_cotangent_at_the_worst_element():
    out = invoke("run", f"{FIXTURES}/bad.yaml").output
    # bad.yaml: wrong-sign has x = [3, 4, 5], dz = [1, 2, 3]; the matmul's x[0,0] = 3, y[0,0] = 4, dz[0,0] = 1.
    assert "FAIL wrong-sign › vjp › x › [0] where x = 3, cotangent 1 (tests/fixtures/bad.yaml:7): " in out
    assert "FAIL missing-transpose › vjp › y › [0, 0] where x = 3, y = 4, cotangent 1 (" in out


@pytest.mark.parametrize(("expressions", "expected"), [
    (["sign and not numeric"], [("wrong-sign", "vjp")]),
    (["good or transpose and vjp"], [("good-sigmoid", "numeric"), ("good-sigmoid", "vjp"),
                                     ("missing-transpose", "vjp"), ("missing-transpose", "vjp")]),
    (["(good or transpose) and vjp"], [("good-sigmoid", "vjp"), ("missing-transpose", "vjp"),
                                       ("missing-transpose", "vjp")]),
    (["sigmoid", "numeric"], [("good-sigmoid", "numeric")]),  # repeated -k: all must match
    (["SIGN and VJP"], [("wrong-sign", "vjp")]),  # names match ignoring case, as in pytest
    (["softmax"], []),
])
def test_k_takes_pytest_style_expressions_over_case_and_method_names(expressions, expected):
    args = [arg for expression in expressions for arg in ("-k", expression)]
    result = invoke("run", f"{FIXTURES}/bad.yaml", *args) if expected else CliRunner().invoke(
        main, ["run", f"{FIXTURES}/bad.yaml", *args])
    if not expected:
        assert result.exit_code == 2 and "no cases found" in result.output
        return
    assert _cases_and_methods(result.output) == expected


@pytest.mark.parametrize(("expression", "message"), [
    ("sigmoid and", "the expression ends too early"),
    ("(sigmoid or vjp", "the expression ends too early"),
    ("sigmoid vjp", "unexpected 'vjp'"),
    ("__import__('os')", "unexpected character \"'\""),
])
def test_a_bad_k_expression_is_a_usage_error_naming_the_problem(expression, message):
    result = CliRunner().invoke(main, ["run", f"{FIXTURES}/bad.yaml", "-k", expression])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_an_error_before_any_comparison_prints_once_per_case(tmp_path):
    cases = tmp_path / "errors.yaml"
    cases.write_text(ERRORS)
    result = invoke("run", str(cases))
    assert result.exit_code == 1
    rows = _rows(result.output)
    # raises: numeric, vjp, torch, jax all fail to start -> one row, one line.
    assert rows[0] == ["raises", "4", "methods", "x", "-", "-", "-", "-", "ERROR", "(4", "rows)"]
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR raises ({cases}:2): the forward raised RuntimeError: boom in the user's forward",
        f"ERROR vjp-raises › vjp ({cases}:8): ValueError: boom in the user's vjp (at "
        f"{REPO / 'tests/fixtures/bad_vjps.py'}:88)",
    ]
    assert "0 skipped, 5 errors" in result.output and "Traceback" not in result.output


def test_v_adds_the_tracebacks_of_user_code(tmp_path):
    cases = tmp_path / "errors.yaml"
    cases.write_text(ERRORS)
    out = invoke("run", str(cases), "-v").output
    assert out.count("    Traceback (most recent call last):") == 2
    assert 'bad_vjps.py", line 84, in forward_raises' in out and 'bad_vjps.py", line 88, in vjp_raises' in out
    assert "    ValueError: boom in the user's vjp" in out


def test_q_prints_only_failures_and_the_summary():
    result = invoke("run", f"{FIXTURES}/bad.yaml", "-q")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [cells[-1] for cells in _rows(result.output)] == ["FAIL"] * 3
    assert sum(line.startswith("FAIL ") for line in lines) == 3
    assert lines[-1] == "5 passed, 3 failed, 0 skipped, 0 errors"
    assert "PASS" not in result.output and len(lines) == 1 + 3 + 3 + 1
    assert CliRunner().invoke(main, ["run", f"{FIXTURES}/bad.yaml", "-q", "-v"]).exit_code == 2


def test_at_80_columns_the_key_columns_stay_whole():
    done = subprocess.run([sys.executable, "-m", "gradcheck", "run", f"{FIXTURES}/bad.yaml"], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, timeout=300)
    lines = done.stdout.splitlines()
    table = [line for line in lines if not line.startswith(("FAIL ", "5 passed"))]
    # The worst index goes first (the failure lines under the table name it).
    assert table[0].split() == ["case", "method", "input", "max", "abs", "err", "max", "rel", "err", "margin",
                                "verdict"]
    assert all(len(line.rstrip()) <= 80 for line in table) and "…" not in done.stdout
    assert ["missing-transpose", "vjp", "y", "4.00e+00", "1.67e-01", "1.7e+06x", "FAIL"] in [
        line.split() for line in table]
    wide = subprocess.run([sys.executable, "-m", "gradcheck", "run", f"{FIXTURES}/bad.yaml"], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert "worst index" in wide.stdout.splitlines()[0]


def test_with_only_numpy_the_whole_suite_prints_about_40_lines():
    code = ("import sys\nfor name in ('torch', 'tensorflow', 'jax'):\n    sys.modules[name] = None\n"
            "from gradcheck.cli import main\nmain(['run', 'cases/'], prog_name='gradcheck')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 42, done.stdout
    for framework in ("torch", "tensorflow", "jax"):
        assert sum(f"skipped: {framework} is not installed (pip install 'gradcheck[{framework}]')" in line
                   for line in lines) == 1
    assert " SKIP" not in done.stdout and "PASS (" in done.stdout  # each case's passes, one row


def test_html_without_matplotlib_is_a_usage_error_naming_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    result = CliRunner().invoke(main, ["run", f"{FIXTURES}/bad.yaml", "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "pip install 'gradcheck[html]'" in result.output
    assert not (tmp_path / "r.html").exists()


def test_a_long_piped_run_reports_progress_on_stderr():
    import io
    import time

    from gradcheck.run.progress import Ticker

    stream = io.StringIO()
    ticker = Ticker(5, interval=0.05, stream=stream)
    ticker.advance("a")
    ticker.advance("b")
    time.sleep(0.3)
    ticker.close()
    lines = stream.getvalue().splitlines()
    assert lines and lines[0].startswith("gradcheck: 2 of 5 cases done (")
    quiet = Ticker(5, interval=60, stream=stream)  # a run shorter than the interval prints nothing
    quiet.close()
    assert stream.getvalue().splitlines() == lines
