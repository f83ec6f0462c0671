"""The reports a run writes (JSON, JUnit, Markdown), GitHub annotations, --jobs and progress.

Contents are parsed back (json, xml.etree) and checked against each other,
not just found to exist.
"""

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcheck.cases import parse_cases
from gradcheck.cli import main
from gradcheck.compare.comparison import Comparison, Status
from gradcheck.reports import github, markdown
from gradcheck.reports import table as report
from gradcheck.reports.junit import to_junit
from gradcheck.run import parallel, progress

REPO = Path(__file__).resolve().parents[2]

# A pass, a failure, skips and an error, with no framework involved: fast.
MIXED = """\
cases:
  - name: good
    function: tests.fixtures.bad_vjps:sigmoid
    vjp: tests.fixtures.bad_vjps:sigmoid_vjp
    inputs: {x: [3.0, 4.0, 5.0]}
  - name: wrong-sign
    function: tests.fixtures.bad_vjps:sigmoid
    vjp: tests.fixtures.bad_vjps:sigmoid_vjp_wrong_sign
    inputs: {x: [1.0, 2.0]}
  - name: later
    function: tests.fixtures.bad_vjps:sigmoid
    vjp: tests.fixtures.bad_vjps:sigmoid_vjp
    inputs: {x: 1.0}
    skip: "not today"
  - name: raises
    function: tests.fixtures.bad_vjps:forward_raises
    inputs: {x: 1.0}
"""


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # the case files name tests.fixtures.bad_vjps:...
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.fixture
def mixed(tmp_path):
    path = tmp_path / "cases" / "mixed.yaml"
    path.parent.mkdir()
    path.write_text(MIXED)
    return str(path)


def run(*args, env=None):
    return CliRunner().invoke(main, ["run", *map(str, args)], catch_exceptions=False, env=env)


def write_reports(case_file, folder, *extra):
    folder = Path(folder)
    result = run(case_file, "--json", folder / "r.json", "--junit", folder / "j.xml",
                 "--markdown", folder / "s.md", *extra)
    return result, {name: (folder / name).read_text(encoding="utf-8") for name in ("r.json", "j.xml", "s.md")}


def test_json_junit_and_markdown_tell_the_same_story(mixed, tmp_path):
    result, texts = write_reports(mixed, tmp_path / "reports")
    assert result.exit_code == 1
    document = json.loads(texts["r.json"])
    results = document["results"]
    assert document["summary"] == {"passed": 3, "failed": 1, "skipped": 2, "errors": 1}
    assert [(r["case"], r["method"], r["status"]) for r in results] == [
        ("good", "numeric", "pass"), ("good", "vjp", "pass"),
        ("wrong-sign", "numeric", "pass"), ("wrong-sign", "vjp", "fail"),
        ("later", "numeric", "skip"), ("later", "vjp", "skip"),
        ("raises", "numeric", "error"),
    ]

    root = ET.fromstring(texts["j.xml"])
    suite = root.find("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "7", "failures": "1", "errors": "1", "skipped": "2"}
    testcases = suite.findall("testcase")
    assert [t.get("name") for t in testcases] == [f"{r['case']}[{r['method']}]::{r['input']}" for r in results]
    assert {t.get("classname") for t in testcases} == {mixed}
    failure = testcases[3].find("failure")
    assert failure.get("message") == results[3]["message"] and "wrong sign" in failure.get("message")
    assert "wrong-sign  vjp" in failure.text and "FAIL wrong-sign › vjp › x › [0]" in failure.text
    assert testcases[4].find("skipped").get("message") == "not today"
    assert "boom in the user's forward" in testcases[6].find("error").get("message")
    assert testcases[0].find("*") is None  # a pass has no child
    assert testcases[3].get("line") == "6"

    lines = texts["s.md"].splitlines()
    assert lines[0] == "### ❌ gradcheck: 3 passed, 1 failed, 2 skipped, 1 errors"
    header, _, *failures = lines[lines.index("#### Failures") + 2:]
    assert header.startswith("| case | method | input |") and header.endswith("| where | message |")
    assert failures[0].startswith("| wrong-sign | vjp | x |") and "❌ fail" in failures[0]
    assert "wrong sign" in failures[0] and f"{mixed}:6" in failures[0]
    assert failures[1].startswith("| raises | numeric | x |") and "💥 error" in failures[1]
    table = [line for line in lines[lines.index("<details><summary>All 7 comparisons</summary>"):]
             if line.startswith("| ") and not line.startswith("| case ")]
    assert len(table) == 7 and all(line.count(" | ") == 7 for line in table)


def test_a_clean_run_says_so_in_every_report(tmp_path):
    result, texts = write_reports("cases/seeds.yaml", tmp_path, "-k", "poly-seed", "--method", "numeric",
                                  "--method", "vjp")
    assert result.exit_code == 0
    assert json.loads(texts["r.json"])["summary"]["failed"] == 0
    assert ET.fromstring(texts["j.xml"]).find("testsuite").get("failures") == "0"
    assert texts["s.md"].startswith("### ✅ gradcheck: 6 passed, 0 failed, 0 skipped, 0 errors")
    assert "#### Failures" not in texts["s.md"]


def test_two_runs_give_identical_reports_and_jobs_change_nothing(mixed, tmp_path):
    _, first = write_reports(mixed, tmp_path / "a", "--update-baseline", tmp_path / "a" / "b.json")
    _, second = write_reports(mixed, tmp_path / "b", "--update-baseline", tmp_path / "b" / "b.json")
    _, parallel_run = write_reports(mixed, tmp_path / "c", "--jobs", "2",
                                    "--update-baseline", tmp_path / "c" / "b.json")
    assert first == second == parallel_run
    assert len({(tmp_path / d / "b.json").read_bytes() for d in "abc"}) == 1


def test_a_failed_write_leaves_the_old_report_whole(mixed, tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    target.write_text("the previous report\n")

    def crash(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        report.write_atomically(target, "the new report\n")
    result = run(mixed, "--json", target)
    assert result.exit_code == 2 and "cannot write" in result.output and "disk on fire" in result.output
    assert target.read_text() == "the previous report\n"
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["r.json"]  # no temporary file left


def test_reports_are_ordinary_readable_files(tmp_path):
    target = tmp_path / "r.md"
    report.write_atomically(target, "x")
    assert target.stat().st_mode & 0o044  # group and others may read, as with open()


def where(**fields):
    base = dict(case="c", file="cases/a.yaml", line=4, method="vjp", input="x", status=Status.FAIL)
    return Comparison(**{**base, **fields})


def test_junit_and_markdown_escape_what_they_must():
    nasty = where(message="got \x1b[31m<b>1|2</b>\x1b[0m & more\nsecond line")
    root = ET.fromstring(to_junit([nasty]))  # control characters would make it invalid XML
    assert root.find("testsuite/testcase/failure").get("message").startswith("got ?[31m<b>1|2</b>")
    text = markdown.to_markdown([nasty])
    row = next(line for line in text.splitlines() if line.startswith("| c | vjp |"))
    assert "&lt;b&gt;1\\|2&lt;/b&gt;" in row and "&amp; more second line" in row
    assert row.count(" | ") == 9  # ten cells: no pipe leaked


def test_markdown_caps_a_huge_table(monkeypatch):
    monkeypatch.setattr(markdown, "MAX_ROWS", 3)
    text = markdown.to_markdown([where(status=Status.PASS, case=f"c{i}") for i in range(5)])
    assert "| c2 |" in text and "| c3 |" not in text and "... and 2 more" in text


# ---------------------------------------------------------------- GitHub


def test_github_annotations_point_at_the_case_line(mixed):
    result = run(mixed, env={"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(Path(mixed).parents[1])})
    lines = [line for line in result.output.splitlines() if line.startswith("::")]
    assert len(lines) == 2
    assert lines[0].startswith("::error file=cases/mixed.yaml,line=6,title=gradcheck%3A wrong-sign › vjp › x::")
    assert "wrong sign" in lines[0]
    assert lines[1].startswith("::error file=cases/mixed.yaml,line=15,title=gradcheck%3A raises › numeric::")
    assert "::error" not in run(mixed).output  # only on GitHub Actions


def test_workflow_commands_are_escaped():
    line = github.workflow_command("error", "50% off\r\nnext", file="a,b:c.yaml", line=3)
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3::50%25 off%0D%0Anext"
    python_api = where(file="<python>", line=0)
    assert github.annotations([python_api]) == []  # nothing to point at


# ---------------------------------------------------------------- jobs and progress


def test_parallel_runs_keep_case_order_and_run_unpicklable_cases_here():
    from dataclasses import replace
    from types import MappingProxyType

    from gradcheck.ops import OPS

    cases = parse_cases(
        "cases:\n"
        "  - {name: slow, op: conv2d, params: {stride: 1, padding: same}, methods: [numeric, vjp],\n"
        "     inputs: {x: {shape: [1, 2, 9, 9]}, w: {shape: [3, 2, 3, 3]}}}\n"
        "  - {name: quick, op: exp, methods: [numeric, vjp], inputs: {x: [1.0, 2.0]}}\n",
        "mem.yaml",
    )
    assert isinstance(cases[0].params, MappingProxyType) and parallel._portable(cases[0]) is not None
    local = replace(cases[1], name="local", op=None, function=lambda x: OPS["exp"].forward(x),
                    vjp=lambda x, dz: OPS["exp"].vjp(x, dz))
    assert parallel._portable(local) is None  # a lambda cannot travel
    seen = []
    rows = parallel.run_cases([*cases, local], jobs=2, on_case_done=lambda case: seen.append(case.name))
    assert sorted(seen) == ["local", "quick", "slow"]
    assert [(r.case, r.method) for r in rows] == [
        ("slow", "numeric"), ("slow", "numeric"), ("slow", "vjp"), ("slow", "vjp"),
        ("quick", "numeric"), ("quick", "vjp"), ("local", "numeric"), ("local", "vjp")]
    assert all(r.status is Status.PASS for r in rows)
    assert rows == parallel.run_cases([*cases, local], jobs=1)


def test_a_case_that_kills_its_worker_is_the_only_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "killer_of_workers.py").write_text("import os\n\ndef f(x):\n    os._exit(3)\n")
    (tmp_path / "c.yaml").write_text(
        "cases:\n"
        "  - {name: a, op: exp, methods: [numeric, vjp], inputs: {x: [1.0]}}\n"
        "  - {name: dies, function: 'killer_of_workers:f', inputs: {x: [1.0]}}\n"
        "  - {name: b, op: exp, methods: [numeric, vjp], inputs: {x: [1.0]}}\n"
    )
    result = run("c.yaml", "--jobs", "2")
    assert result.exit_code == 1
    assert "4 passed, 0 failed, 0 skipped, 1 errors" in result.output
    assert "ERROR dies › numeric (c.yaml:3): the worker process died running this case" in result.output


def test_no_progress_bar_when_piped_or_on_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert not progress.wanted()
    monkeypatch.delenv("CI")
    assert not progress.wanted()  # pytest captures stdout: not a terminal
    with progress.progress_bar(3) as advance:  # a no-op, not an error
        advance(object())


def test_the_bar_draws_only_after_its_delay(capsys):
    with progress.progress_bar(2, delay=60, show=True) as advance:
        advance(object())
    assert capsys.readouterr().err == ""  # a quick run never shows it
    with progress.progress_bar(2, delay=0, show=True) as advance:
        import time

        time.sleep(0.2)
        advance(object())
    # transient: started, then erased; stopping twice or after the delay is harmless
