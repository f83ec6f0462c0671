"""The pytest plugin: case files as test items, and the `gradcheck` fixture.

    pytest --gradcheck cases/              # or, in the ini file:  gradcheck_paths = cases

Each (case, method) of a case file is one item, `cases/x.yaml::sigmoid-seed[torch]`.
A method whose framework is missing skips, `skip:` and `xfail:` in the file
become pytest's skip and xfail, and a failure shows the comparison table
instead of a traceback into gradcheck.

Projects that ask for none of this never see a YAML file collected, and
installing gradcheck costs every pytest run only the import of this module:
it imports pytest and nothing else at module level; gradcheck itself (NumPy,
rich, the frameworks) is imported inside the hooks that need it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

YAML_SUFFIXES = (".yaml", ".yml")
_OPTIONS_KEY = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks from gradcheck case files")
    group.addoption("--gradcheck", action="store_true", default=False,
                    help="collect gradcheck case files (*.yaml, *.yml) from the paths given.")
    group.addoption("--gradcheck-dtype", default=None, metavar="DTYPE",
                    help="override every case's dtype (and the gradcheck fixture's).")
    group.addoption("--gradcheck-mode", default=None, metavar="MODE",
                    help="auto|full|fast, as `gradcheck run --mode`.")
    group.addoption("--gradcheck-budget", default=None, metavar="SECONDS",
                    help="auto mode's budget per input, as `gradcheck run --budget`.")
    group.addoption("--gradcheck-order", default=None, type=int, choices=(1, 2), metavar="ORDER",
                    help="2: also check second derivatives, as `gradcheck run --order 2`.")
    group.addoption("--gradcheck-html", default=None, metavar="PATH",
                    help="write an HTML report of the case files' checks, with plots (pip install "
                         "'gradcheck[html]').")
    group.addoption("--gradcheck-strict", action="store_true", default=False,
                    help="fail every skipped check, every case with nothing to compare and every XPASS, "
                         "as `gradcheck run --strict`.")
    parser.addini("gradcheck_paths", type="paths", default=[],
                  help="folders or files of gradcheck case files, collected without --gradcheck.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gradcheck: a check from a gradcheck case file")
    if any(config.getoption(name) is not None for name in ("gradcheck_dtype", "gradcheck_mode", "gradcheck_budget")):
        run_options(config)  # a bad value is a usage error now, not one error per item
    if config.getoption("gradcheck_html") is not None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise pytest.UsageError("--gradcheck-html draws its plots with matplotlib: "
                                    "pip install 'gradcheck[html]'")
    _add_ini_paths_to_default_args(config)


def _add_ini_paths_to_default_args(config: pytest.Config) -> None:
    """`gradcheck_paths` joins what a plain `pytest` collects; explicit arguments win."""
    paths = config.getini("gradcheck_paths")
    if not paths or config.args_source is pytest.Config.ArgsSource.ARGS:
        return
    roots = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    for path in paths:
        path = Path(path).resolve()
        if not any(path == root or root in path.parents for root in roots):
            config.args.append(str(path))


def _is_case_file(config: pytest.Config, file_path: Path) -> bool:
    if file_path.suffix not in YAML_SUFFIXES:
        return False
    if config.getoption("gradcheck"):
        return True
    file_path = file_path.resolve()
    return any(file_path == Path(p).resolve() or Path(p).resolve() in file_path.parents
               for p in config.getini("gradcheck_paths"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if _is_case_file(parent.config, file_path):
        return CaseFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A skip of a case item points at the case in its file, not at this module."""
    report = yield
    if isinstance(item, CaseItem) and report.skipped and isinstance(report.longrepr, tuple):
        path, line, _ = item.reportinfo()
        report.longrepr = (str(path), line + 1, report.longrepr[2])
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """--gradcheck-html: one report of every case file's comparisons that ran in this session."""
    path = session.config.getoption("gradcheck_html")
    if path is None:
        return
    from gradcheck.reports.html import to_html
    from gradcheck.reports.table import write_atomically
    from gradcheck.run.runner import apply_xfail

    cases = {}  # (file, case name) -> (case, its raw rows), in collection order, each case once
    for item in session.items:
        if isinstance(item, CaseItem):
            computed = item.parent.__dict__.get("_gradcheck_results", {})
            if item.case.name in computed:
                cases[item.parent.path, item.case.name] = (item.case, computed[item.case.name])
    # The items judged the raw verdicts (pytest's xfail); the report says what the CLI says.
    write_atomically(path, to_html([row for case, rows in cases.values() for row in apply_xfail(case, rows)]))


def run_options(config: pytest.Config):
    """The RunOptions of this session, from --gradcheck-dtype, -mode, -budget and -order."""
    if _OPTIONS_KEY in config.stash:
        return config.stash[_OPTIONS_KEY]
    from gradcheck.methods import Mode
    from gradcheck.run.runner import RunOptions
    from gradcheck.tolerance import DTYPES

    dtype = config.getoption("gradcheck_dtype")
    mode = config.getoption("gradcheck_mode") or Mode.AUTO.value
    if dtype is not None and dtype not in DTYPES:
        raise pytest.UsageError(f"--gradcheck-dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if mode not in {m.value for m in Mode}:
        raise pytest.UsageError(f"--gradcheck-mode must be one of {', '.join(m.value for m in Mode)}, "
                                f"got {mode!r}")
    options = RunOptions(dtype=dtype, mode=Mode(mode), budget=_budget(config.getoption("gradcheck_budget")),
                         order=config.getoption("gradcheck_order"),
                         step_curves=config.getoption("gradcheck_html") is not None)
    config.stash[_OPTIONS_KEY] = options
    return options


def _budget(text: str | None) -> float:
    from gradcheck.methods import DEFAULT_BUDGET

    if text is None:
        return DEFAULT_BUDGET
    try:
        budget = float(text)
    except ValueError:
        budget = 0.0
    if not budget > 0:
        raise pytest.UsageError(f"--gradcheck-budget must be a number of seconds above 0, got {text!r}")
    return budget


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest):
    """`gradcheck.check`, with this session's options (--gradcheck-dtype, --gradcheck-mode).

    A result that fails also goes into the test's report as a section, so the
    table shows in full however the test asserts on it (pytest cuts the repr
    in `assert result.passed, result` to 240 characters).
    """
    import functools

    from gradcheck.api import check

    session_options = run_options(request.config)

    strict = request.config.getoption("gradcheck_strict")

    @functools.wraps(check)
    def check_with_session_options(*args, options=None, **kwargs):
        result = check(*args, options=options if options is not None else session_options, **kwargs)
        if not result.passed:
            request.node.add_report_section("call", "gradcheck", str(result))
        if strict:
            _fail_if_strict_objects(result.comparisons)
        return result

    check_with_session_options.options = session_options
    return check_with_session_options


def _fail_if_strict_objects(comparisons) -> None:
    """--gradcheck-strict: a skip, a check of nothing or an XPASS fails the test, with the table."""
    from gradcheck.compare.verdict import strict_objections
    from gradcheck.reports.table import render_text

    objections = strict_objections(comparisons)
    if objections:
        pytest.fail(f"--gradcheck-strict: {'; '.join(objections)}\n\n{render_text(comparisons)}", pytrace=False)


# ---------------------------------------------------------------- collection


class CaseFailed(Exception):
    """A check did not pass; carries its comparisons for repr_failure."""

    def __init__(self, comparisons):
        super().__init__(f"{len(comparisons)} comparison(s)")
        self.comparisons = comparisons


class CaseFile(pytest.File):
    """A case file: one item per (case, method)."""

    def collect(self):
        from dataclasses import replace

        from gradcheck.cases import CaseFileError, load_file
        from gradcheck.compare.verdict import NOT_ANALYTIC, NOTHING
        from gradcheck.dtypes import overridden
        from gradcheck.run.runner import reported_methods

        # A YAML file met while walking a folder that is not a case file (a CI workflow, a
        # config) gives no items; one named on the command line must be a case file.
        named = any(Path(arg.split("::")[0]).resolve() == self.path.resolve() for arg in self.config.args)
        try:
            cases = load_file(self.path, must_be_cases=named)
        except CaseFileError as exc:
            raise self.CollectError(str(exc)) from None
        options = run_options(self.config)
        shown = _display_path(self.path, self.config.rootpath)
        for case in cases:
            case = replace(case, file=shown)
            if options.dtype is not None:  # as run_case does, so methods agree
                case = replace(case, dtype=overridden(case.dtype, options.dtype))
            methods = reported_methods(case, options)
            if not case.skip and all(m in NOT_ANALYTIC for m in methods):
                methods.append(NOTHING)  # an item that says so: a skip, a failure under --gradcheck-strict
            for method in methods:
                yield CaseItem.from_parent(self, name=f"{case.name}[{method}]", case=case, method=method)

    def results(self, case) -> list:
        """Every comparison of a case, computed once for all its items.

        The xfail is taken off: pytest judges it on the raw verdicts, so that
        an expected failure shows as xfailed and an unexpected pass as xpassed.
        """
        cache = self.__dict__.setdefault("_gradcheck_results", {})
        if case.name not in cache:
            from dataclasses import replace

            from gradcheck.run.runner import run_case

            cache[case.name] = run_case(replace(case, xfail=None), run_options(self.config))
        return cache[case.name]


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class CaseItem(pytest.Item):
    """One method's comparisons for one case."""

    def __init__(self, *, case, method: str, **kwargs):
        super().__init__(**kwargs)
        self.case, self.method = case, method
        self.add_marker("gradcheck")
        if case.skip:
            self.add_marker(pytest.mark.skip(reason=case.skip))
        elif case.xfail and method != "numeric":
            # The reference itself is not expected to fail; where it does,
            # runtest xfails imperatively, as the CLI turns it into a skip.
            # Under --gradcheck-strict an XPASS fails (pytest's strict xfail).
            strict = {"strict": True} if self.config.getoption("gradcheck_strict") else {}  # else xfail_strict
            self.add_marker(pytest.mark.xfail(reason=case.xfail, raises=CaseFailed, **strict))

    def runtest(self) -> None:
        from gradcheck.compare.comparison import Status

        rows = [c for c in self.parent.results(self.case) if c.method == self.method]
        if rows and all(c.status is Status.SKIP for c in rows):
            if self.config.getoption("gradcheck_strict"):
                raise CaseFailed(rows)
            pytest.skip(rows[0].message or "skipped")
        if not rows or any(c.status in (Status.FAIL, Status.ERROR) for c in rows):
            if self.case.xfail and self.method == "numeric":
                pytest.xfail(self.case.xfail)
            raise CaseFailed(rows)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseFailed):
            from gradcheck.reports.table import render_text

            rows = excinfo.value.comparisons
            if not rows:
                return f"{self.nodeid}: the run produced no comparison for method {self.method!r}"
            failing = [c for c in rows if c.status.value in ("fail", "error")]
            outcome = (f"{len(failing)} of {len(rows)} comparison(s) failed" if failing
                       else "skipped, which --gradcheck-strict refuses")
            headline = f"{self.case.name} › {self.method}: {outcome} ({self.case.file}:{self.case.line})"
            return headline + "\n\n" + render_text(rows).rstrip("\n")
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, self.case.line - 1, f"{self.case.file}::{self.name}"
