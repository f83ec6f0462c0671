"""The `gradcheck explore` command: thin, as the CLI's other commands (parse, call, render)."""

from __future__ import annotations

import sys

import click

from gradcheck.methods import METHODS
from gradcheck.terminal import console as terminal_console
from gradcheck.terminal import load_selected, parse_keyword

EXIT_OK, EXIT_FOUND = 0, 1


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--examples", type=click.IntRange(min=1), default=100, show_default=True,
              help="Points tried per case (before shrinking).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search.")
@click.option("--max-seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Search budget per case.")
@click.option("--method", "methods", multiple=True, type=click.Choice(METHODS),
              help="Only these methods (repeatable).")
@click.option("-k", "keywords", multiple=True, metavar="EXPR",
              help="Only cases (and methods) matching, as pytest's -k: 'softplus and not jvp'.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Write a JSON report of the checks at the shrunk failing inputs.")
@click.option("--write", "write_path", type=click.Path(dir_okay=False),
              help="Append each shrunk failure as a regression case to this case file.")
def explore(paths, examples, seed, max_seconds, methods, keywords, json_path, write_path) -> None:
    """Search the inputs of the cases in PATHS for a point where a gradient fails, and shrink it."""
    from gradcheck.explore.output import render, to_json
    from gradcheck.explore.regression import append_regression
    from gradcheck.explore.search import explore_case
    from gradcheck.reports.table import write_atomically

    cases = load_selected(paths, parse_keyword(keywords))
    console = terminal_console()
    explorations = []
    for case in cases:
        result = explore_case(case, examples=examples, seed=seed, max_seconds=max_seconds,
                              methods=tuple(methods) or None)
        explorations.append(result)
        render(result, console)
        if result.finding is not None and write_path:
            name = append_regression(write_path, result.case, result.finding.point, result.finding.cotangent)
            console.print(f"wrote regression case {name} to {write_path}")
    found = sum(e.finding is not None for e in explorations)
    console.print(f"{found} of {len(explorations)} case(s) have a failing input")
    if json_path:
        write_atomically(json_path, to_json(explorations))
    sys.exit(EXIT_FOUND if found else EXIT_OK)
