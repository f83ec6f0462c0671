"""Rendering comparisons: the rich table, the JSON report, atomic writes.

Reports read Comparisons and nothing else; they never compute a verdict.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.crosscheck import disagreements
from gradcheck.compare.verdict import NOTHING, is_xfail, is_xpass, unchecked_cases
from gradcheck.reports.folding import QUIET, Folded, View, notes, table_rows

JSON_VERSION = 1
_STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIP: "yellow", Status.ERROR: "bold magenta"}


def summarize(comparisons: Iterable[Comparison]) -> dict[str, int]:
    counts = Counter(c.status for c in comparisons)
    return {
        "passed": counts[Status.PASS], "failed": counts[Status.FAIL],
        "skipped": counts[Status.SKIP], "errors": counts[Status.ERROR],
    }


def summary_line(comparisons: Sequence[Comparison]) -> str:
    """The counts of rows by status, then what those counts hide: cases that compared nothing,
    expected failures (counted as skips) and unexpected passes (counted as passes)."""
    s = summarize(comparisons)
    line = f"{s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, {s['errors']} errors"
    unchecked = len(unchecked_cases(comparisons))
    extras = [
        (unchecked, f"{unchecked} case{'s' if unchecked != 1 else ''} with nothing to compare"),
        (xfails := sum(map(is_xfail, comparisons)), f"{xfails} xfailed"),
        (xpasses := sum(map(is_xpass, comparisons)), f"{xpasses} XPASS"),
    ]
    return "; ".join([line] + [text for count, text in extras if count])


def verdict_word(c: Comparison) -> str:
    """PASS, FAIL, SKIP, ERROR; XFAIL and XPASS on an xfail case; NOTHING TO COMPARE for a case that compared nothing."""
    if c.method == NOTHING:
        return "NOTHING TO COMPARE"
    if is_xfail(c):
        return "XFAIL"
    if is_xpass(c):
        return "XPASS"
    return c.status.value.upper()


def format_number(value: float | None) -> str:
    """An error in the table's format: '-' when absent, '0' when exact, else 2 digits."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.2e}"


def format_margin(value: float | None) -> str:
    """The fraction of the tolerance used at the worst element, as a percentage."""
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    if value < 0.01:
        return "<1%" if value > 0 else "0%"
    if value < 10:
        return f"{100 * value:.0f}%"
    return f"{value:.1e}x"


COLUMNS = (("case", "left"), ("method", "left"), ("input", "left"), ("max abs err", "right"),
           ("max rel err", "right"), ("margin", "right"), ("worst index", "left"), ("verdict", "left"))
# Dropped in this order when the table is wider than the screen; case, method, input, margin and
# verdict always stay whole.
OPTIONAL = ("worst index", "max rel err", "max abs err")


def build_table(comparisons: Sequence[Comparison | Folded], *, title: str | None = None, terminal: bool = True,
                drop: Sequence[str] = ()) -> Table:
    table = Table(
        title=title, box=box.SIMPLE_HEAD if terminal else None, show_edge=False,
        header_style="bold" if terminal else "", pad_edge=False,
    )
    kept = [i for i, (header, _) in enumerate(COLUMNS) if header not in drop]
    for i in kept:
        header, justify = COLUMNS[i]
        table.add_column(header, justify=justify, no_wrap=True)
    for c in comparisons:
        cells = [*_cells(c), Text(_verdict(c), style=_STYLE[c.status] if terminal else "")]
        table.add_row(*(cells[i] for i in kept))
    return table


def _verdict(c: Comparison | Folded) -> str:
    if isinstance(c, Folded):
        return f"{c.status.value.upper()} ({c.count} rows)"
    verdict = verdict_word(c)
    if c.kinks and c.status is Status.PASS and c.method != "numeric":
        verdict += f" ({c.kinks} kinks)"
    return verdict


def _cells(c: Comparison | Folded) -> list[str]:
    if isinstance(c, Folded):
        return [c.case, c.method, c.input, "-", "-", format_margin(c.margin), "-"]
    return row_cells(c)


def fitting_table(rows: Sequence[Comparison | Folded], console: Console, *, title: str | None = None) -> Table:
    """The table with as many of the optional columns as the console's width allows."""
    drop: list[str] = []
    while True:
        table = build_table(rows, title=title, terminal=console.is_terminal, drop=drop)
        wide = console.options.update_width(10_000)  # the width the table wants, not what it gets
        if len(drop) == len(OPTIONAL) or console.measure(table, options=wide).maximum <= console.width:
            return table
        drop.append(OPTIONAL[len(drop)])


def row_cells(c: Comparison) -> list[str]:
    """A row's cells before the verdict, as every table (terminal, Markdown) shows them."""
    exact = c.max_abs_err == 0 and c.status is Status.PASS
    worst = str(list(c.worst_index)) if c.worst_index is not None and not exact else "-"
    return [c.case, c.label, c.target, format_number(c.max_abs_err), format_number(c.max_rel_err),
            format_margin(c.margin), worst]


def render(comparisons: Sequence[Comparison], console: Console, *, title: str | None = None,
           view: View = View()) -> None:
    terminal = console.is_terminal
    rows = table_rows(comparisons, view)
    if rows:
        console.print(fitting_table(rows, console, title=title))
    for line in notes(comparisons, view):
        style = "red" if line.startswith(("FAIL", "ERROR", "    ")) else "yellow"
        console.print(Text(line, style=style if terminal else ""), soft_wrap=True)
    if view.verbosity > QUIET:
        for line in disagreements(comparisons):
            console.print(Text(line, style="bold yellow" if terminal else ""), soft_wrap=True)
    summary = summary_line(comparisons)
    failed = any(c.status in (Status.FAIL, Status.ERROR) for c in comparisons)
    console.print(Text(summary, style=("bold red" if failed else "bold green") if terminal else ""))


def render_text(comparisons: Sequence[Comparison], *, width: int = 200, view: View = View()) -> str:
    """The same table as plain text (what the CLI prints when piped)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, no_color=True, highlight=False)
    render(comparisons, console, view=view)
    return buffer.getvalue()


# ---------------------------------------------------------------- JSON


def finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity or NaN: those become null (the message says why)."""
    if value is None or not math.isfinite(value):
        return None
    return value


def number_to_json(value: float | complex | None) -> float | list | None:
    """A real number as finite_or_none does; a complex one (the got and want of a complex input) as
    [re, im], each part finite or null: JSON has no complex numbers."""
    if isinstance(value, complex):
        return [finite_or_none(value.real), finite_or_none(value.imag)]
    return finite_or_none(value)


def comparison_to_json(c: Comparison) -> dict:
    return {
        "case": c.case, "file": c.file, "line": c.line, "method": c.method, "input": c.input,
        **({"output": c.output} if c.output is not None else {}),
        "status": c.status.value,
        "max_abs_err": finite_or_none(c.max_abs_err), "max_rel_err": finite_or_none(c.max_rel_err),
        "margin": finite_or_none(c.margin),
        "worst_index": list(c.worst_index) if c.worst_index is not None else None,
        "got": number_to_json(c.got), "want": number_to_json(c.want),
        "tolerance": c.tolerance.as_dict() if c.tolerance is not None else None,
        "kinks": c.kinks, "message": c.message,
    } | ({"xfail": True} if c.xfail else {}) | ({"order": c.order} if c.order != 1 else {}) | (
        _choice_json(c) if c.choice is not None else {})


def _choice_json(c: Comparison) -> dict:
    """Auto mode's choice for the row's input: the mode, why, the predicted full check and the budget."""
    choice = c.choice
    predicted = None if choice.predicted is None else float(f"{choice.predicted:.2g}")
    return {"mode": choice.mode.value, "mode_reason": choice.reason, "budget_seconds": choice.budget} | (
        {"predicted_full_seconds": finite_or_none(predicted)} if predicted is not None else {})


def to_json(comparisons: Sequence[Comparison]) -> str:
    document = {
        "version": JSON_VERSION,
        "summary": summarize(comparisons),
        "results": [comparison_to_json(c) for c in comparisons],
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def write_atomically(path: str | Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, _file_mode(path))  # mkstemp makes 0600; a report is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _file_mode(path: Path) -> int:
    """The mode of the file being replaced, else what open() would give (0666 less the umask)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
