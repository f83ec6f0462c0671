"""The pytest plugin, driven through pytester in a scratch project of its own."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

# pytester forgets the modules first imported inside an in-process run, and
# NumPy refuses to be imported twice: import what the runs use here, once.
import gradcheck.api  # noqa: F401
import gradcheck.run.runner  # noqa: F401

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

VJPS = '''
import numpy as np

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))

def sigmoid_vjp(x, dz):
    s = sigmoid(x)
    return (dz * s * (1 - s),)

def sigmoid_vjp_wrong_sign(x, dz):
    s = sigmoid(x)
    return (-dz * s * (1 - s),)

def sigmoid_torch(x):
    import torch
    return torch.sigmoid(x)
'''

CASES = """\
cases:
  - name: good
    function: plugin_vjps:sigmoid
    vjp: plugin_vjps:sigmoid_vjp
    inputs: {x: [3.0, 4.0, 5.0]}
  - name: wrong-sign
    function: plugin_vjps:sigmoid
    vjp: plugin_vjps:sigmoid_vjp_wrong_sign
    inputs: {x: [1.0, 2.0]}
  - name: known-bug
    function: plugin_vjps:sigmoid
    vjp: plugin_vjps:sigmoid_vjp_wrong_sign
    inputs: {x: [1.0, 2.0]}
    xfail: sign bug, issue 12
  - name: later
    function: plugin_vjps:sigmoid
    inputs: {x: 1.0}
    skip: not today
  - name: needs-torch
    function: plugin_vjps:sigmoid
    torch: plugin_vjps:sigmoid_torch
    methods: [numeric, torch]
    inputs: {x: 1.0}
"""

# What CASES gives: 5 passed, the wrong sign failed, the known bug xfailed, the
# skipped case and the torch method (torch is hidden in this project) skipped.
OUTCOMES = {"passed": 5, "failed": 1, "xfailed": 1, "skipped": 2}


def _plugin_installed() -> bool:
    return any(ep.value == "gradcheck.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))


PLUGIN = () if _plugin_installed() else ("-p", "gradcheck.pytest_plugin")


@pytest.fixture
def project(pytester, monkeypatch):
    # Workers that xdist starts must import gradcheck whether or not it is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    pytester.makepyfile(plugin_vjps=VJPS)
    # Hide torch, as on a machine without it: find_spec sees None in sys.modules.
    pytester.makeconftest("import sys\nsys.modules['torch'] = None\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "demo.yaml").write_text(CASES)
    return pytester


def run(pytester, *args):
    return pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider", *args)


def test_each_case_and_method_is_an_item_with_a_readable_id(project):
    result = run(project, "--gradcheck", "cases", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [
        "cases/demo.yaml::good[numeric]", "cases/demo.yaml::good[vjp]",
        "cases/demo.yaml::wrong-sign[numeric]", "cases/demo.yaml::wrong-sign[vjp]",
        "cases/demo.yaml::known-bug[numeric]", "cases/demo.yaml::known-bug[vjp]",
        "cases/demo.yaml::later[numeric]",
        "cases/demo.yaml::needs-torch[numeric]", "cases/demo.yaml::needs-torch[torch]",
    ]


def test_outcomes_and_a_failure_shown_as_the_comparison_table(project):
    result = run(project, "--gradcheck", "cases", "-rsx")
    result.assert_outcomes(**OUTCOMES)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*_ cases/demo.yaml::wrong-sign[[]vjp[]] _*",
        "wrong-sign › vjp: 1 of 1 comparison(s) failed (cases/demo.yaml:6)",
        "case *method*input*max abs err*verdict*",
        "wrong-sign *vjp *x *FAIL*",
        "FAIL wrong-sign › vjp › x › [[]0[]] where x = 1, cotangent * (cases/demo.yaml:6): "
        "*the gradient has the wrong sign*",
    ])
    assert "Traceback" not in out and "gradcheck/runner.py" not in out and "raise CaseFailed" not in out
    result.stdout.fnmatch_lines_random([
        "SKIPPED [[]1[]] cases/demo.yaml*: not today",
        "SKIPPED [[]1[]] cases/demo.yaml:19: torch is not installed (pip install 'gradcheck[[]torch[]]')",
        "XFAIL cases/demo.yaml::known-bug[[]vjp[]]*sign bug, issue 12",
    ])


def test_gradcheck_html_writes_the_sessions_report(project):
    pytest.importorskip("matplotlib")
    result = run(project, "--gradcheck", "cases", "--gradcheck-html", "reports/session.html")
    result.assert_outcomes(**OUTCOMES)
    page = (project.path / "reports" / "session.html").read_text()
    failures = page.split('<article class="failure">')[1:]
    assert len(failures) == 1 and failures[0].startswith("<h3>wrong-sign › vjp › x › [0]</h3>")
    assert '<figure class="heatmap"><svg' in failures[0] and '<figure class="curve"><svg' in failures[0]
    # Every case that ran: good, wrong-sign, known-bug, needs-torch, 2 rows each (`later` is skipped before
    # it runs), and needs-torch's nothing-to-compare row (its only analytic method skipped). known-bug is
    # xfail: its vjp row is a skip in the report, as in the CLI's.
    assert "<summary>9 rows</summary>" in page
    assert '<span class="pass">5 pass</span><span class="fail">1 fail</span><span class="skip">3 skip</span>' in page


def test_without_the_flag_no_yaml_file_is_collected(project):
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = run(project)
    result.assert_outcomes(passed=1)
    assert "demo.yaml" not in result.stdout.str()
    assert run(project, "cases").ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_the_ini_option_collects_case_files_beside_the_testpaths(project):
    project.makeini("[pytest]\ntestpaths = tests\ngradcheck_paths = cases\n")
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_plain.py").write_text("def test_plain():\n    pass\n")
    result = run(project)
    result.assert_outcomes(**{**OUTCOMES, "passed": OUTCOMES["passed"] + 1})
    explicit = run(project, "tests")  # explicit arguments win: the cases are not added
    explicit.assert_outcomes(passed=1)


def test_k_selects_by_case_name(project):
    result = run(project, "--gradcheck", "cases", "-k", "good or needs")
    result.assert_outcomes(passed=3, skipped=1, deselected=5)
    result = run(project, "--gradcheck", "cases", "-k", "wrong-sign and vjp")
    result.assert_outcomes(failed=1, deselected=8)


def test_xdist_gives_the_serial_outcomes(project):
    pytest.importorskip("xdist")
    for dist in ("load", "loadfile"):
        result = run(project, "--gradcheck", "cases", "-n", "2", "--dist", dist)
        result.assert_outcomes(**OUTCOMES)
        assert "wrong-sign › vjp: 1 of 1 comparison(s) failed" in result.stdout.str()


def test_a_broken_case_file_is_a_collection_error_with_file_and_line(project):
    (project.path / "cases" / "broken.yaml").write_text("name: a\nop: exp\ninputs: {x: 1.0}\ntolerence: {}\n")
    result = run(project, "--gradcheck", "cases/broken.yaml")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*broken.yaml:4: case 'a': unknown key 'tolerence' (did you mean 'tolerance'?)*"])
    assert "Traceback" not in result.stdout.str()


def test_the_gradcheck_fixture_is_check_with_the_session_options(project):
    project.makepyfile(test_fixture='''
        from plugin_vjps import sigmoid, sigmoid_vjp, sigmoid_vjp_wrong_sign

        def test_good(gradcheck):
            result = gradcheck(sigmoid, {"x": [0.5, 1.0]}, vjp=sigmoid_vjp)
            assert result.passed, result
            assert {c.tolerance.rtol for c in result.comparisons if c.method == "vjp"} == {2e-4}  # float32

        def test_bad(gradcheck):
            result = gradcheck(sigmoid, {"x": [0.5, 1.0]}, vjp=sigmoid_vjp_wrong_sign)
            assert result.passed, result

        def test_options(gradcheck):
            assert gradcheck.options.dtype == "float32"
            assert gradcheck.__wrapped__.__name__ == "check"
    ''')
    result = run(project, "--gradcheck-dtype", "float32", "test_fixture.py")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "E * Result(failed: 1 of 2 comparisons; sigmoid › vjp › x › [[]0[]]: 2 of 2 elements out of*",
        "*- Captured gradcheck call -*",
        "case *method*verdict*",
        "sigmoid *vjp *x *FAIL*",
        "FAIL sigmoid › vjp › x › [[]0[]]*the gradient has the wrong sign*",
    ])
    bad = run(project, "--gradcheck-dtype", "float99", "test_fixture.py")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--gradcheck-dtype must be one of float64, float32*"])


def test_the_gradcheck_budget_reaches_the_fixture_and_a_bad_one_is_a_usage_error(project):
    project.makepyfile(test_budget_fixture="def test_budget(gradcheck):\n    assert gradcheck.options.budget == 2.5\n")
    run(project, "--gradcheck-budget", "2.5", "test_budget_fixture.py").assert_outcomes(passed=1)
    bad = run(project, "--gradcheck-budget", "0", "test_budget_fixture.py")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--gradcheck-budget must be a number of seconds above 0, got '0'*"])


def test_the_plugin_module_imports_nothing_heavy():
    code = (
        "import sys\n"
        "import gradcheck.pytest_plugin\n"
        "heavy = [m for m in ('numpy', 'rich', 'yaml', 'torch', 'tensorflow', 'jax') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


REAL_SUBSET = """\
cases:
  - name: clip-gradient
    jax: clip_jax:clip_gradient
    args: [lo, hi, x]
    params: {lo: -10.0, hi: 10.0}
    inputs: {x: {shape: [8], dist: normal}}
  - name: mlp-params-pytree
    jax: clip_jax:mlp
    inputs:
      params:
        dense: {kernel: {shape: [3, 4]}, bias: {shape: [4]}}
        out: {kernel: {shape: [4, 2]}}
      x: {shape: [5, 3]}
"""


@pytest.mark.slow
def test_code_as_written_collects_and_passes_serially_and_under_xdist(pytester, monkeypatch):
    # A JAX function alone with args:, and one of a pytree, from a subset of cases/real; the
    # workflow file beside them is passed over, whether pytest walks the folder or xdist does.
    pytest.importorskip("jax")
    pytest.importorskip("xdist")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "clip_jax.py").write_text((REPO / "cases" / "real" / "clip_jax.py").read_text())
    (pytester.path / "cases" / "real.yaml").write_text(REAL_SUBSET)
    (pytester.path / ".github" / "workflows").mkdir(parents=True)
    (pytester.path / ".github" / "workflows" / "ci.yml").write_text("name: CI\non: [push]\njobs: {}\n")
    for extra in ((), ("-n", "2")):
        result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:cacheprovider", "--gradcheck", ".", *extra)
        result.assert_outcomes(passed=4)  # numeric and jax for each case
