"""The command line: parse, call the library, render. The one place errors become exit codes.

    0  every comparison passed (skips allowed)
    1  a gradient mismatch, or a case that raised
    2  usage error or an invalid case file (nothing was run)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from gradcheck.methods import EXPECT, METHODS
from gradcheck.tolerance import DTYPES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(click.UsageError):
    exit_code = EXIT_USAGE


def _console() -> Console:
    # rich honours NO_COLOR and drops styling when stdout is not a terminal;
    # piped output gets a wide virtual width so the table never wraps.
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 200))
    return console


def _load(paths: tuple[str, ...], keyword: str | None):
    from gradcheck.cases import CaseFileError, load_cases

    try:
        cases = load_cases(paths or ("cases",))
    except CaseFileError as exc:
        raise UsageError(str(exc)) from None
    if keyword:
        cases = [case for case in cases if keyword in case.name]
    if not cases:
        where = ", ".join(paths or ("cases",))
        raise UsageError(f"no cases found in {where}" + (f" matching -k {keyword!r}" if keyword else ""))
    return cases


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradcheck")
def main() -> None:
    """Is this gradient right? Check analytic gradients against finite differences."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--method", "methods", multiple=True, type=click.Choice(METHODS),
              help="Only these methods (repeatable).")
@click.option("-k", "keyword", help="Only cases whose name contains this.")
@click.option("--dtype", type=click.Choice(DTYPES), help="Override every case's dtype.")
@click.option("--mode", type=click.Choice(["auto", "full", "fast"]), default="auto", show_default=True,
              help="full: every element; fast: random directions; auto: by size.")
@click.option("--rtol", type=click.FloatRange(min=0), help="Override every case's relative tolerance.")
@click.option("--atol", type=click.FloatRange(min=0), help="Override every case's absolute tolerance.")
@click.option("--max-elements", type=click.IntRange(min=1), default=10_000_000, show_default=True,
              help="Refuse generated inputs larger than this.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON report here.")
def run(paths, methods, keyword, dtype, mode, rtol, atol, max_elements, json_path) -> None:
    """Check the cases in PATHS (files or folders; default: cases/)."""
    from gradcheck import report
    from gradcheck.runner import Mode, RunOptions, run_case
    from gradcheck.tolerance import ToleranceOverride

    cases = _load(paths, keyword)
    options = RunOptions(
        methods=tuple(methods) or None, dtype=dtype, mode=Mode(mode),
        tolerance=ToleranceOverride(rtol=rtol, atol=atol) if rtol is not None or atol is not None else None,
        max_elements=max_elements,
    )
    comparisons = [row for case in cases for row in run_case(case, options)]
    report.render(comparisons, _console())
    if json_path:
        report.write_atomically(json_path, report.to_json(comparisons))
    failed = any(c.status.value in ("fail", "error") for c in comparisons)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


@main.command("list")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-k", "keyword", help="Only cases whose name contains this.")
def list_cases(paths, keyword) -> None:
    """List the cases in PATHS and the methods that would check them, without running."""
    from rich.table import Table

    from gradcheck.runner import RunOptions, applicable_methods

    cases = _load(paths, keyword)
    console = _console()
    table = Table(box=None, pad_edge=False, header_style="bold" if console.is_terminal else "")
    for header in ("case", "defined by", "inputs", "wrt", "dtype", "methods", "where"):
        table.add_column(header, no_wrap=True)
    for case in cases:
        source = f"op {case.op}" if case.op else f"expr {case.expr.source}" if case.expr else f"function {case.function}"
        methods = applicable_methods(case, RunOptions()) + ([EXPECT] if case.expect else [])
        status = f" [skip: {case.skip}]" if case.skip else f" [xfail: {case.xfail}]" if case.xfail else ""
        table.add_row(case.name, source, ", ".join(case.input_names), ", ".join(case.wrt), case.dtype,
                      ", ".join(methods) + status, f"{case.file}:{case.line}")
    console.print(table)
    console.print(f"{len(cases)} case(s)")


@main.command()
def ops() -> None:
    """List the built-in ops, their parameters and the methods that support them."""
    from rich.table import Table

    from gradcheck.ops import OPS

    console = _console()
    table = Table(box=None, pad_edge=False, header_style="bold" if console.is_terminal else "")
    for header in ("op", "inputs", "params", "methods", "what it computes"):
        table.add_column(header)
    for op in OPS.values():
        params = ", ".join(f"{k}={v!r}" for k, v in op.params.items()) or "-"
        table.add_row(op.name, ", ".join(op.inputs), params, ", ".join(_op_methods(op.name)), op.summary)
    console.print(table)


def _op_methods(op_name: str) -> list[str]:
    from gradcheck import backends

    supported = []
    for method in METHODS:
        if method == "numeric":
            supported.append(method)
        elif method in backends.implemented_methods():
            backend = backends.get_backend(method)
            if getattr(backend, "supports_op", lambda _name: True)(op_name):
                supported.append(method)
    return supported


if __name__ == "__main__":  # pragma: no cover
    main()
