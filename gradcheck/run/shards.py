"""`--shard K/N`: the cases split into N parts of about equal predicted cost, the same on every machine.

A case's cost is predicted without running anything: its differentiated
elements (a full check costs a few forward calls per element or proved group)
times the methods that will check it, plus a fixed cost per method row. Cases
are dealt, largest first, to the part with the least cost so far (ties to the
lowest part: the longest-processing-time rule, within 4/3 of the best split),
and each part runs its cases in suite order. Every case lands in exactly one part.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from gradcheck.cases.schema import Case, InputSpec

SHARD = re.compile(r"^(\d+)/(\d+)$")
ROW_COST = 50  # a method row's fixed cost, in element-equivalents (framework calls, tracing)


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N; ValueError saying what is expected otherwise."""
    match = SHARD.match(text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ValueError(f"--shard takes K/N with 1 <= K <= N (e.g. 1/4), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _elements(spec: InputSpec) -> int:
    if spec.generator is not None:
        return math.prod(spec.generator.shape)
    return int(np.size(spec.literal))


def predicted_cost(case: Case, methods: int) -> int:
    """Differentiated elements times the methods, plus a fixed cost per row."""
    elements = sum(_elements(spec) for spec in case.inputs if spec.name in case.wrt)
    return (elements + ROW_COST) * max(methods, 1)


def shard(cases: Sequence[Case], part: int, parts: int, methods_of) -> list[Case]:
    """The cases of part `part` (1-based) of `parts`, in suite order. `methods_of(case)` counts its methods."""
    costs = [predicted_cost(case, methods_of(case)) for case in cases]
    loads, owner = [0] * parts, [0] * len(cases)
    for index in largest_first(costs):
        lightest = min(range(parts), key=lambda p: (loads[p], p))
        owner[index] = lightest
        loads[lightest] += costs[index]
    return [case for case, who in zip(cases, owner) if who == part - 1]


def largest_first(costs: Sequence[int]) -> list[int]:
    """The indices of `costs`, largest first, ties in suite order (how shards are dealt and
    how `--jobs` hands out work)."""
    return sorted(range(len(costs)), key=lambda i: (-costs[i], i))
