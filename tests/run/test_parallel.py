"""--jobs: no more workers than cases, work handed out largest predicted cost first, workers forked
from a server that imported the frameworks once, reports identical to a serial run's, and
timeouts that still stop a stuck forward."""

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcheck.cases import parse_cases
from gradcheck.cli import main
from gradcheck.run import isolation, parallel
from gradcheck.run.runner import RunOptions

REPO = Path(__file__).resolve().parents[2]
H = "tests.fixtures.hangs"
NUMPY_ONLY = RunOptions(methods=("numeric", "vjp"))


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # the workers import tests.fixtures from here


def sized(*sizes):
    """Cases `n<size>` (`n<size>b` for a second of that size): exp over `size` elements, checked by
    numeric and vjp only."""
    names = [f"n{size}" + "b" * sizes[:i].count(size) for i, size in enumerate(sizes)]
    return parse_cases("cases:\n" + "".join(
        f"  - {{name: {name}, op: exp, methods: [numeric, vjp], inputs: {{x: {{shape: [{size}]}}}}}}\n"
        for name, size in zip(names, sizes)), "sized.yaml")


@pytest.fixture
def started(monkeypatch):
    """The cases each worker process was sent, one list per worker started."""
    workers = []
    start, submit = isolation.Worker.start, isolation.Worker.submit

    def counting_start(self):
        self.sent = []
        workers.append(self.sent)
        start(self)

    def recording_submit(self, index, data, case, options):
        submit(self, index, data, case, options)
        self.sent.append(case.name)

    monkeypatch.setattr(isolation.Worker, "start", counting_start)
    monkeypatch.setattr(isolation.Worker, "submit", recording_submit)
    return workers


def test_workers_never_outnumber_the_cases(started):
    rows = parallel.run_cases(sized(3, 4), NUMPY_ONLY, jobs=4)
    assert len(started) == 2
    assert sorted(name for sent in started for name in sent) == ["n3", "n4"]
    assert [r.status.value for r in rows] == ["pass"] * 4


def test_a_single_case_under_jobs_0_starts_one_worker(started):
    parallel.run_cases(sized(3), NUMPY_ONLY, jobs=0)
    assert [sent for sent in started] == [["n3"]]


def test_work_is_handed_out_largest_predicted_cost_first(started):
    cases = sized(5, 400, 2, 90, 90, 30)
    assert parallel.work_order(cases, NUMPY_ONLY) == [1, 3, 4, 5, 0, 2]  # ties in suite order
    done = []
    parallel.run_cases(cases, NUMPY_ONLY, jobs=2, on_case_done=lambda case: done.append(case.name))
    assert len(started) == 2
    first = [sent[0] for sent in started]
    assert first == ["n400", "n90"]  # the two largest start the run, one per worker
    assert sorted(done) == sorted(case.name for case in cases)


def test_a_serial_run_keeps_suite_order(started):
    cases = sized(5, 400, 2)
    done = []
    parallel.run_cases(cases, NUMPY_ONLY, jobs=1, on_case_done=lambda case: done.append(case.name))
    assert started == [["n5", "n400", "n2"]] and done == ["n5", "n400", "n2"]


def test_the_json_report_of_jobs_2_is_byte_for_byte_the_serial_one(tmp_path):
    (tmp_path / "suite.yaml").write_text(
        "cases:\n"
        "  - {name: conv, op: conv2d, params: {stride: 1, padding: same},\n"
        "     inputs: {x: {shape: [1, 2, 6, 6]}, w: {shape: [3, 2, 3, 3]}}}\n"
        "  - {name: soft, op: softmax, inputs: {x: {shape: [4, 7]}}}\n"
        "  - {name: mat, op: matmul, inputs: {a: {shape: [5, 4]}, b: {shape: [4, 3]}}}\n"
        "  - {name: wrong, function: tests.fixtures.bad_vjps:sigmoid,\n"
        "     vjp: tests.fixtures.bad_vjps:sigmoid_vjp_wrong_sign,\n"
        "     inputs: {x: [1.0, 2.0]}}\n"
        "  - {name: tanh, op: tanh, inputs: {x: {shape: [30]}}}\n")
    reports = {}
    for jobs in ("1", "2"):
        path = tmp_path / f"jobs{jobs}.json"
        result = CliRunner().invoke(main, ["run", str(tmp_path / "suite.yaml"), "--method", "numeric",
                                           "--method", "vjp", "--jobs", jobs, "--json", str(path)])
        assert result.exit_code == 1, result.output  # the wrong VJP fails, the same in both
        reports[jobs] = path.read_bytes()
    assert reports["1"] == reports["2"]
    assert reports["1"].count(b'"status": "pass"') == 13 and reports["1"].count(b'"status": "fail"') == 1


def test_timeouts_still_stop_a_stuck_forward_under_jobs_2():
    cases = parse_cases(
        "cases:\n"
        f"  - {{name: in-c, function: '{H}:stuck_in_c', inputs: {{x: [1.0, 2.0]}}, timeout: 3}}\n"
        f"  - {{name: sleeps, function: '{H}:sleeps_forever', inputs: {{x: [1.0, 2.0]}}, timeout: 3}}\n"
        f"  - {{name: next-one, function: '{H}:square', vjp: '{H}:square_vjp', inputs: {{x: [1.0, 2.0]}}}}\n",
        "c.yaml")
    began = time.monotonic()
    rows = parallel.run_cases(cases, RunOptions(), jobs=2)
    assert time.monotonic() - began < 3 + 60  # both stuck cases stopped side by side, not waited for
    messages = {r.case: r.message for r in rows if r.status.value == "error"}
    assert messages["in-c"].startswith("timed out after 3 s while in: materialising the case")
    assert messages["sleeps"].startswith("timed out after 3 s while in: materialising the case")
    assert {(r.method, r.status.value) for r in rows if r.case == "next-one"} == {("numeric", "pass"),
                                                                                   ("vjp", "pass")}


def test_a_worker_sees_this_process_environment_not_the_fork_servers(monkeypatch):
    case = "  - {{name: env-{0}, function: 'tests.fixtures.environ_scaled:scaled', " \
           "vjp: 'tests.fixtures.environ_scaled:scaled_vjp', inputs: {{x: [1.0, 2.0]}}}}\n"
    parallel.run_cases(sized(3), NUMPY_ONLY)  # the fork server is running before the variable is set
    monkeypatch.setenv("GRADCHECK_FIXTURE_SCALE", "3")
    rows = parallel.run_cases(parse_cases("cases:\n" + case.format(1) + case.format(2), "e.yaml"), jobs=2)
    assert [(r.case, r.method, r.status.value) for r in rows] == [
        ("env-1", "numeric", "pass"), ("env-1", "vjp", "pass"), ("env-2", "numeric", "pass"),
        ("env-2", "vjp", "pass")]


def test_the_frameworks_preloaded_are_those_the_cases_need(monkeypatch):
    from gradcheck.backends.framework import installed

    cases = parse_cases("cases:\n  - {name: e, op: exp, inputs: {x: [1.0]}}\n"
                        "  - {name: s, op: exp, inputs: {x: [1.0]}, skip: not today}\n", "f.yaml")
    everything = [name for name in ("torch", "tensorflow", "jax") if installed(name)]
    assert isolation.frameworks_needed(cases, RunOptions()) == everything
    assert isolation.frameworks_needed(cases, RunOptions(methods=("numeric", "vjp"))) == []
    assert isolation.frameworks_needed(cases, RunOptions(methods=("jax",))) == [n for n in everything if n == "jax"]
    assert isolation.frameworks_needed(cases[1:], RunOptions()) == []  # a skipped case runs nothing
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # hidden, as a test hides a framework
    assert "torch" not in isolation.frameworks_needed(cases, RunOptions())


def test_several_workers_share_the_cpus_out_between_them(monkeypatch):
    assert isolation.threads_per_worker(1) is None  # one worker: the libraries' own choice
    assert isolation.threads_per_worker(2) == max(1, (isolation.os.cpu_count() or 1) // 2)
    assert isolation.threads_per_worker(10_000) == 1
    for name in isolation.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    case = "  - {{name: t-{0}, function: 'tests.fixtures.environ_scaled:threads_scaled', " \
           "vjp: 'tests.fixtures.environ_scaled:threads_scaled_vjp', inputs: {{x: [1.0, 2.0]}}}}\n"
    rows = parallel.run_cases(parse_cases("cases:\n" + case.format(1) + case.format(2), "t.yaml"), jobs=2)
    assert [r.status.value for r in rows] == ["pass"] * 4, [r.message for r in rows]
    assert "OPENBLAS_NUM_THREADS" not in isolation.os.environ  # set for the workers only
