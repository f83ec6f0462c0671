"""The HTML report: one self-contained file (CSS, script and SVG plots inline; no network).

A summary, then every failure with what explains it (the margin heatmap, the
worst element's step-size curve, the diagnosis, the input values and cotangent
there), the errors, the baseline's verdicts, the cross-framework view, and
every row, folded. Reads Comparisons (and their Detail) only, like the other reports.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.crosscheck import disagreements
from gradcheck.methods import EXPECT, NUMERIC
from gradcheck.reports import baseline as baselines
from gradcheck.reports.folding import before_any_comparison
from gradcheck.reports.plots import curve_svg, heatmap_svg
from gradcheck.reports.table import COLUMNS, format_margin, row_cells, summary_line

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
.summary span { display: inline-block; padding: .3em .8em; margin-right: .5em; border-radius: .3em; }
.pass { background: #e3f4e1; } .fail { background: #fbe0e0; } .skip { background: #fff4d6; }
.error { background: #f3e0fb; }
article { border: 1px solid #e5b9b9; border-radius: .4em; padding: .2em 1em 1em; margin: 1em 0; }
article h3 { font-family: ui-monospace, monospace; font-size: 1em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } .plots figure { margin: 0; }
.plots svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-family: ui-monospace, monospace; font-size: 12px; }
td, th { padding: .15em .6em; text-align: left; border-bottom: 1px solid #eee; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .6em; }
"""

# Opens every folded section at once; the only script, and it touches nothing outside the page.
_SCRIPT = """
document.getElementById("unfold").addEventListener("click", function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
});
"""


def to_html(comparisons: Sequence[Comparison], *, baseline: baselines.BaselineDiff | None = None) -> str:
    failed = any(c.status in (Status.FAIL, Status.ERROR) for c in comparisons)
    body = [f"<h1>gradcheck: {'failed' if failed else 'passed'}</h1>", _summary(comparisons),
            '<p><button id="unfold" type="button">Unfold everything</button></p>']
    body += _failures(comparisons) + _errors(comparisons)
    if baseline is not None:
        body += ["<h2>Baseline</h2>", f"<pre>{escape(chr(10).join(baselines.lines(baseline)))}</pre>"]
    body += _crosscheck(comparisons)
    body += ["<h2>Every row</h2>", f"<details><summary>{len(comparisons)} rows</summary>",
             _table(comparisons), "</details>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>gradcheck report</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")


def _summary(comparisons: Sequence[Comparison]) -> str:
    counts = {s: sum(c.status is s for c in comparisons) for s in Status}
    spans = "".join(f'<span class="{s.value}">{n} {s.value}</span>' for s, n in counts.items())
    return f'<p class="summary">{spans}</p><p>{escape(summary_line(comparisons))}</p>'


def _failures(comparisons: Sequence[Comparison]) -> list[str]:
    failing = [c for c in comparisons if c.status is Status.FAIL]
    if not failing:
        return []
    return [f"<h2>Failures ({len(failing)})</h2>"] + [_failure(c) for c in failing]


def _failure(c: Comparison) -> str:
    parts = [f'<article class="failure"><h3>{escape(c.path)}</h3>',
             f"<p>{escape(c.file)}:{c.line} · margin {escape(format_margin(c.margin))} of the tolerance</p>"]
    detail = c.detail
    if detail is not None and detail.describe_point():
        parts.append(f"<p><b>At the worst element:</b> {escape(detail.describe_point())}; "
                     f"got {c.got:.10g}, reference {c.want:.10g}</p>")
    parts.append(f"<p><b>Diagnosis:</b> {escape(c.message)}</p>")
    plots = []
    if detail is not None and detail.margins is not None and c.worst_index is not None:
        plots.append(_figure("heatmap", heatmap_svg(detail.margins, c.worst_index, f"margin per element of {c.input}"),
                             "Each element's margin, log10 of the fraction of its tolerance used: red (above 0) "
                             "fails, blue passes; × marks the worst."))
    if detail is not None and detail.curve is not None:
        plots.append(_figure("curve", curve_svg(detail.curve, c.got, c.want),
                             "Why the reference is trusted: the plain central difference's error against its "
                             "step, between truncation (slope 2) and round-off (slope −1). The engine takes the "
                             "steps marked in grey and cancels their truncation by Richardson extrapolation."))
    parts.append(f'<div class="plots">{"".join(plots)}</div></article>')
    return "\n".join(parts)


def _figure(kind: str, svg: str, caption: str) -> str:
    return f'<figure class="{kind}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _errors(comparisons: Sequence[Comparison]) -> list[str]:
    """Each error once per case and message, with its traceback folded."""
    seen, items = set(), []
    for c in comparisons:
        if c.status is Status.ERROR and (c.case, c.message) not in seen:
            seen.add((c.case, c.message))
            who = c.case if before_any_comparison(c) else f"{c.case} › {c.label}"
            trace = c.detail.trace if c.detail is not None else ""
            folded = f"<details><summary>traceback</summary><pre>{escape(trace)}</pre></details>" if trace else ""
            items.append(f"<li><b>{escape(who)}</b> ({escape(c.file)}:{c.line}): {escape(c.message)}{folded}</li>")
    return [f"<h2>Errors ({len(items)})</h2><ul>", *items, "</ul>"] if items else []


def _crosscheck(comparisons: Sequence[Comparison]) -> list[str]:
    """The margin of every analytic method, side by side per (case, input), where there are several."""
    compared = [c for c in comparisons if c.method not in (NUMERIC, EXPECT) and c.margin is not None]
    methods = list(dict.fromkeys(c.label for c in compared))
    grid: dict[tuple[str, str], dict[str, Comparison]] = {}
    for c in compared:
        grid.setdefault((c.case, c.input), {})[c.label] = c
    several = {key: row for key, row in grid.items() if len(row) > 1}
    if not several:
        return []
    header = "".join(f"<th>{escape(m)}</th>" for m in methods)
    rows = []
    for (case, name), row in several.items():
        cells = "".join(f'<td class="{row[m].status.value}">{escape(format_margin(row[m].margin))}</td>'
                        if m in row else "<td></td>" for m in methods)
        rows.append(f"<tr><td>{escape(case)}</td><td>{escape(name)}</td>{cells}</tr>")
    notes = "".join(f"<li>{escape(line)}</li>" for line in disagreements(comparisons))
    return ["<h2>Across frameworks</h2>", "<p>The margin each method uses of its tolerance.</p>",
            f"<table><tr><th>case</th><th>input</th>{header}</tr>{''.join(rows)}</table>",
            f"<ul>{notes}</ul>" if notes else ""]


def _table(comparisons: Sequence[Comparison]) -> str:
    header = "".join(f"<th>{escape(name)}</th>" for name, _ in COLUMNS)
    rows = "".join(
        f'<tr class="{c.status.value}">' + "".join(f"<td>{escape(cell)}</td>" for cell in row_cells(c))
        + f"<td>{c.status.value.upper()}</td></tr>" for c in comparisons)
    return f"<table><tr>{header}</tr>{rows}</table>"
