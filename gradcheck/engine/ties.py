"""Tied kinks: elements with equal values that share an output are also moved together.

Element by element, a kink's reference is the interval between its one-sided
derivatives, and any value in it is a valid subgradient. Elements at a kink
together are not independent, though. For y = max(x) with x_0 = x_1 the
maximum, each alone has the interval [0, dz] (moving it up moves the max,
moving it down does not), but the valid gradients are the convex combinations
t dz e_0 + (1 - t) dz e_1, whose elements sum to dz. A VJP that gives the full
dz to every tied element passes each interval and is still wrong.

So kink elements with exactly equal values whose supports share an output
(moving either one by its step changes that output) form a tie, and each tie
T is moved as one, along d = sum of e_i over T, with the usual Richardson
differences. Where phi is differentiable along d (the one-sided derivatives
along d agree: max, min, sort and other selections among ties), the
gradient's elements over T must sum to that derivative; compare.py checks it
with the same tolerance rule. Where phi has a kink along d too (relu(a) +
relu(b) at a = b = 0) nothing more is required. Separable kinks (relu of
different outputs) never share an output, so they never form a tie.

A kink element that feeds several outputs (one element in overlapping
max-pool windows, a broadcast y in maximum(x, y)) is a kink of each output
on its own: a valid VJP picks a one-sided partial of each output and sums
them with their cotangents, sum_o dz_o t_o (t_o between output o's one-sided
partials). Where the dz_o differ in sign that sum can leave the interval of
phi's one-sided derivatives (the first maximum of every window takes each
window's dz; moving the element alone moves all its windows at once), so the
interval is widened to the sum of the outputs' intervals (per_output_kinks).
"""

from __future__ import annotations

import numpy as np

from gradcheck.engine.differences import directional_sums
from gradcheck.engine.estimates import Tie, estimate, quotients
from gradcheck.engine.evaluator import Evaluator
from gradcheck.engine.stencil import CENTRAL

MAX_TIED = 4096  # kink elements with equal values examined; beyond this ties are not checked


def _equal_value_classes(x: np.ndarray, kinks: np.ndarray) -> list[np.ndarray]:
    values = x.reshape(-1)[kinks]
    order = np.argsort(values, kind="stable")
    bounds = np.flatnonzero(np.diff(values[order]) != 0) + 1
    return [kinks[part] for part in np.split(order, bounds) if len(part) > 1]


def _components(support: np.ndarray) -> list[np.ndarray]:
    """Rows of a (c, m) boolean matrix, joined when they share a column (union-find)."""
    parent = np.arange(len(support))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in np.flatnonzero(support.sum(axis=0) >= 2):
        rows = np.flatnonzero(support[:, column])
        for other in rows[1:]:
            parent[root(int(other))] = root(int(rows[0]))
    roots = np.array([root(i) for i in range(len(support))])
    return [np.flatnonzero(roots == r) for r in np.unique(roots)]


def find_ties(evaluate: Evaluator, x: np.ndarray, kink: np.ndarray, steps: np.ndarray, dz: np.ndarray,
              f0: np.ndarray) -> tuple[tuple[Tie, ...], str]:
    """The ties among kink elements and phi's derivative along each; a note for the report."""
    classes = _equal_value_classes(x, np.flatnonzero(kink))
    tied = np.concatenate(classes) if classes else np.zeros(0, dtype=np.intp)
    if len(tied) == 0:
        return (), ""
    if len(tied) > MAX_TIED:
        return (), f"{len(tied)} kink elements share values with others: ties not checked (over {MAX_TIED})"
    flat = x.reshape(-1)
    # Supports: the outputs each element moves by +step or -step (tied elements share one step).
    common = {int(e): float(np.min(steps[c])) for c in classes for e in c}
    h = np.array([common[int(e)] for e in tied])
    support = np.zeros((len(tied), f0.size), dtype=bool)
    chunk = max(1, evaluate.max_batch // 2)
    for start in range(0, len(tied), chunk):
        part = slice(start, start + chunk)
        rows = np.arange(len(tied[part]))
        points = np.broadcast_to(flat, (2, len(rows), flat.size)).copy()
        points[0, rows, tied[part]] += h[part]
        points[1, rows, tied[part]] -= h[part]
        outputs = evaluate(points.reshape(-1, *x.shape)).reshape(2, len(rows), -1)
        support[part] = np.any(outputs != f0, axis=0)
    where = {int(e): row for row, e in enumerate(tied)}
    sets = []
    for members in classes:
        rows = [where[int(e)] for e in members]
        for part in _components(support[rows]):
            if len(part) > 1:
                sets.append(members[part])
    if not sets:
        return (), ""
    directions = np.zeros((len(sets), flat.size))
    for k, members in enumerate(sets):
        directions[k, members] = common[int(members[0])]
    with np.errstate(all="ignore"):
        sums = directional_sums(evaluate, x, directions, dz, f0)
        # Every member sits at the same value and moves by the same step, so one
        # member's stored perturbation is every member's.
        firsts = np.array([s[0] for s in sets])
        value = flat[firsts][:, None]
        move = directions[np.arange(len(sets)), firsts][:, None] * CENTRAL.shrink[None, :]
        up, down = (value + move) - value, value - (value - move)
        found = estimate(quotients(sums, (value + move) - (value - move), up, down))
    result = tuple(
        Tie(indices=tuple(int(i) for i in members), value=float(found.value[k]), error=float(found.error[k]))
        for k, members in enumerate(sets)
        if not found.kink[k] and np.isfinite(found.value[k]) and np.isfinite(found.error[k])
    )
    note = f"{len(result)} tie(s) of kink elements with equal values checked as one" if result else ""
    return result, note


def per_output_kinks(evaluate: Evaluator, x: np.ndarray, kink: np.ndarray, steps: np.ndarray, dz: np.ndarray,
                     f0: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
    """In place: each kink element's interval widened to sum_o dz_o [its one-sided partials of output o],
    taken at the smallest step of the stencil (one +step and one -step evaluation per kink element)."""
    elements = np.flatnonzero(kink)[:MAX_TIED]
    if len(elements) == 0 or f0.size < 2:  # one output: phi's own interval is already the sum's
        return
    flat, h = x.reshape(-1), steps.reshape(-1)[elements] * CENTRAL.shrink[-1]
    chunk = max(1, evaluate.max_batch // 2)
    for start in range(0, len(elements), chunk):
        part = elements[start:start + chunk]
        rows, step = np.arange(len(part)), h[start:start + chunk]
        points = np.broadcast_to(flat, (2, len(part), flat.size)).copy()
        points[0, rows, part] += step
        points[1, rows, part] -= step
        with np.errstate(all="ignore"):
            outputs = evaluate(points.reshape(-1, *x.shape)).reshape(2, len(part), -1)
            up = (points[0, rows, part] - flat[part])[:, None]  # the steps as represented
            down = (flat[part] - points[1, rows, part])[:, None]
            right = dz * (outputs[0] - f0) / up
            left = dz * (f0 - outputs[1]) / down
            low = np.minimum(right, left).sum(axis=1)
            high = np.maximum(right, left).sum(axis=1)
        ok = np.isfinite(low) & np.isfinite(high)
        lower[part[ok]] = np.minimum(lower[part[ok]], low[ok])
        upper[part[ok]] = np.maximum(upper[part[ok]], high[ok])
