"""explore on complex inputs: real and imaginary parts searched, and the shrunk point written back as
complex literals (strings) that `gradcheck run` reads and fails on."""

from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from gradcheck.cases import parse_cases
from gradcheck.cli import main
from gradcheck.explore.regression import literal
from gradcheck.explore.search import explore_case

REPO = Path(__file__).resolve().parents[2]
BAD = ("name: bad-square\nfunction: cases.complex.complex_numpy:square\n"
       "vjp: tests.fixtures.bad_complex_numpy:square_vjp\ninputs: {z: {shape: [2], dist: normal}}\n"
       "dtype: complex128\n")


def test_complex_literals_are_written_as_strings_that_read_back_exactly():
    z = np.array([[1.5 - 2.0j, 0.1 + 0.0j]])
    written = literal(z)
    assert written == [["1.5-2.0j", "0.1+0.0j"]]
    assert np.array_equal(np.array([[complex(s) for s in row] for row in written]), z)
    assert literal(np.array([1.0, 2.0])) == [1.0, 2.0]


def test_a_vjp_that_forgets_the_conjugate_is_found_with_complex_points(monkeypatch):
    monkeypatch.chdir(REPO)
    (case,) = parse_cases(BAD, "cases/c.yaml")
    found = explore_case(case, examples=10, max_seconds=60).finding
    assert found is not None and np.iscomplexobj(found.inputs["z"])
    assert any(row.method == "vjp" and row.status.value == "fail" for row in found.rows)


def test_write_gives_a_complex_case_that_run_fails_on(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    (tmp_path / "bad.yaml").write_text("cases:\n  - " + BAD.replace("\n", "\n    ").rstrip() + "\n")
    out = tmp_path / "found.yaml"
    result = CliRunner().invoke(main, ["explore", str(tmp_path / "bad.yaml"), "--examples", "10",
                                       "--write", str(out)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    (entry,) = yaml.safe_load(out.read_text())["cases"]
    assert entry["dtype"] == "complex128" and all(isinstance(v, str) for v in entry["inputs"]["z"])
    rerun = CliRunner().invoke(main, ["run", str(out)], catch_exceptions=False)
    assert rerun.exit_code == 1 and "1 passed, 1 failed" in rerun.output
