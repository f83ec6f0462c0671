"""The JUnit XML report: one testcase per comparison (case x method x input).

What CI systems (GitHub test reporters, GitLab, Jenkins) read. A failure or an
error carries the comparison as text, the same table the CLI prints; a skip
carries its reason. A comparison that passed its tolerance but regressed
against a baseline is a failure here too, so the report agrees with the exit
code. No timings: two runs of the same cases give the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Sequence

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.reports.baseline import BaselineDiff, key
from gradcheck.reports.table import render_text, summarize

# XML 1.0 forbids most control characters, even escaped; exception messages can carry them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("?", text)


def testcase_name(c: Comparison) -> str:
    return f"{c.case}[{c.label}]::{c.target}"


def to_junit(comparisons: Sequence[Comparison], *, baseline: BaselineDiff | None = None,
             suite: str = "gradcheck") -> str:
    regressions = baseline.regression_keys() if baseline is not None else {}
    counts = summarize(comparisons)
    regressed = sum(1 for c in comparisons if c.status is Status.PASS and key(c) in regressions)
    totals = {
        "name": suite, "tests": str(len(comparisons)), "failures": str(counts["failed"] + regressed),
        "errors": str(counts["errors"]), "skipped": str(counts["skipped"]),
    }
    root = ET.Element("testsuites", totals)
    testsuite = ET.SubElement(root, "testsuite", totals)
    for c in comparisons:
        testcase = ET.SubElement(testsuite, "testcase", {
            "classname": c.file, "name": _clean(testcase_name(c)), "file": c.file, "line": str(c.line),
        })
        if c.status is Status.FAIL:
            _child(testcase, "failure", c.message, render_text([c]))
        elif c.status is Status.ERROR:
            _child(testcase, "error", c.message, render_text([c]))
        elif c.status is Status.SKIP:
            _child(testcase, "skipped", c.message, None)
        elif key(c) in regressions:
            message = f"regressed against baseline {baseline.path}: {regressions[key(c)].reason}"
            _child(testcase, "failure", message, render_text([c]) + message + "\n")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"


def _child(testcase: ET.Element, tag: str, message: str, text: str | None) -> None:
    element = ET.SubElement(testcase, tag, {"message": _clean(message)})
    if text:
        element.text = _clean(text)
