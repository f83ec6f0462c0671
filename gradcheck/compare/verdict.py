"""What a set of comparisons adds up to: passed, failed, and what `--strict` refuses.

A run is honest only if something was compared. A case where no analytic
method ran (none given, all skipped, all filtered out by --method) carries one
NOTHING row, a skip that says so; `--strict` also fails on every skip and on
every XPASS (an xfail case whose methods now pass: its xfail is stale).
"""

from __future__ import annotations

from typing import Sequence

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.methods import EXPECT, NUMERIC

NOTHING = "(none)"  # the method of the row that says a case compared no analytic gradient
NOT_ANALYTIC = (NUMERIC, EXPECT, NOTHING)


def analytic_ran(rows: Sequence[Comparison]) -> bool:
    """Whether some analytic method produced a verdict (a pass, a fail, or an error it raised)."""
    return any(r.method not in NOT_ANALYTIC and r.status is not Status.SKIP for r in rows)


def is_xfail(row: Comparison) -> bool:
    return row.xfail and row.status is Status.SKIP


def is_xpass(row: Comparison) -> bool:
    return row.xfail and row.status is Status.PASS and row.method not in NOT_ANALYTIC


def unchecked_cases(comparisons: Sequence[Comparison]) -> list[str]:
    """The cases that compared nothing, in order."""
    return list(dict.fromkeys(c.case for c in comparisons if c.method == NOTHING))


def failed(comparisons: Sequence[Comparison], *, strict: bool = False) -> bool:
    """A mismatch or an error fails a run; under `strict`, so does anything that was not checked."""
    if any(c.status in (Status.FAIL, Status.ERROR) for c in comparisons):
        return True
    return strict and bool(strict_objections(comparisons))


def strict_objections(comparisons: Sequence[Comparison]) -> list[str]:
    """What --strict refuses, one phrase per kind ("2 skipped rows", ...); empty when nothing."""
    skips = [c for c in comparisons if c.status is Status.SKIP and not c.xfail and c.method != NOTHING]
    unchecked = unchecked_cases(comparisons)
    xpasses = list(dict.fromkeys((c.case, c.method) for c in comparisons if is_xpass(c)))
    phrases = []
    if skips:
        phrases.append(f"{len(skips)} skipped row(s)")
    if unchecked:
        phrases.append(f"{len(unchecked)} case(s) with nothing to compare ({', '.join(unchecked[:5])}"
                       + (", ..." if len(unchecked) > 5 else "") + ")")
    if xpasses:
        phrases.append(f"{len(xpasses)} XPASS (an xfail case whose method now passes: remove the xfail)")
    return phrases
