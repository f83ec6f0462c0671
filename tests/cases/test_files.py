"""Folder walking passes over YAML that is not a case file; imports are found from the case file's
folder first, wherever gradcheck runs from."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck.cases import CaseFileError, load_cases
from gradcheck.cases.problem import materialize

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = "name: CI\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_walking_passes_over_a_workflow_and_a_config_with_a_note(tmp_path):
    write(tmp_path / ".github" / "workflows" / "ci.yml", WORKFLOW)
    write(tmp_path / "config.yaml", "learning_rate: 0.1\n")
    write(tmp_path / "cases" / "a.yaml", "name: a\nop: exp\ninputs: {x: 1.0}\n")
    notes = []
    assert [c.name for c in load_cases([tmp_path], notes=notes)] == ["a"]
    assert len(notes) == 2 and all("is not a case file" in note for note in notes)
    assert any("ci.yml" in note for note in notes) and any("config.yaml" in note for note in notes)


def test_a_file_named_explicitly_must_be_a_case_file(tmp_path):
    workflow = write(tmp_path / "ci.yml", WORKFLOW)
    with pytest.raises(CaseFileError, match="ci.yml:1: not a case file: no top-level 'cases:' list"):
        load_cases([workflow])


def test_a_walked_file_with_a_typo_is_still_an_error(tmp_path):
    write(tmp_path / "bad.yaml", "name: a\nop: exp\ninputs: {x: 1.0}\ntolerence: {rtol: 1}\n")
    with pytest.raises(CaseFileError, match="did you mean 'tolerance'"):
        load_cases([tmp_path])


def test_imports_resolve_from_the_case_folder_first(tmp_path, monkeypatch):
    # Two folders each with their own `helpers.py`: each case gets its own.
    for folder, factor in (("one", 2.0), ("two", 3.0)):
        write(tmp_path / folder / "helpers.py", f"def scale(x):\n    return {factor} * x\n")
        write(tmp_path / folder / "case.yaml", f"name: {folder}\nfunction: helpers:scale\ninputs: {{x: [1.0]}}\n")
    monkeypatch.chdir(REPO)
    one, two = load_cases([tmp_path])
    assert materialize(one).output.tolist() == [2.0]
    assert materialize(two).output.tolist() == [3.0]


@pytest.mark.slow
def test_the_shipped_cases_run_from_another_folder(tmp_path):
    # Only gradcheck itself on the path: cases/custom and cases/real find their modules beside them.
    (tmp_path / "gradcheck").symlink_to(REPO / "gradcheck")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "gradcheck", "run", str(REPO / "cases" / "custom"),
                             "--method", "numeric", "--method", "torch"],
                            cwd="/", env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout and "0 errors" in result.stdout
