"""--gradcheck-order 2: a case file's second-order rows join its method's item, and fail it."""

import os

import pytest

# The plugin tests' runner and their once-only imports (pytester forgets modules first imported
# inside an in-process run, and NumPy refuses to be imported twice).
from tests.test_plugin import REPO, run

pytest_plugins = ["pytester"]

CASES = """\
cases:
  - name: missing-term
    function: order_vjps:sigmoid
    vjp: order_vjps:sigmoid_vjp
    hvp: order_vjps:sigmoid_hvp_missing_term
    inputs: {x: [0.5, -1.0, 2.0]}
"""


@pytest.fixture
def project(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    pytester.makepyfile(order_vjps=(REPO / "tests" / "fixtures" / "second_order_numpy.py").read_text())
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "order.yaml").write_text(CASES)
    return pytester


def test_the_second_order_fails_the_vjp_item_only_when_asked_for(project):
    run(project, "--gradcheck", "cases").assert_outcomes(passed=2)  # numeric, vjp
    result = run(project, "--gradcheck", "cases", "--gradcheck-order", "2")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*vjp (2nd)*FAIL*"])
