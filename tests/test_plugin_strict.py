"""--gradcheck-strict: skips, cases with nothing to compare and XPASS fail the pytest run too."""

import os

import pytest

# The plugin tests' runner and their once-only imports (pytester forgets modules first imported
# inside an in-process run, and NumPy refuses to be imported twice).
from tests.test_plugin import REPO, run

pytest_plugins = ["pytester"]

CASES = """\
cases:
  - name: no-vjp
    function: strict_vjps:sigmoid
    inputs: {x: [1.0, 2.0]}
  - name: fixed-bug
    function: strict_vjps:sigmoid
    vjp: strict_vjps:sigmoid_vjp
    inputs: {x: [1.0, 2.0]}
    xfail: was a sign bug
"""
VJPS = """
import numpy as np

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))

def sigmoid_vjp(x, dz):
    s = sigmoid(x)
    return (dz * s * (1 - s),)

def test_fixture_with_nothing_to_compare(gradcheck):
    assert not gradcheck(sigmoid, {"x": np.array([1.0])}).passed
"""


@pytest.fixture
def project(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    pytester.makepyfile(strict_vjps=VJPS)
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "demo.yaml").write_text(CASES)
    return pytester


def test_without_strict_nothing_to_compare_skips_and_xpass_passes(project):
    result = run(project, "--gradcheck", "cases", "strict_vjps.py", "-rsX")
    result.assert_outcomes(passed=3, skipped=1, xpassed=1)
    result.stdout.fnmatch_lines(["*nothing to compare*"])


def test_strict_fails_them(project):
    result = run(project, "--gradcheck", "cases", "strict_vjps.py", "--gradcheck-strict")
    # no-vjp[(none)] and fixed-bug[vjp] (a strict XPASS) fail, and so does the fixture's check of nothing
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(["*skipped, which --gradcheck-strict refuses*", "*[[]XPASS(strict)[]]*"])
