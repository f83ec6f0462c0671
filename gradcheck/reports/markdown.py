"""The Markdown report: a summary fit for a pull-request comment or $GITHUB_STEP_SUMMARY.

What needs attention comes first (failures, errors, baseline regressions);
the full table follows, folded in a <details> block and capped so that a large
suite stays under GitHub's size limits (the JSON report has every row).
"""

from __future__ import annotations

from typing import Sequence

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.reports.baseline import BaselineDiff
from gradcheck.reports.baseline import summary as baseline_summary
from gradcheck.reports.table import row_cells, summary_line

MAX_ROWS = 1000
_VERDICT = {Status.PASS: "✅ pass", Status.FAIL: "❌ fail", Status.SKIP: "⏭️ skip", Status.ERROR: "💥 error"}
_HEADER = ("case", "method", "input", "max abs err", "max rel err", "margin", "worst index", "verdict")


def cell(text: str) -> str:
    """Text safe inside a table cell: no pipes, no line breaks, no HTML."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\r", " ").replace("\n", " "))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def _row(c: Comparison) -> list[str]:
    return [*row_cells(c), _VERDICT[c.status]]


def to_markdown(comparisons: Sequence[Comparison], *, baseline: BaselineDiff | None = None,
                title: str = "gradcheck") -> str:
    failed = any(c.status in (Status.FAIL, Status.ERROR) for c in comparisons)
    failed = failed or (baseline is not None and baseline.failed)
    lines = [f"### {'❌' if failed else '✅'} {cell(title)}: {summary_line(comparisons)}", ""]

    problems = [c for c in comparisons if c.status in (Status.FAIL, Status.ERROR)]
    if problems:
        lines += ["#### Failures", ""]
        lines += _table((*_HEADER, "where", "message"),
                        [[*_row(c), f"{c.file}:{c.line}", c.message] for c in problems])
        lines.append("")

    if baseline is not None:
        lines += [f"#### Baseline `{cell(baseline.path)}` (factor {baseline.factor:g})", "",
                  baseline_summary(baseline), ""]
        changes = [("regressed", change) for change in baseline.regressions]
        changes += [("improved", change) for change in baseline.improvements]
        if changes:
            lines += _table(("", "comparison", "change"),
                            [[what, change.key, change.reason] for what, change in changes])
            lines.append("")
        if baseline.new:
            lines += ["<details><summary>New comparisons</summary>", ""]
            lines += [f"- `{cell(change.key)}`" for change in baseline.new[:MAX_ROWS]]
            lines += ["", "</details>", ""]

    shown = comparisons[:MAX_ROWS]
    lines += [f"<details><summary>All {len(comparisons)} comparisons</summary>", ""]
    lines += _table(_HEADER, [_row(c) for c in shown])
    if len(comparisons) > len(shown):
        lines += ["", f"... and {len(comparisons) - len(shown)} more (the JSON report has every row)"]
    lines += ["", "</details>", ""]
    return "\n".join(lines)
