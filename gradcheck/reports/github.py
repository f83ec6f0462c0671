"""GitHub Actions annotations: `::error file=...,line=...::` for each failure.

GitHub turns these workflow commands, printed on stdout, into annotations on
the case's line in its YAML file (in the pull request's diff too). Values are
escaped by the workflow-command rules: in the message `%`, CR and LF; in a
property also `:` and `,`, which would otherwise end it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.reports.baseline import BaselineDiff, portable_file


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str | int) -> str:
    props = ",".join(f"{name}={escape_property(str(value))}" for name, value in properties.items())
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def _repository_path(file: str, workspace: str | None) -> str:
    """The file relative to the repository root, as GitHub wants it."""
    if workspace:
        try:
            return Path(file).resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return portable_file(file)


def annotations(comparisons: Sequence[Comparison], baseline: BaselineDiff | None = None, *,
                workspace: str | None = None) -> list[str]:
    """One `::error` line per failing comparison and per baseline regression, deduplicated."""
    lines: list[str] = []
    seen: set[str] = set()

    def add(c: Comparison, title: str, message: str) -> None:
        if c.line <= 0 or c.file.startswith("<"):  # a gradcheck.check call has no file to point at
            return
        line = workflow_command("error", message, file=_repository_path(c.file, workspace),
                                line=c.line, title=title)
        if line not in seen:
            seen.add(line)
            lines.append(line)

    for c in comparisons:
        if c.status is Status.FAIL:
            add(c, f"gradcheck: {c.case} › {c.label} › {c.target}", c.message or "gradient mismatch")
        elif c.status is Status.ERROR:
            add(c, f"gradcheck: {c.case} › {c.method}", c.message or "the case raised")
    if baseline is not None:
        for change in baseline.regressions:
            add(change.comparison, "gradcheck: baseline regression", f"{change.key}: {change.reason}")
    return lines
