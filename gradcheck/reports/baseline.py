"""Baselines: a regression gate on top of the tolerance, like pytest-regressions.

A baseline file records every comparison of one run (its verdict and its
errors). A later run is held against it: a comparison whose verdict got worse,
or whose error grew past `factor` times the recorded one, is a regression even
while it still passes its tolerance. That catches a gradient that went from
exact to merely close enough, which is almost always a bug.

Errors are compared through the margin (the fraction of the tolerance used at
the worst element): it is dimensionless, it combines the absolute and the
relative error exactly as the verdict does, and it lets one noise floor serve
every dtype. Margins below MARGIN_FLOOR are rounding noise (for the float64
default tolerance, a relative error of about 1e-13): a correct gradient that
moves from 0 to 1e-16 is not a regression.

The file is JSON keyed by "file::case[method]::input", keys sorted, written
atomically:

    {"version": 1,
     "comparisons": {"cases/x.yaml::sigmoid-seed[vjp]::x":
                       {"status": "pass", "max_abs_err": 1.2e-17, "max_rel_err": 3.1e-16,
                        "margin": 1.5e-09, "tolerance": {"rtol": 1e-07, "atol": 1e-10}}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Mapping, Sequence

from gradcheck.compare.comparison import Comparison, Status
from gradcheck.compare.verdict import NOTHING
from gradcheck.reports.table import finite_or_none, format_number

BASELINE_VERSION = 1
DEFAULT_FACTOR = 10.0
MARGIN_FLOOR = 1e-6
# Worse is higher. A skip has no rank: a framework missing on this machine is
# not a regression of the gradient, and a skip that now runs is simply new.
_RANK = {Status.PASS: 0, Status.FAIL: 1, Status.ERROR: 2}


class BaselineError(ValueError):
    """A baseline file that is missing or is not a gradcheck baseline."""


@dataclass(frozen=True)
class Entry:
    """What a baseline remembers of one comparison."""

    status: Status
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    margin: float | None = None
    tolerance: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Change:
    """One comparison that differs from its baseline entry, and in what way."""

    key: str
    comparison: Comparison
    before: Entry | None
    reason: str


@dataclass(frozen=True)
class BaselineDiff:
    """This run against a baseline; only `regressions` fail the gate."""

    path: str
    factor: float
    regressions: tuple[Change, ...] = ()
    improvements: tuple[Change, ...] = ()
    new: tuple[Change, ...] = ()
    now_skipped: tuple[Change, ...] = ()
    not_run: tuple[str, ...] = field(default=())  # keys in the baseline that this run did not produce

    @property
    def failed(self) -> bool:
        return bool(self.regressions)

    def regression_keys(self) -> dict[str, Change]:
        return {change.key: change for change in self.regressions}


# ---------------------------------------------------------------- keys


def portable_file(file: str) -> str:
    """The file as a relative POSIX path where possible, so keys match across machines."""
    path = PurePath(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:  # outside the current folder: keep it whole
            pass
    return path.as_posix()


def key(c: Comparison) -> str:
    return f"{portable_file(c.file)}::{c.case}[{c.label}]::{c.target}"


# ---------------------------------------------------------------- the file


def entry_of(c: Comparison) -> Entry:
    return Entry(
        status=c.status, max_abs_err=finite_or_none(c.max_abs_err), max_rel_err=finite_or_none(c.max_rel_err),
        margin=finite_or_none(c.margin), tolerance=c.tolerance.as_dict() if c.tolerance is not None else None,
    )


def compared(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The rows a baseline holds: comparisons, not the row that says a case compared nothing."""
    return [c for c in comparisons if c.method != NOTHING]


def to_json(comparisons: Sequence[Comparison]) -> str:
    """The baseline of a run, deterministic to the byte for the same comparisons."""
    entries = {}
    for c in compared(comparisons):
        entry = entry_of(c)
        entries[key(c)] = {
            "status": entry.status.value, "max_abs_err": entry.max_abs_err,
            "max_rel_err": entry.max_rel_err, "margin": entry.margin, "tolerance": entry.tolerance,
        }
    document = {"version": BASELINE_VERSION, "comparisons": entries}
    return json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"


def load(path: str | Path) -> dict[str, Entry]:
    """Read a baseline; a missing or foreign file is a BaselineError that says what to do."""
    path = Path(path)
    if not path.is_file():
        raise BaselineError(
            f"baseline {path} does not exist; create it with --update-baseline {path}"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"baseline {path} cannot be read: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION:
        found = document.get("version") if isinstance(document, dict) else None
        raise BaselineError(
            f"baseline {path} is not a gradcheck baseline of version {BASELINE_VERSION} "
            f"(found version {found!r}); recreate it with --update-baseline {path}"
        )
    raw = document.get("comparisons")
    if not isinstance(raw, dict):
        raise BaselineError(f"baseline {path}: 'comparisons' must be a mapping")
    entries = {}
    for name, value in raw.items():
        try:
            entries[name] = Entry(
                status=Status(value["status"]), max_abs_err=_parsed_number(value.get("max_abs_err")),
                max_rel_err=_parsed_number(value.get("max_rel_err")), margin=_parsed_number(value.get("margin")),
                tolerance=value.get("tolerance"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(f"baseline {path}: entry {name!r} is malformed ({exc})") from None
    return entries


def _parsed_number(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- the gate


def diff(comparisons: Sequence[Comparison], baseline: Mapping[str, Entry], *,
         factor: float = DEFAULT_FACTOR, path: str = "") -> BaselineDiff:
    """Hold this run's comparisons against a baseline."""
    regressions, improvements, new, now_skipped = [], [], [], []
    seen = set()
    for c in compared(comparisons):
        k = key(c)
        seen.add(k)
        before = baseline.get(k)
        if before is None or (before.status is Status.SKIP and c.status is not Status.SKIP):
            new.append(Change(k, c, before, "not in the baseline" if before is None else "was skipped"))
            continue
        if c.status is Status.SKIP:
            if before.status is not Status.SKIP:
                now_skipped.append(Change(k, c, before, f"was {before.status.value}, now skipped"))
            continue
        verdict = _verdict_change(before, c)
        if verdict > 0:
            regressions.append(Change(k, c, before, f"{before.status.value} -> {c.status.value}"))
        elif verdict < 0:
            improvements.append(Change(k, c, before, f"{before.status.value} -> {c.status.value}"))
        elif (growth := _growth(before.margin, c.margin)) is not None:
            change = Change(k, c, before, _describe_growth(before, c, growth))
            if growth > factor:
                regressions.append(change)
            elif growth < 1 / factor:
                improvements.append(change)
    not_run = tuple(sorted(k for k in baseline if k not in seen))
    return BaselineDiff(path=path, factor=factor, regressions=tuple(regressions),
                        improvements=tuple(improvements), new=tuple(new),
                        now_skipped=tuple(now_skipped), not_run=not_run)


def _verdict_change(before: Entry, c: Comparison) -> int:
    return _RANK[c.status] - _RANK[before.status]


def _growth(before: float | None, after: float | None) -> float | None:
    """How many times the margin grew, both sides floored at rounding noise."""
    if before is None or after is None:
        return None
    return max(after, MARGIN_FLOOR) / max(before, MARGIN_FLOOR)


def _describe_growth(before: Entry, c: Comparison, growth: float) -> str:
    old, new = before.margin or 0.0, c.margin or 0.0
    if growth > 1:
        how = f"grew {new / old:.3g}x" if old > 0 else "grew from 0"
    else:
        how = f"shrank {old / new:.3g}x" if new > 0 else "shrank to 0"
    text = (f"error {how}: margin {format_number(before.margin)} -> {format_number(c.margin)}, "
            f"max abs err {format_number(before.max_abs_err)} -> {format_number(c.max_abs_err)}")
    now = c.tolerance.as_dict() if c.tolerance is not None else None
    if before.tolerance is not None and now is not None and dict(before.tolerance) != now:
        text += f" (tolerance changed: {_tolerance(before.tolerance)} -> {_tolerance(now)})"
    return text


def _tolerance(tolerance: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in sorted(tolerance.items()))


# ---------------------------------------------------------------- words


def summary(result: BaselineDiff) -> str:
    parts = [f"{len(result.regressions)} regressed", f"{len(result.improvements)} improved",
             f"{len(result.new)} new"]
    if result.now_skipped:
        parts.append(f"{len(result.now_skipped)} now skipped")
    if result.not_run:
        parts.append(f"{len(result.not_run)} in the baseline but not run")
    return ", ".join(parts)


def lines(result: BaselineDiff, *, max_new: int = 20) -> list[str]:
    """The verdicts as text: every regression and improvement, the first `max_new` new ones."""
    out = [f"baseline {result.path} (factor {result.factor:g}): {summary(result)}"]
    out += [f"  REGRESSED {change.key}: {change.reason}" for change in result.regressions]
    out += [f"  IMPROVED  {change.key}: {change.reason}" for change in result.improvements]
    out += [f"  NEW       {change.key}" for change in result.new[:max_new]]
    if len(result.new) > max_new:
        out.append(f"  ... and {len(result.new) - max_new} more new")
    out += [f"  SKIPPED   {change.key}: {change.reason}" for change in result.now_skipped]
    return out
