"""Which rows a person reads: skips folded by reason, an error before any comparison once per
case, a long run's passing rows one per case, and -q/-v/--show-skips.

A table row is a Comparison or several folded into one (Folded); the words
under the table (failures, errors, skips) come from `notes`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import PurePath
from typing import Sequence

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.verdict import NOTHING

QUIET, NORMAL, VERBOSE = -1, 0, 1


@dataclass(frozen=True)
class View:
    """How much to show: -q (QUIET) failures and the summary; -v (VERBOSE) every row and tracebacks."""

    verbosity: int = NORMAL
    show_skips: bool = False
    max_rows: int = 34  # above this many table rows, passing rows fold by case, then file, then folder (not -v)


@dataclass(frozen=True)
class Folded:
    """Several rows of one case shown as one: `method` and `input` say what it covers."""

    first: Comparison
    method: str
    input: str
    margin: float | None
    count: int
    case: str = ""  # what the case column says: the case, or "N cases in FILE"
    rows: tuple[Comparison, ...] = ()  # the rows it stands for

    def __post_init__(self):
        if not self.case:
            object.__setattr__(self, "case", self.first.case)

    @property
    def status(self) -> Status:
        return self.first.status


def table_rows(comparisons: Sequence[Comparison], view: View) -> list[Comparison | Folded]:
    # Skips fold into one line per reason, but an expected failure (XFAIL) and a case that compared
    # nothing are verdicts of their own, and stay in the table.
    rows = [c for c in comparisons if c.status is not Status.SKIP or view.show_skips or c.xfail or c.method == NOTHING]
    if view.verbosity <= QUIET:
        rows = [c for c in rows if c.status in (Status.FAIL, Status.ERROR)]
    shown = _fold_errors(rows)
    # Still too long: the passes of each case, then of each file, then of each folder, become one row.
    for key, where in ((lambda c: c.case, None), (lambda c: c.file, lambda c: c.file),
                       (lambda c: str(PurePath(c.file).parent), lambda c: f"{PurePath(c.file).parent}/")):
        if view.verbosity >= VERBOSE or len(shown) <= view.max_rows:
            break
        shown = _fold_passes(_unfold(shown), key=key, where=where)
    return shown


def _unfold(rows: list[Comparison | Folded]) -> list[Comparison | Folded]:
    """Passing rows folded by case, as the Comparisons they stand for (to be folded wider)."""
    out = []
    for row in rows:
        out.extend(row.rows if isinstance(row, Folded) and row.status is Status.PASS else [row])
    return out


def before_any_comparison(c: Comparison) -> bool:
    """An error with no numbers: it happened before the gradient could be compared (a case that
    fails to build, a reference or backward that raised), so every row of it says the same."""
    return c.status is Status.ERROR and c.max_abs_err is None


def _fold_errors(rows: list[Comparison]) -> list[Comparison | Folded]:
    """Rows of one case with the same error before any comparison become one."""
    groups: dict[tuple[str, str], list[Comparison]] = {}
    for c in rows:
        if before_any_comparison(c):
            groups.setdefault((c.case, c.message), []).append(c)
    shown, done = [], set()
    for c in rows:
        key = (c.case, c.message)
        if not before_any_comparison(c) or len(groups[key]) == 1:
            shown.append(c)
        elif key not in done:
            done.add(key)
            shown.append(_folded(groups[key], margin=None))
    return shown


def _fold_passes(rows: list[Comparison | Folded], key, where=None) -> list[Comparison | Folded]:
    """The passing rows that share a key (a case, a file) become one, with the largest margin among them."""
    passes: dict[str, list[Comparison]] = {}
    for c in rows:
        if isinstance(c, Comparison) and c.status is Status.PASS:
            passes.setdefault(key(c), []).append(c)
    shown, done = [], set()
    for c in rows:
        if not isinstance(c, Comparison) or c.status is not Status.PASS or len(passes[key(c)]) == 1:
            shown.append(c)
        elif key(c) not in done:
            done.add(key(c))
            group = passes[key(c)]
            margins = [g.margin for g in group if g.margin is not None]
            cases = len(dict.fromkeys(g.case for g in group))
            label = f"{cases} cases in {where(c)}" if where is not None and cases > 1 else ""
            shown.append(_folded(group, margin=max(margins) if margins else None, case=label))
    return shown


def _folded(group: list[Comparison], margin: float | None, case: str = "") -> Folded:
    methods = list(dict.fromkeys(c.label for c in group))
    inputs = list(dict.fromkeys(c.input for c in group))
    return Folded(first=group[0], method=methods[0] if len(methods) == 1 else f"{len(methods)} methods",
                  input=inputs[0] if len(inputs) == 1 else f"{len(inputs)} inputs", margin=margin,
                  count=len(group), case=case, rows=tuple(group))


def notes(comparisons: Sequence[Comparison], view: View) -> list[str]:
    """The words under the table: a line per failure, one per error (with its traceback under -v),
    one per skip reason."""
    lines, seen = [], set()
    errors = Counter((c.case, c.message) for c in comparisons if c.status is Status.ERROR)
    for c in comparisons:
        if c.status is Status.FAIL and c.message:
            point = c.detail.describe_point() if c.detail is not None else ""
            lines.append(f"FAIL {c.path}{f' where {point}' if point else ''}{_where(c)}: {c.message}")
        elif c.status is Status.ERROR and (c.case, c.message) not in seen:
            seen.add((c.case, c.message))
            who = c.case if errors[c.case, c.message] > 1 else f"{c.case} › {c.label}"  # said once per case
            lines.append(f"ERROR {who}{_where(c)}: {c.message}")
            if view.verbosity >= VERBOSE and c.detail is not None and c.detail.trace:
                lines.extend("    " + line for line in c.detail.trace.rstrip("\n").splitlines())
        elif c.message and (c.method == NOTHING or c.xfail) and (c.case, c.method, c.message) not in seen:
            seen.add((c.case, c.method, c.message))
            word = "NOTHING TO COMPARE" if c.method == NOTHING else "XPASS" if c.status is Status.PASS else "XFAIL"
            lines.append(f"{word} {c.case} › {c.label}{_where(c)}: {c.message}")
    if view.verbosity > QUIET:
        lines.extend(skip_lines(comparisons))
        lines.extend(fast_choice_lines(comparisons))
    return lines


def fast_choice_lines(comparisons: Sequence[Comparison]) -> list[str]:
    """'AUTO matmul-big › y: fast (full check predicted 180 s > budget 10 s)': one line per input that
    auto mode checked along directions, since a pass then says less than a full check's."""
    lines = []
    for c in comparisons:
        if c.choice is not None and c.choice.mode.value == "fast":
            line = f"AUTO {c.case} › {c.target}: {c.choice.mode.value} ({c.choice.reason})"
            if line not in lines:
                lines.append(line)
    return lines


def skip_lines(comparisons: Sequence[Comparison]) -> list[str]:
    """'192 rows skipped: tensorflow is not installed (...)': one line per reason."""
    reasons: dict[str, list[Comparison]] = {}
    for c in comparisons:
        if c.status is Status.SKIP and not c.xfail and c.method != NOTHING:
            reasons.setdefault(c.message or "skipped", []).append(c)
    lines = []
    for reason, rows in reasons.items():
        cases = list(dict.fromkeys(c.case for c in rows))
        which = f" in case {cases[0]}" if len(cases) == 1 else ""
        lines.append(f"{len(rows)} row{'s' if len(rows) > 1 else ''} skipped{which}: {reason}")
    return lines


def _where(c: Comparison) -> str:
    return f" ({c.file}:{c.line})" if c.line else ""  # API results have no file
