"""The cross-framework view: which method departs when the methods disagree.

Every analytic method is compared with the same finite-difference reference,
so when some pass and others fail on the same case and input, the reference
is the arbiter: the failing ones depart from it and the passing ones agree
with it (and with each other, within tolerance). One line per such (case,
input) says so, under the table. Reads Comparisons only, like the reports.
"""

from __future__ import annotations

from typing import Sequence

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.methods import EXPECT, NUMERIC


def disagreements(comparisons: Sequence[Comparison]) -> list[str]:
    """'frameworks disagree on X input Y: torch departs from the reference (margin 3e+04), ...'."""
    groups: dict[tuple[str, str], list[Comparison]] = {}
    for c in comparisons:
        if c.method not in (NUMERIC, EXPECT) and c.status in (Status.PASS, Status.FAIL):
            groups.setdefault((c.case, c.target, c.order), []).append(c)
    lines = []
    for (case, name, _order), rows in groups.items():
        departing = [c for c in rows if c.status is Status.FAIL]
        agreeing = [c.label for c in rows if c.status is Status.PASS]
        if not departing or not agreeing:
            continue
        who = ", ".join(f"{c.label} (margin {c.margin:.2g}x)" for c in departing)
        verb = "departs" if len(departing) == 1 else "depart"
        lines.append(f"frameworks disagree on case {case} input {name}: {who} {verb} from the reference, "
                     f"{'/'.join(agreeing)} agree{'s' if len(agreeing) == 1 else ''} with it")
    return lines
