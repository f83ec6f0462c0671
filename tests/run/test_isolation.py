"""Timeouts: a case past its limit is stopped, even in C code, reported as errors naming the phase
it was in, and the next case runs in a fresh worker."""

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcheck.cases import CaseFileError, parse_cases
from gradcheck.cli import main
from gradcheck.run import isolation, parallel
from gradcheck.run.runner import RunOptions

REPO = Path(__file__).resolve().parents[2]
H = "tests.fixtures.hangs"
NEXT = f"  - name: next-one\n    function: {H}:square\n    vjp: {H}:square_vjp\n    inputs: {{x: [1.0, 2.0]}}\n"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # the workers import tests.fixtures.hangs from here


def hang(name, function, extra=""):
    return f"  - name: {name}\n    function: {H}:{function}\n    inputs: {{x: [1.0, 2.0]}}\n{extra}"


def test_a_forward_that_sleeps_forever_is_an_error_within_the_timeout_and_the_next_case_passes():
    cases = parse_cases("cases:\n" + hang("sleeps", "sleeps_forever") + NEXT, "c.yaml")
    started, finished = time.monotonic(), {}
    rows = parallel.run_cases(cases, RunOptions(timeout=5),
                              on_case_done=lambda case: finished.setdefault(case.name, time.monotonic() - started))
    assert finished["sleeps"] < 5 + 5
    sleeps = [r for r in rows if r.case == "sleeps"]
    assert [r.status.value for r in sleeps] == ["error"]
    assert sleeps[0].message.startswith("timed out after 5 s while in: materialising the case")
    assert {(r.method, r.status.value) for r in rows if r.case == "next-one"} == {("numeric", "pass"),
                                                                                   ("vjp", "pass")}


def test_a_case_stuck_in_c_code_is_stopped_at_its_own_timeout_and_the_phase_is_named():
    cases = parse_cases("cases:\n" + hang("in-c", "stuck_in_c", "    timeout: 3\n")
                        + hang("perturbed", "hangs_when_perturbed", "    timeout: 3\n") + NEXT, "c.yaml")
    rows = parallel.run_cases(cases, RunOptions())
    messages = {r.case: r.message for r in rows if r.status.value == "error"}
    assert messages["in-c"].startswith("timed out after 3 s while in: materialising the case")
    assert messages["perturbed"].startswith("timed out after 3 s while in: the finite-difference reference for "
                                            "input x")
    assert all(r.status.value == "pass" for r in rows if r.case == "next-one")


def test_the_command_line_timeout_wins_over_the_case(tmp_path):
    (tmp_path / "c.yaml").write_text("cases:\n" + hang("sleeps", "sleeps_forever", "    timeout: 1000\n") + NEXT)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "c.yaml"), "--timeout", "2"])
    assert result.exit_code == 1
    assert "ERROR sleeps › numeric" in result.output and "timed out after 2 s" in result.output
    assert "2 passed, 0 failed, 0 skipped, 1 errors" in result.output


def test_timeout_precedence_and_default():
    case = parse_cases("name: a\nop: exp\ninputs: {x: 1.0}\ntimeout: 30\n")[0]
    assert isolation.case_timeout(case, RunOptions()) == 30
    assert isolation.case_timeout(case, RunOptions(timeout=5)) == 5
    plain = parse_cases("name: a\nop: exp\ninputs: {x: 1.0}\n")[0]
    assert isolation.case_timeout(plain, RunOptions()) == isolation.DEFAULT_TIMEOUT == 600


@pytest.mark.parametrize("value", ["0", "-1", "soon", ".inf"])
def test_a_bad_timeout_names_the_line(value):
    with pytest.raises(CaseFileError, match=r"c.yaml:4: .*'timeout'"):
        parse_cases(f"name: a\nop: exp\ninputs: {{x: 1.0}}\ntimeout: {value}\n", "c.yaml")


def test_the_fork_server_imports_tensorflow_as_gradcheck_does(monkeypatch):
    """Through import_tensorflow (quietly, without Keras), not a plain `import tensorflow`."""
    import importlib
    import multiprocessing

    if isolation.start_method() != "forkserver":
        pytest.skip("no fork server here")
    asked = []
    context = multiprocessing.get_context("forkserver")
    monkeypatch.setattr(type(context), "set_forkserver_preload", lambda self, modules: asked.extend(modules))
    isolation.preload(["torch", "tensorflow", "jax"])
    assert asked == [isolation.__name__, "torch", "gradcheck.backends.tensorflow_preload", "jax"]
    assert importlib.util.find_spec("gradcheck.backends.tensorflow_preload") is not None


def test_a_worker_computes_withone_torch_thread_unless_the_user_set_openmp(monkeypatch):
    """torch's pool at one thread in every worker, whatever --jobs (the reports may not depend on it,
    and two workers' OpenMP pools on two cores wait on each other); OMP_NUM_THREADS wins."""
    torch = pytest.importorskip("torch")
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        isolation.one_torch_thread()
        assert torch.get_num_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        isolation.one_torch_thread()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(saved)
