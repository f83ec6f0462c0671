"""What `explore` prints and writes: the usual table at each shrunk failing point, with the point."""

from __future__ import annotations

import json

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.explore.regression import literal
from gradcheck.explore.search import Exploration
from gradcheck.reports.table import (
    JSON_VERSION,
    comparison_to_json,
    render_text,
    summarize,
)


def _point(exploration: Exploration) -> dict[str, list]:
    return {name: literal(value) for name, value in exploration.finding.inputs.items()}


def _tally(exploration: Exploration) -> str:
    t = exploration.tally
    parts = [f"{t.examples} points tried", f"{t.outside_domain} outside the domain",
             f"{t.unverifiable} unverifiable there (reference or rounding, not a bug)"]
    return ", ".join(parts) + ("; the time budget ran out" if t.out_of_time else "")


def summary_row(exploration: Exploration) -> Comparison:
    """A case where no failing input was found, as one row."""
    case = exploration.case
    return Comparison(case=case.name, file=case.file, line=case.line, method="explore", input="*",
                      status=Status.PASS, message=f"no failing input found: {_tally(exploration)}")


def render(exploration: Exploration, console) -> None:
    case = exploration.case
    if exploration.finding is None:
        console.print(f"{case.name}: no failing input found ({_tally(exploration)})", markup=False)
        return
    console.print(f"{case.name}: FAILING INPUT FOUND ({_tally(exploration)}); shrunk to:", markup=False)
    for name, value in _point(exploration).items():
        console.print(f"  {name} = {value}", markup=False)
    console.print(render_text(exploration.finding.rows), markup=False)


def to_json(explorations: list[Exploration]) -> str:
    """A section-5 report: the failing rows at each shrunk point (with the point), one row per case
    where none was found."""
    results = []
    for exploration in explorations:
        if exploration.finding is None:
            results.append(comparison_to_json(summary_row(exploration)))
            continue
        for row in exploration.finding.rows:
            if row.status is Status.FAIL:
                results.append({**comparison_to_json(row), "inputs": _point(exploration)})
    rows = [summary_row(e) for e in explorations if e.finding is None] + [
        r for e in explorations if e.finding for r in e.finding.rows if r.status is Status.FAIL]
    return json.dumps({"version": JSON_VERSION, "summary": summarize(rows), "results": results}, indent=2) + "\n"
