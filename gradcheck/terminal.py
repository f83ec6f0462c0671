"""What the commands share: the console they print to, `-k` expressions, and loading the cases they were
pointed at."""

from __future__ import annotations

import os

import click
from rich.console import Console

EXIT_USAGE = 2


class UsageError(click.UsageError):
    exit_code = EXIT_USAGE


def console() -> Console:
    # rich honours NO_COLOR and drops styling when stdout is not a terminal;
    # piped output gets a wide virtual width so the table never wraps, unless COLUMNS says otherwise.
    made = Console(highlight=False)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made = Console(highlight=False, width=max(made.width, 200))
    return made


def parse_keyword(expressions: tuple[str, ...]):
    """The -k expressions (all must match), or None without any; a bad one is a usage error."""
    from gradcheck.keywords import KeywordError, parse

    try:
        return parse(expressions)
    except KeywordError as exc:
        raise UsageError(str(exc)) from None


def load_selected(paths: tuple[str, ...], keyword):
    """The cases in `paths` that have a (case, method) row matching the parsed -k expression."""
    from gradcheck.cases import CaseFileError, load_cases
    from gradcheck.run.runner import RunOptions, reported_methods

    notes: list[str] = []
    try:
        cases = load_cases(paths or ("cases",), notes=notes)
    except CaseFileError as exc:
        raise UsageError(str(exc)) from None
    for note in notes:  # YAML that is not a case file (a CI workflow), passed over
        click.echo(note, err=True)
    if keyword is not None:
        cases = [case for case in cases
                 if any(keyword.matches((case.name, m)) for m in reported_methods(case, RunOptions()))]
    if not cases:
        where = ", ".join(paths or ("cases",))
        raise UsageError(f"no cases found in {where}" + (f" matching -k {keyword.source!r}" if keyword else ""))
    return cases
