"""What the commands share: the console they print to, and loading the cases they were pointed at."""

from __future__ import annotations

import click
from rich.console import Console

EXIT_USAGE = 2


class UsageError(click.UsageError):
    exit_code = EXIT_USAGE


def console() -> Console:
    # rich honours NO_COLOR and drops styling when stdout is not a terminal;
    # piped output gets a wide virtual width so the table never wraps.
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 200))
    return console


def load_selected(paths: tuple[str, ...], keyword: str | None):
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
