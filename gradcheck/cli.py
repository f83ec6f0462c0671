"""The command line: parse, call the library, render. The one place errors become exit codes.

    0  every comparison passed (skips allowed)
    1  a gradient mismatch, or a case that raised
    2  usage error or an invalid case file (nothing was run)
"""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

from gradcheck.methods import DEFAULT_BUDGET, METHODS, MODES
from gradcheck.terminal import UsageError, load_selected, parse_keyword
from gradcheck.terminal import console as make_console
from gradcheck.tolerance import DTYPES

EXIT_OK, EXIT_FAILED = 0, 1




def _require_html_extra(path: str | None) -> None:
    import importlib.util

    if path is not None and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--html draws its plots with matplotlib: pip install 'gradcheck[html]'")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradcheck")
def main() -> None:
    """Is this gradient right? Check analytic gradients against finite differences."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--method", "methods", multiple=True, type=click.Choice(METHODS),
              help="Only these methods (repeatable).")
@click.option("-k", "keywords", multiple=True, metavar="EXPR",
              help="Only rows whose case or method name matches, as pytest's -k: 'sigmoid and not jvp', "
                   "'matmul or conv2d' (repeated: all must match).")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures, errors and the summary.")
@click.option("-v", "--verbose", is_flag=True, help="Every row, and the tracebacks of errors in user code.")
@click.option("--show-skips", is_flag=True, help="List skipped rows instead of one line per reason.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write an HTML report with plots here (needs pip install 'gradcheck[html]').")
@click.option("--dtype", type=click.Choice(DTYPES), help="Override every case's dtype.")
@click.option("--mode", type=click.Choice(MODES), default="auto", show_default=True,
              help="full: every element; fast: random directions; auto: full where the full check is "
                   "predicted to fit --budget, else fast.")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_BUDGET, show_default=True,
              metavar="SECONDS", help="Auto mode: seconds the full check of one input may be predicted to take.")
@click.option("--order", type=click.IntRange(1, 2), default=None,
              help="2: also check second derivatives, for every method whose backward is differentiable "
                   "[default: each case's order:, else 1].")
@click.option("--rtol", type=click.FloatRange(min=0), help="Override every case's relative tolerance.")
@click.option("--atol", type=click.FloatRange(min=0), help="Override every case's absolute tolerance.")
@click.option("--max-elements", type=click.IntRange(min=1), default=10_000_000, show_default=True,
              help="Refuse generated inputs larger than this.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where framework methods compute (cuda rows skip when no GPU is present).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Write the JSON report here (e.g. reports/gradcheck.json).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
              help="Write a JUnit XML report here (e.g. reports/junit.xml).")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False),
              help="Write a Markdown summary here (e.g. reports/summary.md).")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False),
              help="Fail when a verdict got worse or an error grew past --baseline-factor.")
@click.option("--update-baseline", "update_path", type=click.Path(dir_okay=False),
              help="Record this run's comparisons as the baseline (replaces the file).")
@click.option("--baseline-factor", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="An error that grows more than this many times is a regression.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes (0: one per CPU); the reports are the same as a serial run's.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds per case before it is stopped and reported as an error "
                   "[default: the case's timeout:, else 600].")
@click.option("--strict", is_flag=True,
              help="Fail on every skip, every case with nothing to compare and every XPASS.")
@click.option("--shard", "shard_text", metavar="K/N",
              help="Run part K of N parts of about equal predicted cost (for a CI matrix; see `gradcheck merge`).")
def run(paths, methods, keywords, quiet, verbose, show_skips, html_path, dtype, mode, budget, order, rtol, atol,
        max_elements, json_path, junit_path, markdown_path, baseline_path, update_path, baseline_factor, jobs, device,
        shard_text, timeout, strict) -> None:
    """Check the cases in PATHS (files or folders; default: cases/)."""
    from gradcheck.methods import Mode
    from gradcheck.reports import table as report
    from gradcheck.reports.folding import NORMAL, QUIET, VERBOSE, View
    from gradcheck.run.parallel import run_cases
    from gradcheck.run.progress import progress_bar
    from gradcheck.run.runner import RunOptions
    from gradcheck.tolerance import ToleranceOverride

    if quiet and verbose:
        raise UsageError("-q and -v: choose one")
    keyword = parse_keyword(keywords)
    cases = load_selected(paths, keyword)
    _require_frameworks(methods)
    _require_html_extra(html_path)
    cases = _select_shard(cases, shard_text, RunOptions(methods=tuple(methods) or None, dtype=dtype))
    recorded = _load_baseline(baseline_path)  # before anything runs: a missing one is exit 2
    options = RunOptions(
        methods=tuple(methods) or None, dtype=dtype, mode=Mode(mode),
        tolerance=ToleranceOverride(rtol=rtol, atol=atol) if rtol is not None or atol is not None else None,
        max_elements=max_elements, device=device, step_curves=html_path is not None, timeout=timeout,
        budget=budget, order=order,
    )
    with progress_bar(len(cases)) as advance:
        comparisons = run_cases(cases, options, jobs=jobs, on_case_done=advance)
    if keyword is not None:
        comparisons = [c for c in comparisons if keyword.matches((c.case, c.method))]
    console = make_console()
    view = View(verbosity=QUIET if quiet else VERBOSE if verbose else NORMAL, show_skips=show_skips)
    report.render(comparisons, console, view=view)
    verdict = _hold_against_baseline(comparisons, recorded, baseline_path, baseline_factor, console)
    _annotate(comparisons, verdict)
    _write_reports(comparisons, verdict, json_path=json_path, junit_path=junit_path,
                   markdown_path=markdown_path, update_path=update_path, html_path=html_path)
    failed = _judge(comparisons, strict, console)
    sys.exit(EXIT_FAILED if failed or (verdict is not None and verdict.failed) else EXIT_OK)


def _judge(comparisons, strict: bool, console: Console) -> bool:
    """Whether the run failed; under --strict, say what else made it fail."""
    from rich.text import Text

    from gradcheck.compare import verdict

    if strict and (objections := verdict.strict_objections(comparisons)):
        console.print(Text(f"--strict: {'; '.join(objections)} fail the run",
                           style="bold red" if console.is_terminal else ""), soft_wrap=True)
    return verdict.failed(comparisons, strict=strict)


def _select_shard(cases, shard_text: str | None, options):
    """The cases of `--shard K/N` (all of them without it); an empty part runs nothing and passes."""
    if shard_text is None:
        return cases
    from gradcheck.run.runner import reported_methods
    from gradcheck.run.shards import parse_shard, shard

    try:
        part, parts = parse_shard(shard_text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return shard(cases, part, parts, lambda case: len(reported_methods(case, options)))


@main.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def merge(output, reports) -> None:
    """Join the JSON REPORTS of several shards into OUTPUT, as one run over all their cases would write it."""
    import json
    from pathlib import Path

    from gradcheck.reports.merge import MergeError
    from gradcheck.reports.merge import merge as merge_reports
    from gradcheck.reports.table import write_atomically

    try:
        text = merge_reports((path, Path(path).read_text(encoding="utf-8")) for path in reports)
    except MergeError as exc:
        raise UsageError(str(exc)) from None
    write_atomically(output, text)
    failed = any(r["status"] in ("fail", "error") for r in json.loads(text)["results"])
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def _require_frameworks(methods: tuple[str, ...]) -> None:
    """Asking for a framework method by name when the framework is missing is a usage error."""
    from gradcheck import backends
    from gradcheck.run.runner import install_hint

    for method in methods:
        if method in backends.implemented_methods() and not backends.get_backend(method).available():
            raise UsageError(f"--method {method}: {install_hint(method)}")


def _load_baseline(path: str | None):
    if path is None:
        return None
    from gradcheck.reports.baseline import BaselineError, load

    try:
        return load(path)
    except BaselineError as exc:
        raise UsageError(str(exc)) from None


def _hold_against_baseline(comparisons, recorded, path, factor, console: Console):
    """The baseline's verdicts, printed after the table: regressions, improvements, new."""
    if recorded is None:
        return None
    from rich.text import Text

    from gradcheck.reports import baseline

    verdict = baseline.diff(comparisons, recorded, factor=factor, path=path)
    styles = {"  REGRESSED": "bold red", "  IMPROVED": "green", "  NEW": "cyan", "  SKIPPED": "yellow"}
    for line in baseline.lines(verdict):
        style = next((s for prefix, s in styles.items() if line.startswith(prefix)), "bold")
        console.print(Text(line, style=style if console.is_terminal else ""), soft_wrap=True)
    return verdict


def _annotate(comparisons, verdict) -> None:
    """On GitHub Actions, failures become annotations on the case's line in its file."""
    from gradcheck.reports import github

    if github.enabled():
        workspace = os.environ.get("GITHUB_WORKSPACE")
        for line in github.annotations(comparisons, verdict, workspace=workspace):
            click.echo(line)


def _write_reports(comparisons, verdict, *, json_path, junit_path, markdown_path, update_path,
                   html_path=None) -> None:
    from gradcheck.reports import table as report

    renderers = (
        (json_path, lambda: report.to_json(comparisons)),
        (junit_path, lambda: _junit(comparisons, verdict)),
        (markdown_path, lambda: _markdown(comparisons, verdict)),
        (update_path, lambda: _baseline_json(comparisons)),
        (html_path, lambda: _html(comparisons, verdict)),
    )
    for path, render in renderers:
        if path:
            try:
                report.write_atomically(path, render())
            except OSError as exc:
                raise UsageError(f"cannot write {path}: {exc}") from None


def _junit(comparisons, verdict) -> str:
    from gradcheck.reports.junit import to_junit

    return to_junit(comparisons, baseline=verdict)


def _markdown(comparisons, verdict) -> str:
    from gradcheck.reports.markdown import to_markdown

    return to_markdown(comparisons, baseline=verdict)


def _html(comparisons, verdict) -> str:
    from gradcheck.reports.html import to_html

    return to_html(comparisons, baseline=verdict)


def _baseline_json(comparisons) -> str:
    from gradcheck.reports.baseline import to_json

    return to_json(comparisons)


@main.command("list")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-k", "keywords", multiple=True, metavar="EXPR",
              help="Only cases with a case or method name matching, as in `run -k`.")
def list_cases(paths, keywords) -> None:
    """List the cases in PATHS and the methods that would check them, without running."""
    from rich.table import Table

    from gradcheck.run.runner import RunOptions, reported_methods

    keyword = parse_keyword(keywords)
    cases = load_selected(paths, keyword)
    console = make_console()
    table = Table(box=None, pad_edge=False, header_style="bold" if console.is_terminal else "")
    for header in ("case", "defined by", "inputs", "wrt", "dtype", "methods", "where"):
        table.add_column(header, no_wrap=True)
    for case in cases:
        source = case.definition
        methods = [m for m in reported_methods(case, RunOptions())
                   if keyword is None or keyword.matches((case.name, m))]
        status = f" [skip: {case.skip}]" if case.skip else f" [xfail: {case.xfail}]" if case.xfail else ""
        table.add_row(case.name, source, ", ".join(case.input_names), ", ".join(case.wrt), case.dtype,
                      ", ".join(methods) + status, f"{case.file}:{case.line}")
    console.print(table)
    console.print(f"{len(cases)} case(s)")


@main.command()
def ops() -> None:
    """List the built-in ops, their parameters and the methods that support them."""
    from rich.markup import escape
    from rich.table import Table

    from gradcheck.ops import OPS

    console = make_console()
    table = Table(box=None, pad_edge=False, header_style="bold" if console.is_terminal else "")
    for header in ("op", "inputs", "params", "methods"):
        table.add_column(header, no_wrap=True)  # names stay whole; only the prose below may wrap
    table.add_column("what it computes")
    for op in sorted(OPS.values(), key=lambda op: op.name):
        params = ", ".join(f"{k}={v!r}" for k, v in op.params.items()) or "-"
        # escape: rich would read "[low, high]" in a summary as markup and drop it.
        summary = op.summary if not op.complex or "complex" in op.summary else f"{op.summary}; complex too"
        table.add_row(op.name, op.signature, escape(params), ", ".join(_op_methods(op)), escape(summary))
    console.print(table)


def _op_methods(op) -> list[str]:
    """numeric and vjp for every op, and each framework's methods where the op has its lowering."""
    from gradcheck.methods import FRAMEWORK_OF

    return [m for m in METHODS if m in ("numeric", "vjp") or FRAMEWORK_OF[m] in op.frameworks]


def _register_explore() -> None:
    from gradcheck.explore.command import explore

    main.add_command(explore)


_register_explore()


if __name__ == "__main__":  # pragma: no cover
    main()
