"""`gradcheck merge`: the JSON reports of several shards joined into the report of one run.

Each case's rows stay together, as a run writes them; the cases are ordered as
a run over a folder orders them (by file path, then by line), and the summary
is counted again. So merging the shards of `--shard K/N` gives, byte for byte,
the JSON of the same cases run at once.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Iterable

from gradcheck.reports.table import JSON_VERSION

STATUS_COUNTS = {"pass": "passed", "fail": "failed", "skip": "skipped", "error": "errors"}


class MergeError(ValueError):
    """A report that cannot be merged: unreadable, another version, or a case in two shards."""


def _blocks(document: dict, source: str) -> list[tuple[tuple, list[dict]]]:
    blocks: list[tuple[tuple, list[dict]]] = []
    for row in document.get("results", []):
        key = (row.get("file") or "", row.get("line") or 0, row.get("case"))
        if blocks and blocks[-1][0] == key:
            blocks[-1][1].append(row)
        else:
            blocks.append((key, [row]))
    return blocks


def merge(texts: Iterable[tuple[str, str]]) -> str:
    """(source name, JSON text) pairs -> the merged JSON text."""
    blocks, seen = [], {}
    for source, text in texts:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MergeError(f"{source}: not a JSON report ({exc})") from None
        if not isinstance(document, dict) or document.get("version") != JSON_VERSION:
            raise MergeError(f"{source}: not a version {JSON_VERSION} gradcheck report")
        for key, rows in _blocks(document, source):
            if key in seen:
                raise MergeError(f"{source}: case {key[2]!r} ({key[0]}:{key[1]}) is also in {seen[key]}")
            seen[key] = source
            blocks.append((key, rows))
    blocks.sort(key=lambda block: (PurePath(block[0][0]), block[0][1]))
    results = [row for _, rows in blocks for row in rows]
    summary = {name: 0 for name in STATUS_COUNTS.values()}
    for row in results:
        summary[STATUS_COUNTS[row["status"]]] += 1
    return json.dumps({"version": JSON_VERSION, "summary": summary, "results": results}, indent=2,
                      allow_nan=False) + "\n"
